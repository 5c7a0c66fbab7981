/* cadre's plugin ABI: the one header a C or C++ plugin needs to give cadre a brain.
 *
 * A plugin is a shared library that exports one C function, cadre_plugin_entry, returning a
 * description of itself (struct cadre_plugin). Only C types cross the boundary: the task goes in
 * and the answer comes out as UTF-8 JSON text with the same fields as the exec brain's stdin and
 * stdout (docs/exec-brain.md), so a plugin needs no cadre C++ library, and a plugin built against
 * one cadre keeps working with another that speaks the same ABI version.
 *
 * Contract (docs/plugins.md has the whole of it):
 * - cadre calls cadre_plugin_entry once per process after loading the library, and reads
 *   abi_version before anything else; a plugin whose abi_version is not CADRE_PLUGIN_ABI_VERSION
 *   is refused with both numbers named.
 * - create() is called once per agent (and once more, then destroy(), when cadre checks the
 *   scenario before a run). It returns NULL on failure after writing a reason with write_error.
 * - answer() is called once per task. It writes one JSON object with write() (in one or several
 *   pieces) and returns 0; a non-zero return means failure, and what was written is the reason.
 *   At most max_concurrency calls run at once on one instance (0 or 1: one at a time).
 * - Strings passed to a callback are copied before it returns; the plugin keeps ownership of its
 *   memory and cadre of its own. Nothing may throw across the boundary.
 */
#ifndef CADRE_PLUGIN_H
#define CADRE_PLUGIN_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The ABI this header describes. Changed only when struct cadre_plugin or a signature changes. */
#define CADRE_PLUGIN_ABI_VERSION 1u

/* The name of the entry point cadre looks up with dlsym. */
#define CADRE_PLUGIN_ENTRY_NAME "cadre_plugin_entry"

/* Receives text from the plugin: `size` bytes at `data` (not NUL-terminated). */
typedef void (*cadre_write_fn)(void* sink, const char* data, size_t size);

typedef struct cadre_plugin {
  /* Must be CADRE_PLUGIN_ABI_VERSION as the plugin was built; the first field in every version. */
  uint32_t abi_version;
  /* How many answer() calls may run at once on one instance; 0 or 1: one at a time. */
  uint32_t max_concurrency;
  /* A short name for messages and logs, e.g. "rubric_critic". */
  const char* name;
  /* The roles it can take, comma-separated ("critic" or "coder,critic"); NULL or "": any role. */
  const char* roles;

  /* Makes an instance for an agent of `role` whose outcomes are priced as `model`.
   * config_json is the scenario's `config:` as a JSON object ("{}" when absent). */
  void* (*create)(const char* role, const char* model, const char* config_json,
                  size_t config_size, cadre_write_fn write_error, void* error_sink);

  /* Answers one task (task_json: the exec brain's task object). Returns 0 and writes the answer
   * object, or returns non-zero and writes the reason. */
  int (*answer)(void* instance, const char* task_json, size_t task_size, cadre_write_fn write,
                void* sink);

  /* Frees an instance made by create(). */
  void (*destroy)(void* instance);
} cadre_plugin;

/* What a plugin exports (with default visibility): */
typedef const cadre_plugin* (*cadre_plugin_entry_fn)(void);

#ifdef __cplusplus
}
#endif

#endif /* CADRE_PLUGIN_H */
