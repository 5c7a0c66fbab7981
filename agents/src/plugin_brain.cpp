#include "cadre/agents/plugin_brain.h"

#include <dlfcn.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>

#include "cadre/agents/exec_brain.h"
#include "cadre/plugin.h"

namespace cadre::agents {
namespace {

bool is_regular_file(const std::string& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode);
}

std::string self_folder() {
  std::error_code error;
  auto exe = std::filesystem::read_symlink("/proc/self/exe", error);
  return error ? std::string() : exe.parent_path().string();
}

void append_to_string(void* sink, const char* data, std::size_t size) {
  if (data != nullptr && size > 0) static_cast<std::string*>(sink)->append(data, size);
}

std::vector<std::string> split_roles(const char* roles) {
  std::vector<std::string> out;
  if (roles == nullptr) return out;
  std::stringstream in(roles);
  for (std::string item; std::getline(in, item, ',');) {
    const auto first = item.find_first_not_of(" \t");
    const auto last = item.find_last_not_of(" \t");
    if (first != std::string::npos) out.push_back(item.substr(first, last - first + 1));
  }
  return out;
}

// The library's description, after dlopen and every check that does not need a role.
Result<const cadre_plugin*> open_plugin(const std::string& file) {
  // RTLD_NODELETE: a plugin stays loaded for the life of the process, so threads or thread-locals
  // it made never outlive their code.
  void* handle = ::dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE);
  if (handle == nullptr) {
    const char* why = ::dlerror();
    return make_error(std::string("cannot be loaded: ") + (why ? why : "unknown reason"));
  }
  ::dlerror();
  void* symbol = ::dlsym(handle, CADRE_PLUGIN_ENTRY_NAME);
  if (symbol == nullptr)
    return make_error(std::string("has no entry point ") + CADRE_PLUGIN_ENTRY_NAME +
                      " (export it with extern \"C\" and default visibility; see "
                      "docs/plugins.md)");
  auto entry = reinterpret_cast<cadre_plugin_entry_fn>(symbol);
  const cadre_plugin* plugin = entry();
  if (plugin == nullptr) return make_error(std::string(CADRE_PLUGIN_ENTRY_NAME) + " returned NULL");
  if (plugin->abi_version != CADRE_PLUGIN_ABI_VERSION)
    return make_error("was built for plugin ABI version " + std::to_string(plugin->abi_version) +
                      ", this cadre speaks version " + std::to_string(CADRE_PLUGIN_ABI_VERSION) +
                      " (rebuild it against this cadre's cadre/plugin.h)");
  if (plugin->create == nullptr || plugin->answer == nullptr || plugin->destroy == nullptr)
    return make_error("its cadre_plugin leaves create, answer or destroy NULL");
  return plugin;
}

}  // namespace

Result<PluginBrainParams> parse_plugin_params(const std::map<std::string, std::string>& params) {
  PluginBrainParams parsed;
  for (const auto& [key, value] : params) {
    if (key == "path") {
      parsed.path = value;
    } else if (key == "config") {
      auto json = nlohmann::json::parse(value, nullptr, /*allow_exceptions=*/false);
      if (json.is_discarded() || !json.is_object())
        return make_error("plugin config must be a JSON object (a map in the scenario), got: " +
                          value.substr(0, 80));
      parsed.config_json = value;
    } else {
      return make_error("unknown plugin brain parameter '" + key + "' (known: path, config)");
    }
  }
  if (parsed.path.empty()) return make_error("a plugin brain needs path (a file or plugin name)");
  return parsed;
}

std::vector<std::string> plugin_search_path() {
  std::vector<std::string> folders;
  if (const char* env = std::getenv("CADRE_PLUGIN_PATH")) {
    std::stringstream in(env);
    for (std::string folder; std::getline(in, folder, ':');)
      if (!folder.empty()) folders.push_back(folder);
  }
  const std::string self = self_folder();
  if (!self.empty()) {
    folders.push_back(self + "/plugins");
    folders.push_back(std::filesystem::path(self + "/../lib/cadre/plugins").lexically_normal().string());
  }
  return folders;
}

Result<std::string> find_plugin_file(const std::string& path) {
  if (path.find('/') != std::string::npos) {
    if (!is_regular_file(path)) return make_error("plugin " + path + ": no such file");
    return path;
  }
  const auto folders = plugin_search_path();
  const bool has_suffix = path.size() > 3 && path.compare(path.size() - 3, 3, ".so") == 0;
  for (const auto& folder : folders) {
    for (const std::string& name : {path, has_suffix ? std::string() : path + ".so"}) {
      if (name.empty()) continue;
      const std::string candidate = folder + "/" + name;
      if (is_regular_file(candidate)) return candidate;
    }
  }
  std::string looked;
  for (const auto& folder : folders) looked += (looked.empty() ? "" : ", ") + folder;
  return make_error("plugin " + path + ": not found (looked in " +
                    (looked.empty() ? "no folder" : looked) +
                    "; set CADRE_PLUGIN_PATH or give a path with '/')");
}

