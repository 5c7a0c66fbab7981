// A shared library that forgot extern "C" (its entry point is a mangled C++ name): loading it must
// fail saying the entry point is missing.
#include <cadre/plugin.h>

__attribute__((visibility("default"))) const cadre_plugin* cadre_plugin_entry() { return nullptr; }
