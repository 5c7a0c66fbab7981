// A plugin built for an ABI version this cadre does not speak: loading it must fail naming both.
#include <cadre/plugin.h>

namespace {
void* create(const char*, const char*, const char*, size_t, cadre_write_fn, void*) { return nullptr; }
int answer(void*, const char*, size_t, cadre_write_fn, void*) { return 1; }
void destroy(void*) {}
const cadre_plugin kPlugin = {CADRE_PLUGIN_ABI_VERSION + 998, 1, "from_the_future", nullptr,
                              create, answer, destroy};
}  // namespace

extern "C" __attribute__((visibility("default"))) const cadre_plugin* cadre_plugin_entry(void) {
  return &kPlugin;
}