struct PluginBrain::Impl {
  std::string file;
  std::string name;
  const cadre_plugin* plugin = nullptr;
  void* instance = nullptr;
  std::uint32_t max_concurrency = 1;
  // Admission: at most max_concurrency calls inside the plugin at once.
  std::mutex mutex;
  std::condition_variable turn;
  std::uint32_t running = 0;
};

PluginBrain::PluginBrain(std::unique_ptr<Impl> impl, std::string model)
    : impl_(std::move(impl)), model_(std::move(model)) {}

PluginBrain::~PluginBrain() {
  if (impl_ && impl_->instance != nullptr) impl_->plugin->destroy(impl_->instance);
}

Result<std::unique_ptr<PluginBrain>> PluginBrain::create(
    const std::string& role, const std::string& model,
    const std::map<std::string, std::string>& params) {
  auto parsed = parse_plugin_params(params);
  if (!parsed.ok()) return parsed.error();
  auto file = find_plugin_file(parsed->path);
  if (!file.ok()) return file.error();
  const auto fail = [&](const std::string& why) {
    return make_error("plugin " + *file + ": " + why);
  };
  auto plugin = open_plugin(*file);
  if (!plugin.ok()) return fail(plugin.error().message);

  auto impl = std::make_unique<Impl>();
  impl->file = *file;
  impl->plugin = *plugin;
  impl->name = (*plugin)->name != nullptr && (*plugin)->name[0] != '\0'
                   ? std::string((*plugin)->name)
                   : std::filesystem::path(*file).stem().string();
  impl->max_concurrency = std::max<std::uint32_t>(1, (*plugin)->max_concurrency);
  const auto roles = split_roles((*plugin)->roles);
  if (!roles.empty() && std::find(roles.begin(), roles.end(), role) == roles.end()) {
    std::string list;
    for (const auto& r : roles) list += (list.empty() ? "" : ", ") + r;
    return fail("'" + impl->name + "' cannot take the role " + role + " (it takes: " + list + ")");
  }
  std::string why;
  impl->instance = (*plugin)->create(role.c_str(), model.c_str(), parsed->config_json.c_str(),
                                     parsed->config_json.size(), append_to_string, &why);
  if (impl->instance == nullptr)
    return fail("'" + impl->name + "' failed to initialise: " +
                (why.empty() ? std::string("no reason given") : why));
  return std::unique_ptr<PluginBrain>(new PluginBrain(std::move(impl), model));
}

std::uint32_t PluginBrain::concurrency() const { return impl_->max_concurrency; }
const std::string& PluginBrain::file() const { return impl_->file; }
const std::string& PluginBrain::plugin_name() const { return impl_->name; }

BrainAnswer PluginBrain::answer(const roles::TaskAssignment& task) {
  const std::atomic<bool> never{false};
  return answer(task, never);
}

BrainAnswer PluginBrain::answer(const roles::TaskAssignment& task,
                                const std::atomic<bool>& cancelled) {
  const auto started = std::chrono::steady_clock::now();
  const auto elapsed = [&] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  };
  BrainAnswer answer{roles::outcome_for(task, model_)};
  roles::TaskOutcome& outcome = answer.outcome;
  const auto fail = [&](const std::string& why) {
    outcome.ok = false;
    outcome.error = "plugin '" + impl_->name + "': " + why;
    outcome.plan.clear();
    outcome.candidate.reset();
    outcome.verdict.reset();
  };
  try {
    const std::string task_json = exec_task_json(task);
    std::string written;
    int code = 0;
    {
      // Waiting for a turn can be cancelled; a call inside the plugin cannot (the ABI has no way
      // to interrupt it): it runs to its end and the agent drops its answer.
      std::unique_lock lock(impl_->mutex);
      while (impl_->running >= impl_->max_concurrency) {
        if (cancelled.load(std::memory_order_relaxed)) break;
        impl_->turn.wait_for(lock, std::chrono::milliseconds(50));
      }
      if (cancelled.load(std::memory_order_relaxed))
        return cancelled_answer(task, model_, elapsed());
      ++impl_->running;
    }
    code = impl_->plugin->answer(impl_->instance, task_json.data(), task_json.size(),
                                 append_to_string, &written);
    {
      std::lock_guard lock(impl_->mutex);
      --impl_->running;
    }
    impl_->turn.notify_one();
    if (code != 0) {
      fail("answer failed (" + std::to_string(code) + "): " +
           (written.empty() ? std::string("no reason given") : written.substr(0, 500)));
    } else if (auto read = read_exec_answer(task, written, outcome); !read.ok()) {
      fail(read.error().to_string());
    } else if (!outcome.ok) {
      fail(outcome.error);
    }
  } catch (const std::exception& e) {
    fail(std::string("internal error: ") + e.what());
  }
  outcome.brain_s = elapsed();
  answer.delay_s = 0;
  return answer;
}

}  // namespace cadre::agents
