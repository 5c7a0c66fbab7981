// rubric_critic: an example cadre plugin — a company's own reviewer as a critic brain.
//
// It judges a candidate by a rubric from the scenario's `config:`:
//   forbidden: [strings]    reject a candidate whose content or files contain any (default:
//                           ["TODO", "FIXME"])
//   required: [strings]     reject a candidate that lacks any (default: none)
//   trust_sim_truth: bool   for simulated work (a candidate with "sim_correct"), also reject what
//                           the simulation marks wrong (default: true)
// Unknown keys and values of the wrong type make create() fail with the reason, so a scenario
// with a typo stops before its run starts.
//
// It uses only the C ABI of cadre/plugin.h; JSON is read and written with nlohmann/json. No
// exception leaves a function called by cadre.
#include <cadre/plugin.h>

#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace {

using nlohmann::json;

struct Rubric {
  std::vector<std::string> forbidden{"TODO", "FIXME"};
  std::vector<std::string> required;
  bool trust_sim_truth = true;
};

void write(cadre_write_fn fn, void* sink, const std::string& text) { fn(sink, text.data(), text.size()); }

std::vector<std::string> string_list(const json& value, const char* key) {
  if (!value.is_array()) throw std::runtime_error(std::string(key) + " must be a list of strings");
  std::vector<std::string> out;
  for (const auto& item : value) {
    if (!item.is_string()) throw std::runtime_error(std::string(key) + " must be a list of strings");
    out.push_back(item.get<std::string>());
  }
  return out;
}

Rubric read_rubric(const json& config) {
  Rubric rubric;
  for (const auto& [key, value] : config.items()) {
    if (key == "forbidden") {
      rubric.forbidden = string_list(value, "forbidden");
    } else if (key == "required") {
      rubric.required = string_list(value, "required");
    } else if (key == "trust_sim_truth") {
      if (!value.is_boolean()) throw std::runtime_error("trust_sim_truth must be true or false");
      rubric.trust_sim_truth = value.get<bool>();
    } else {
      throw std::runtime_error("unknown config key '" + key +
                               "' (known: forbidden, required, trust_sim_truth)");
    }
  }
  return rubric;
}

// Everything the candidate wrote: its content and its files' contents.
std::string candidate_text(const json& candidate) {
  std::string text = candidate.value("content", std::string());
  if (auto files = candidate.find("files"); files != candidate.end() && files->is_array())
    for (const auto& file : *files) text += "\n" + file.value("content", std::string());
  return text;
}

json review(const Rubric& rubric, const json& task) {
  const json candidate = task.value("candidate", json::object());
  const std::string text = candidate_text(candidate);
  std::vector<std::string> problems;
  for (const auto& word : rubric.forbidden)
    if (!word.empty() && text.find(word) != std::string::npos) problems.push_back("contains " + word);
  for (const auto& word : rubric.required)
    if (text.find(word) == std::string::npos) problems.push_back("lacks " + word);
  if (rubric.trust_sim_truth && candidate.contains("sim_correct") &&
      !candidate["sim_correct"].get<bool>())
    problems.push_back("does not do what the subtask asks");
  std::string feedback = problems.empty() ? "meets the rubric" : "";
  for (const auto& p : problems) feedback += (feedback.empty() ? "" : "; ") + p;
  const double score = problems.empty() ? 1.0 : 0.0;
  return json{{"tokens_in", 50 + text.size() / 4},
              {"tokens_out", 20},
              {"verdict", {{"accept", problems.empty()}, {"score", score}, {"feedback", feedback}}}};
}

void* create(const char* role, const char* model, const char* config_json, size_t config_size,
             cadre_write_fn write_error, void* error_sink) {
  try {
    const json config = json::parse(config_json, config_json + config_size);
    if (!config.is_object()) throw std::runtime_error("config must be a map");
    return new Rubric(read_rubric(config));
  } catch (const std::exception& e) {
    write(write_error, error_sink, e.what());
    return nullptr;
  }
}

int answer(void* instance, const char* task_json, size_t task_size, cadre_write_fn write_fn,
           void* sink) {
  try {
    const json task = json::parse(task_json, task_json + task_size);
    const std::string kind = task.value("kind", std::string());
    if (kind != "review") {
      write(write_fn, sink, "rubric_critic only reviews candidates; got a " + kind + " task");
      return 1;
    }
    write(write_fn, sink, review(*static_cast<const Rubric*>(instance), task).dump());
    return 0;
  } catch (const std::exception& e) {
    write(write_fn, sink, std::string("cannot read the task: ") + e.what());
    return 2;
  }
}

void destroy(void* instance) { delete static_cast<Rubric*>(instance); }

// A Rubric is read-only after create(), so any number of reviews may run at once.
const cadre_plugin kPlugin = {
    CADRE_PLUGIN_ABI_VERSION, 64, "rubric_critic", "critic", create, answer, destroy,
};

}  // namespace

extern "C" __attribute__((visibility("default"))) const cadre_plugin* cadre_plugin_entry(void) {
  return &kPlugin;
}
