// Scenario files: read, apply `--set` overrides to the YAML tree, validate against the schema
// (docs/scenarios.md), expand generated goals.
//
// Errors: every check names the field path ("team[1].capacity") and points at the offending node
// ("file:LINE:COL", 1-based) or, for values that came from an override, at "--set PATH".
// Internally a failed check throws LoadError, which never leaves this file: the two public entry
// points catch it (and everything yaml-cpp or the standard library may throw) and return an Error.
#include "cadre/runtime/scenario_loader.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/yaml.h>

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <exception>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <utility>
#include <vector>

namespace cadre::runtime {
namespace {

// ---- errors ----------------------------------------------------------------------------------

struct LoadError {
  Error error;
};

[[noreturn]] void fail(std::string where, std::string message) {
  throw LoadError{make_error(std::move(message), std::move(where))};
}

// ---- schema constants ------------------------------------------------------------------------

const std::vector<std::string> kTopKeys = {"name", "description", "seed", "team", "workflow",
                                           "work", "pricing", "limits", "faults", "verify",
                                           "durability", "supervision", "models"};
const std::vector<std::string> kModelKeys = {"base_url", "model", "rpm", "tpm",
                                             "max_concurrency"};
const std::vector<std::string> kTeamKeys = {"role", "count", "capacity", "brain"};
const std::vector<std::string> kRoles = {"planner", "coder", "critic", "human"};
const std::vector<std::string> kBrainKinds = {"sim", "llm", "exec", "process", "plugin", "inbox"};
// The sim brain's parameters: the fields of agents::SimBrainParams except time_scale, which the
// workflow sets for the whole team. Keep in step with agents/include/cadre/agents/sim_brain.h.
enum class ParamRange {
  any, probability, positive, non_negative,  // numbers
  whole,        // a non-negative integer
  text,         // a string
  file,         // a string naming a file, resolved against the scenario file's folder
  string_list,  // a list of strings (or one string, split on spaces), stored as a JSON array
  plugin_path,  // a plugin: a path with '/' (resolved like `file`) or a bare name, kept as it is
  json_map,     // a map of anything, stored as a JSON object
};
struct ParamSpec {
  const char* name;
  ParamRange range;
};
const std::vector<ParamSpec> kSimParams = {
    {"skill", ParamRange::any},
    {"think_tokens", ParamRange::positive},
    {"think_gain", ParamRange::any},
    {"revision_gain", ParamRange::any},
    {"difficulty_weight", ParamRange::any},
    {"tpr", ParamRange::probability},
    {"fpr", ParamRange::probability},
    {"miss_rate", ParamRange::probability},
    {"tokens_per_s", ParamRange::positive},
    {"overhead_s", ParamRange::non_negative},
    {"human_latency_s", ParamRange::non_negative},
};
// The llm brain's parameters (agents/src/llm_brain.cpp; docs/llm.md).
const std::vector<ParamSpec> kLlmParams = {
    {"base_url", ParamRange::text},      {"api_key_env", ParamRange::text},
    {"temperature", ParamRange::non_negative}, {"max_tokens", ParamRange::whole},
    {"timeout_s", ParamRange::positive}, {"max_retries", ParamRange::whole},
    {"concurrency", ParamRange::whole},  {"prompt", ParamRange::file},
};
// The exec brain's parameters (agents/src/exec_brain.cpp; docs/exec-brain.md).
const std::vector<ParamSpec> kExecParams = {
    {"command", ParamRange::string_list}, {"timeout_s", ParamRange::positive},
    {"cpu_s", ParamRange::non_negative},  {"memory_mb", ParamRange::whole},
};
// A process agent: a whole agent in any language, speaking docs/protocol.md (sdk/python).
const std::vector<ParamSpec> kProcessParams = {{"command", ParamRange::string_list}};
// A C++ plugin (agents/src/plugin_brain.cpp; docs/plugins.md).
const std::vector<ParamSpec> kPluginParams = {{"path", ParamRange::plugin_path},
                                              {"config", ParamRange::json_map}};
// A person answering in `cadre inbox` (human role only). `cadre sim` stands in a simulated person
// who takes human_latency_s per answer (the sim brain's parameter of the same name).
const std::vector<ParamSpec> kInboxParams = {{"human_latency_s", ParamRange::non_negative}};
const std::vector<ParamSpec>& params_of(const std::string& kind) {
  if (kind == "inbox") return kInboxParams;
  if (kind == "llm") return kLlmParams;
  if (kind == "process") return kProcessParams;
  if (kind == "exec") return kExecParams;
  if (kind == "plugin") return kPluginParams;
  return kSimParams;
}
const std::vector<std::string> kWorkflowKeys = {"kind",        "samples",   "max_revisions",
                                                "on_exhausted", "lease_s",  "heartbeat_s",
                                                "liveness",    "time_scale", "approval",
                                                "max_replans", "after_replans", "stall_s"};
const std::vector<std::string> kWorkKeys = {"goals", "generate"};
const std::vector<std::string> kGoalKeys = {"id", "title", "description", "subtasks", "verify"};
const std::vector<std::string> kVerifyKeys = {"command", "timeout_s"};
const std::vector<std::string> kSubtaskKeys = {"title", "difficulty"};
const std::vector<std::string> kGenerateKeys = {"count", "subtasks", "difficulty"};
const std::vector<std::string> kPricingKeys = {"models", "human_per_escalation",
                                               "human_per_approval"};
const std::vector<std::string> kPriceKeys = {"in", "out"};
const std::vector<std::string> kLimitsKeys = {"wall_s", "budget_usd", "max_tokens",
                                              "goal_budget_usd", "goal_max_attempts"};
const std::vector<std::string> kDurabilityModes = {"fsync", "batch", "none"};
const std::vector<std::string> kSupervisionKeys = {"max_restarts", "period_s", "backoff_s",
                                                   "backoff_max_s"};
const std::vector<std::string> kFaultKeys = {"message_loss", "message_delay", "delay_s",
                                             "message_duplication", "agent_crash", "restart_s"};

std::string join(const std::vector<std::string>& items, const char* sep = ", ") {
  std::string out;
  for (const auto& item : items) {
    if (!out.empty()) out += sep;
    out += item;
  }
  return out;
}

bool contains(const std::vector<std::string>& items, const std::string& s) {
  for (const auto& item : items) {
    if (item == s) return true;
  }
  return false;
}

bool valid_identifier(const std::string& s) {
  if (s.empty()) return false;
  for (char c : s) {
    bool ok = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '.' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::string in_quotes(const std::string& s) { return "\"" + s + "\""; }

std::string position(const std::string& file, const YAML::Mark& mark) {
  if (mark.is_null() || mark.line < 0 || mark.column < 0) return file;
  return file + ":" + std::to_string(mark.line + 1) + ":" + std::to_string(mark.column + 1);
}

// ---- the document, with field paths and origins ----------------------------------------------

// Nodes that an override put into the tree, with the "--set PATH" that put them there.
using Origins = std::vector<std::pair<YAML::Node, std::string>>;

// A node under validation: its field path and where errors about it are reported.
struct At {
  YAML::Node node;
  std::string path;    // "team[1].capacity"; empty for the document root
  std::string origin;  // "--set PATH" when the node (or an ancestor) came from an override
};

class Document {
 public:
  Document(std::string file, Origins origins)
      : file_(std::move(file)), origins_(std::move(origins)) {}

  std::string where(const At& at) const {
    if (!at.origin.empty()) return at.origin;
    return position(file_, at.node.Mark());
  }

  [[noreturn]] void fail_at(const At& at, const std::string& what) const {
    fail(where(at), (at.path.empty() ? std::string("scenario") : at.path) + ": " + what);
  }

  // The folder of the scenario file ("" when parsed from text without a path): relative file
  // names in the scenario are resolved against it.
  std::string base_dir() const {
    const auto slash = file_.rfind('/');
    return slash == std::string::npos ? std::string(".") : file_.substr(0, slash);
  }

  At child(const At& parent, const YAML::Node& node, std::string path) const {
    At out{node, std::move(path), {}};
    for (const auto& [origin_node, origin] : origins_) {
      if (origin_node.is(node)) {
        out.origin = origin;
        return out;
      }
    }
    out.origin = parent.origin;
    return out;
  }

 private:
  std::string file_;
  Origins origins_;
};

std::string describe(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: return "a map";
    case YAML::NodeType::Sequence: return "a list";
    case YAML::NodeType::Null: return "nothing";
    case YAML::NodeType::Scalar: return in_quotes(node.Scalar());
    case YAML::NodeType::Undefined: break;
  }
  return "nothing";
}

std::string join_path(const std::string& parent, const std::string& key) {
  return parent.empty() ? key : parent + "." + key;
}

// A map node, its keys checked against the allowed ones (none given: any key).
class MapView {
 public:
  MapView(const Document& doc, const At& at, const std::vector<std::string>* allowed,
          const char* hint = nullptr)
      : doc_(doc), at_(at) {
    if (!at.node.IsMap()) doc.fail_at(at, "expected a map, got " + describe(at.node));
    for (auto it = at.node.begin(); it != at.node.end(); ++it) {
      At key = doc.child(at, it->first, at.path);
      if (!it->first.IsScalar()) doc.fail_at(key, "expected a string key, got " + describe(it->first));
      const std::string name = it->first.Scalar();
      key.path = join_path(at.path, name);
      if (allowed != nullptr && !contains(*allowed, name)) {
        std::string message = "unknown key " + in_quotes(name) + "; allowed keys: " + join(*allowed);
        if (hint != nullptr) message += hint;
        doc.fail_at(key, message);
      }
      for (const auto& [existing, _] : entries_) {
        if (existing == name) doc.fail_at(key, "duplicate key " + in_quotes(name));
      }
      keys_.push_back(key);
      entries_.emplace_back(name, doc.child(at, it->second, key.path));
    }
  }

  const At& at() const { return at_; }
  const std::vector<std::pair<std::string, At>>& entries() const { return entries_; }
  const At& key_at(std::size_t i) const { return keys_[i]; }

  // The value of `key`, or nothing when the key is absent or has no value (YAML null).
  std::optional<At> get(const std::string& key) const {
    for (const auto& [name, value] : entries_) {
      if (name == key) {
        if (value.node.IsNull()) return std::nullopt;
        return value;
      }
    }
    return std::nullopt;
  }

  // The value of `key`; missing is an error at this map's position.
  At require(const std::string& key) const {
    for (std::size_t i = 0; i < entries_.size(); ++i) {
      if (entries_[i].first == key) {
        // A YAML null has no useful position of its own: point at its key.
        if (entries_[i].second.node.IsNull()) doc_.fail_at(keys_[i], "required field has no value");
        return entries_[i].second;
      }
    }
    At missing = at_;
    missing.path = join_path(at_.path, key);
    doc_.fail_at(missing, "required field missing");
  }

 private:
  const Document& doc_;
  At at_;
  std::vector<std::pair<std::string, At>> entries_;
  std::vector<At> keys_;  // parallel to entries_
};

// ---- scalars -------------------------------------------------------------------------------

std::string as_string(const Document& doc, const At& at) {
  if (!at.node.IsScalar()) doc.fail_at(at, "expected a string, got " + describe(at.node));
  return at.node.Scalar();
}

// A plain (unquoted) scalar's text, for numbers; quoted scalars are strings in YAML.
std::optional<std::string> plain_scalar(const At& at) {
  if (!at.node.IsScalar() || at.node.Tag() == "!") return std::nullopt;
  return at.node.Scalar();
}

// A finite decimal number spanning the whole text; a leading '+' is allowed. The same grammar as
// agents::parse_sim_params, so a brain parameter the loader accepts the brain accepts too.
std::optional<double> parse_double(const std::string& text) {
  const char* first = text.data();
  const char* last = first + text.size();
  if (first != last && *first == '+') ++first;
  if (first == last) return std::nullopt;
  double value = 0;
  auto [ptr, ec] = std::from_chars(first, last, value, std::chars_format::general);
  if (ec != std::errc() || ptr != last || !std::isfinite(value)) return std::nullopt;
  return value;
}

double as_number(const Document& doc, const At& at) {
  auto text = plain_scalar(at);
  if (!text) doc.fail_at(at, "expected a number, got " + describe(at.node));
  auto value = parse_double(*text);
  if (!value) doc.fail_at(at, "expected a number, got " + in_quotes(*text));
  return *value;
}

std::uint64_t as_uint(const Document& doc, const At& at) {
  auto text = plain_scalar(at);
  if (!text) doc.fail_at(at, "expected an integer, got " + describe(at.node));
  std::string_view digits = *text;
  bool negative = false;
  if (!digits.empty() && (digits.front() == '+' || digits.front() == '-')) {
    negative = digits.front() == '-';
    digits.remove_prefix(1);
  }
  bool all_digits = !digits.empty();
  for (char c : digits) all_digits = all_digits && c >= '0' && c <= '9';
  if (!all_digits) doc.fail_at(at, "expected an integer, got " + in_quotes(*text));
  if (negative) doc.fail_at(at, "expected a non-negative integer, got " + in_quotes(*text));
  std::uint64_t value = 0;
  auto [ptr, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), value);
  if (ec != std::errc() || ptr != digits.data() + digits.size()) {
    doc.fail_at(at, "integer too large: " + in_quotes(*text));
  }
  return value;
}

std::uint64_t uint_in(const Document& doc, const At& at, std::uint64_t lo, std::uint64_t hi) {
  std::uint64_t v = as_uint(doc, at);
  if (v < lo || v > hi) {
    doc.fail_at(at, "must be between " + std::to_string(lo) + " and " + std::to_string(hi) +
                        ", got " + at.node.Scalar());
  }
  return v;
}

double number_positive(const Document& doc, const At& at) {
  double v = as_number(doc, at);
  if (!(v > 0)) doc.fail_at(at, "must be > 0, got " + at.node.Scalar());
  return v;
}

double number_non_negative(const Document& doc, const At& at) {
  double v = as_number(doc, at);
  if (!(v >= 0)) doc.fail_at(at, "must be >= 0, got " + at.node.Scalar());
  return v;
}

double number_unit(const Document& doc, const At& at) {
  double v = as_number(doc, at);
  if (!(v >= 0 && v <= 1)) doc.fail_at(at, "must be in [0, 1], got " + at.node.Scalar());
  return v;
}

std::string one_of(const Document& doc, const At& at, const std::vector<std::string>& allowed,
                   const char* what) {
  std::string v = as_string(doc, at);
  if (!contains(allowed, v)) {
    doc.fail_at(at, std::string("unknown ") + what + " " + in_quotes(v) + "; known: " + join(allowed));
  }
  return v;
}

std::string identifier(const Document& doc, const At& at) {
  std::string v = as_string(doc, at);
  if (!valid_identifier(v)) {
    doc.fail_at(at, "must be non-empty and use only letters, digits, '_', '.' and '-', got " +
                        in_quotes(v));
  }
  return v;
}

// A two-element list [a, b].
std::pair<At, At> pair_of(const Document& doc, const At& at) {
  if (!at.node.IsSequence() || at.node.size() != 2) {
    doc.fail_at(at, "expected a list of two values [min, max], got " +
                        (at.node.IsSequence() ? "a list of " + std::to_string(at.node.size())
                                              : describe(at.node)));
  }
  return {doc.child(at, at.node[0], at.path + "[0]"), doc.child(at, at.node[1], at.path + "[1]")};
}

// ---- sections ------------------------------------------------------------------------------

WorkflowConfig parse_workflow(const Document& doc, const MapView& map) {
  WorkflowConfig w;
  if (auto v = map.get("kind")) w.kind = one_of(doc, *v, {"plan-solve-verify"}, "workflow kind");
  if (auto v = map.get("samples")) w.samples = static_cast<std::uint32_t>(uint_in(doc, *v, 1, 1024));
  if (auto v = map.get("max_revisions")) {
    w.max_revisions = static_cast<std::uint32_t>(uint_in(doc, *v, 0, 100));
  }
  if (auto v = map.get("on_exhausted")) {
    const std::string how = one_of(doc, *v, {"escalate", "fail", "replan"}, "on_exhausted value");
    w.on_exhausted = how == "escalate" ? OnExhausted::escalate
                     : how == "fail"   ? OnExhausted::fail
                                       : OnExhausted::replan;
  }
  if (auto v = map.get("stall_s")) w.stall_s = number_non_negative(doc, *v);
  if (auto v = map.get("max_replans"))
    w.max_replans = static_cast<std::uint32_t>(uint_in(doc, *v, 0, 100));
  if (auto v = map.get("after_replans")) {
    w.after_replans = one_of(doc, *v, {"escalate", "fail"}, "after_replans value") == "escalate"
                          ? OnExhausted::escalate
                          : OnExhausted::fail;
  }
  if (auto v = map.get("approval")) {
    w.approval = one_of(doc, *v, {"auto", "human"}, "approval value") == "human"
                     ? Approval::human
                     : Approval::automatic;
  }
  if (auto v = map.get("lease_s")) w.lease_s = number_positive(doc, *v);
  if (auto v = map.get("heartbeat_s")) {
    w.heartbeat_s = number_positive(doc, *v);
    if (w.heartbeat_s > w.lease_s) {
      doc.fail_at(*v, "must be <= lease_s (" + std::to_string(w.lease_s) + "), got " +
                          v->node.Scalar());
    }
  } else if (w.heartbeat_s > w.lease_s) {
    auto lease = map.get("lease_s");
    doc.fail_at(*lease, "must be >= heartbeat_s (" + std::to_string(w.heartbeat_s) + ")");
  }
  if (auto v = map.get("liveness")) w.liveness = static_cast<std::uint32_t>(uint_in(doc, *v, 1, 100));
  if (auto v = map.get("time_scale")) w.time_scale = number_positive(doc, *v);
  return w;
}

Pricing parse_pricing(const Document& doc, const MapView& map) {
  Pricing p;
  MapView models(doc, map.require("models"), nullptr);
  for (const auto& [name, value] : models.entries()) {
    if (name.empty()) doc.fail_at(value, "model name must not be empty");
    MapView price(doc, value, &kPriceKeys);
    ModelPrice mp;
    mp.usd_per_mtok_in = number_non_negative(doc, price.require("in"));
    mp.usd_per_mtok_out = number_non_negative(doc, price.require("out"));
    p.models[name] = mp;
  }
  if (auto v = map.get("human_per_escalation")) p.human_usd_per_escalation = number_non_negative(doc, *v);
  if (auto v = map.get("human_per_approval")) p.human_usd_per_approval = number_non_negative(doc, *v);
  return p;
}

// A list of strings (or one string, split on spaces) as a JSON array, for the exec brain.
std::string string_list_json(const Document& doc, const At& at) {
  std::vector<std::string> items;
  if (at.node.IsSequence()) {
    for (std::size_t i = 0; i < at.node.size(); ++i)
      items.push_back(as_string(doc, doc.child(at, at.node[i], at.path + "[" + std::to_string(i) + "]")));
  } else {
    std::istringstream words(as_string(doc, at));
    for (std::string word; words >> word;) items.push_back(word);
  }
  if (items.empty()) doc.fail_at(at, "must name a program to run");
  std::string json = "[";
  for (const auto& item : items) {
    if (json.size() > 1) json += ",";
    json += "\"";
    for (char c : item) {
      if (c == '"' || c == '\\') json += '\\';
      if (static_cast<unsigned char>(c) < 0x20) continue;
      json += c;
    }
    json += "\"";
  }
  return json + "]";
}

// A YAML value as JSON for a plugin's config: maps, lists, and scalars typed as YAML reads them
// (unquoted true/false, null/~, and numbers keep their type; anything quoted is a string).
nlohmann::json yaml_to_json(const Document& doc, const At& at) {
  const YAML::Node& node = at.node;
  if (node.IsMap()) {
    nlohmann::json object = nlohmann::json::object();
    for (const auto& item : node) {
      const std::string key = item.first.IsScalar() ? item.first.Scalar() : std::string();
      if (key.empty()) doc.fail_at(at, "config keys must be non-empty strings");
      object[key] = yaml_to_json(doc, doc.child(at, item.second, join_path(at.path, key)));
    }
    return object;
  }
  if (node.IsSequence()) {
    nlohmann::json array = nlohmann::json::array();
    for (std::size_t i = 0; i < node.size(); ++i)
      array.push_back(yaml_to_json(doc, doc.child(at, node[i], at.path + "[" + std::to_string(i) + "]")));
    return array;
  }
  if (node.IsNull()) return nullptr;
  const std::string text = node.Scalar();
  if (node.Tag() == "!") return text;  // quoted
  if (text == "true" || text == "True") return true;
  if (text == "false" || text == "False") return false;
  if (text == "null" || text == "~") return nullptr;
  std::int64_t whole = 0;
  const char* last = text.data() + text.size();
  if (auto [ptr, ec] = std::from_chars(text.data(), last, whole); ec == std::errc() && ptr == last)
    return whole;
  if (auto number = parse_double(text)) return *number;
  return text;
}

std::map<std::string, ModelEndpoint> parse_models(const Document& doc, const At& at,
                                                  const Pricing& pricing) {
  if (!at.node.IsMap()) doc.fail_at(at, "expected a map of model names, got " + describe(at.node));
  MapView names(doc, at, nullptr);
  std::map<std::string, ModelEndpoint> models;
  for (std::size_t i = 0; i < names.entries().size(); ++i) {
    const auto& [name, value] = names.entries()[i];
    ModelEndpoint m;
    m.name = name;
    if (name.empty()) doc.fail_at(names.key_at(i), "a model name must not be empty");
    if (pricing.models.count(name) == 0)
      doc.fail_at(names.key_at(i), "no price for model " + in_quotes(name) +
                                       " in pricing.models (a declared model is priced by its name)");
    MapView map(doc, value, &kModelKeys);
    m.base_url = as_string(doc, map.require("base_url"));
    if (m.base_url.empty()) doc.fail_at(map.require("base_url"), "must not be empty");
    m.model = as_string(doc, map.require("model"));
    if (m.model.empty()) doc.fail_at(map.require("model"), "must not be empty");
    if (auto v = map.get("rpm")) m.rpm = number_non_negative(doc, *v);
    if (auto v = map.get("tpm")) m.tpm = number_non_negative(doc, *v);
    if (auto v = map.get("max_concurrency"))
      m.max_concurrency = static_cast<std::uint32_t>(uint_in(doc, *v, 0, 100000));
    models.emplace(name, std::move(m));
  }
  return models;
}

BrainConfig parse_brain(const Document& doc, const At& at, const std::string& role,
                        const Pricing& pricing, const std::map<std::string, ModelEndpoint>& models) {
  // Check the kind before the other keys, so an unknown kind is reported as such rather than as
  // an unknown parameter of another brain.
  MapView any_keys(doc, at, nullptr);
  BrainConfig b;
  b.kind = one_of(doc, any_keys.require("kind"), kBrainKinds, "brain kind");
  if (b.kind == "inbox" && role != "human")
    doc.fail_at(any_keys.require("kind"), "an inbox brain is a person answering in `cadre inbox`; "
                                          "only the human role can have it (this is " +
                                              in_quotes(role) + ")");
  const std::vector<ParamSpec>& specs = params_of(b.kind);
  std::vector<std::string> allowed = {"kind", "model"};
  for (const auto& spec : specs) allowed.emplace_back(spec.name);
  MapView map(doc, at, &allowed,
              b.kind == "sim" ? " (time_scale is set for the whole team in workflow.time_scale)"
                              : "");

  if (auto v = map.get("model")) {
    b.model = as_string(doc, *v);
    if (b.model.empty()) doc.fail_at(*v, "must not be empty");
    if (role != "human" && pricing.models.count(b.model) == 0) {
      std::vector<std::string> known;
      for (const auto& [name, _] : pricing.models) known.push_back(name);
      doc.fail_at(*v, "no price for model " + in_quotes(b.model) + " in pricing.models (priced: " +
                          (known.empty() ? std::string("none") : join(known)) + ")");
    }
  } else if (role == "human") {
    b.model = "human";
  } else {
    map.require("model");
  }

  for (std::size_t i = 0; i < map.entries().size(); ++i) {
    const auto& [name, value] = map.entries()[i];
    if (name == "kind" || name == "model") continue;
    if (value.node.IsNull()) doc.fail_at(map.key_at(i), "expected a value, got nothing");
    for (const auto& spec : specs) {
      if (name != spec.name) continue;
      std::string stored = value.node.IsScalar() ? value.node.Scalar() : std::string();
      switch (spec.range) {
        case ParamRange::any: as_number(doc, value); break;
        case ParamRange::probability: number_unit(doc, value); break;
        case ParamRange::positive: number_positive(doc, value); break;
        case ParamRange::non_negative: number_non_negative(doc, value); break;
        case ParamRange::whole: as_uint(doc, value); break;
        case ParamRange::text: stored = as_string(doc, value); break;
        case ParamRange::file: {
          stored = as_string(doc, value);
          if (stored.empty()) doc.fail_at(value, "must name a file");
          if (stored.front() != '/' && !doc.base_dir().empty())
            stored = doc.base_dir() + "/" + stored;
          break;
        }
        case ParamRange::string_list: stored = string_list_json(doc, value); break;
        case ParamRange::plugin_path:
          stored = as_string(doc, value);
          if (stored.empty()) doc.fail_at(value, "must name a plugin file or plugin");
          if (stored.find('/') != std::string::npos && stored.front() != '/' &&
              !doc.base_dir().empty())
            stored = doc.base_dir() + "/" + stored;
          break;
        case ParamRange::json_map:
          if (!value.node.IsMap()) doc.fail_at(value, "expected a map, got " + describe(value.node));
          stored = yaml_to_json(doc, value).dump();
          break;
      }
      b.params[name] = stored;
    }
  }
  if (auto endpoint = models.find(b.model); b.kind == "llm" && endpoint != models.end()) {
    // A declared model: where it is and what it is called come from `models:`, once.
    if (b.params.count("base_url"))
      doc.fail_at(*map.get("base_url"), "model " + in_quotes(b.model) +
                                            " is declared in models:, which gives its base_url; "
                                            "remove this one");
    b.params["base_url"] = endpoint->second.base_url;
    b.params["api_model"] = endpoint->second.model;
    // The hub paces requests to the team's quota; the brain reports a refusal (429) to it
    // instead of retrying on its own.
    if (endpoint->second.limited()) b.params["hub_rate_limited"] = "1";
  }
  if (b.kind == "llm" && !b.params.count("base_url"))
    doc.fail_at(at, "an llm brain needs base_url (e.g. http://127.0.0.1:11434/v1), or a model "
                    "declared in models:");
  if (b.kind == "plugin" && !b.params.count("path"))
    doc.fail_at(at, "a plugin brain needs path (a file such as plugins/my_brain.so, or the name "
                    "of an installed plugin)");
  if ((b.kind == "exec" || b.kind == "process") && !b.params.count("command"))
    doc.fail_at(at, std::string(b.kind == "exec" ? "an exec" : "a process") +
                        " brain needs command (a list: [program, arg, ...])");
  return b;
}

std::vector<TeamEntry> parse_team(const Document& doc, const At& at, const Pricing& pricing,
                                  const std::map<std::string, ModelEndpoint>& models) {
  if (!at.node.IsSequence()) doc.fail_at(at, "expected a list of team entries, got " + describe(at.node));
  if (at.node.size() == 0) doc.fail_at(at, "must list at least one team entry");
  std::vector<TeamEntry> team;
  for (std::size_t i = 0; i < at.node.size(); ++i) {
    At entry_at = doc.child(at, at.node[i], at.path + "[" + std::to_string(i) + "]");
    MapView entry(doc, entry_at, &kTeamKeys);
    TeamEntry t;
    t.role = one_of(doc, entry.require("role"), kRoles, "role");
    if (auto v = entry.get("count")) t.count = static_cast<std::uint32_t>(uint_in(doc, *v, 1, 100000));
    if (auto v = entry.get("capacity")) t.capacity = static_cast<std::uint32_t>(uint_in(doc, *v, 1, 1024));
    t.brain = parse_brain(doc, entry.require("brain"), t.role, pricing, models);
    team.push_back(std::move(t));
  }
  return team;
}

void check_team(const Document& doc, const At& team_at, const std::vector<TeamEntry>& team,
                const WorkflowConfig& workflow, const std::optional<At>& on_exhausted_at,
                const std::optional<At>& approval_at) {
  std::set<std::string> roles;
  for (const auto& t : team) roles.insert(t.role);
  for (const char* needed : {"planner", "coder", "critic"}) {
    if (roles.count(needed) == 0) {
      doc.fail_at(team_at, std::string("the team needs at least one ") + needed);
    }
  }
  if (workflow.on_exhausted == OnExhausted::replan &&
      workflow.after_replans == OnExhausted::escalate && roles.count("human") == 0) {
    const char* what =
        "replan escalates once its replans are used (workflow.after_replans: escalate, the "
        "default), which needs a human in the team: add a team entry with role: human, or set "
        "workflow.after_replans: fail";
    if (on_exhausted_at) doc.fail_at(*on_exhausted_at, what);
    doc.fail_at(team_at, what);
  }
  if (workflow.on_exhausted == OnExhausted::escalate && roles.count("human") == 0) {
    const char* what =
        "escalate needs a human in the team: add a team entry with role: human, or set "
        "workflow.on_exhausted: fail";
    if (on_exhausted_at) doc.fail_at(*on_exhausted_at, what);
    doc.fail_at(team_at,
                "no human in the team, but workflow.on_exhausted is escalate (the default): add a "
                "team entry with role: human, or set workflow.on_exhausted: fail");
  }
  if (workflow.approval == Approval::human && roles.count("human") == 0 && approval_at)
    doc.fail_at(*approval_at, "approval: human needs a human in the team to approve: add a team "
                              "entry with role: human (brain: {kind: inbox} for a person)");
  std::uint32_t inboxes = 0;
  for (const auto& t : team) if (t.brain.kind == "inbox") inboxes += t.count;
  if (inboxes > 1)
    doc.fail_at(team_at, "more than one inbox human (count " + std::to_string(inboxes) +
                             "): one inbox serves every person who answers in `cadre inbox`");
}

// `verify: "make test"` or `verify: {command: "make test", timeout_s: 30}`.
VerifySpec parse_verify(const Document& doc, const At& at) {
  VerifySpec verify;
  if (at.node.IsScalar()) {
    verify.command = as_string(doc, at);
  } else {
    MapView map(doc, at, &kVerifyKeys);
    verify.command = as_string(doc, map.require("command"));
    if (auto t = map.get("timeout_s")) verify.timeout_s = number_positive(doc, *t);
  }
  if (verify.command.empty()) doc.fail_at(at, "the verify command must not be empty");
  return verify;
}

std::vector<GoalSpec> parse_goals(const Document& doc, const At& at) {
  if (!at.node.IsSequence()) doc.fail_at(at, "expected a list of goals, got " + describe(at.node));
  if (at.node.size() == 0) doc.fail_at(at, "must list at least one goal");
  std::vector<GoalSpec> goals;
  std::map<std::string, std::string> seen;  // id -> where first defined
  for (std::size_t i = 0; i < at.node.size(); ++i) {
    At goal_at = doc.child(at, at.node[i], at.path + "[" + std::to_string(i) + "]");
    MapView goal(doc, goal_at, &kGoalKeys);
    GoalSpec g;
    At id_at = goal.require("id");
    g.id = identifier(doc, id_at);
    if (auto first = seen.find(g.id); first != seen.end()) {
      doc.fail_at(id_at, "duplicate goal id " + in_quotes(g.id) + " (first defined at " +
                             first->second + ")");
    }
    seen.emplace(g.id, doc.where(id_at));
    g.title = g.id;
    if (auto v = goal.get("title")) g.title = as_string(doc, *v);
    if (auto v = goal.get("description")) g.description = as_string(doc, *v);
    if (auto v = goal.get("verify")) g.verify = parse_verify(doc, *v);
    auto subtasks_given = goal.get("subtasks");
    if (!subtasks_given) {
      goals.push_back(std::move(g));
      continue;
    }
    At subtasks_at = *subtasks_given;
    if (!subtasks_at.node.IsSequence()) {
      doc.fail_at(subtasks_at, "expected a list of subtasks, got " + describe(subtasks_at.node));
    }
    for (std::size_t j = 0; j < subtasks_at.node.size(); ++j) {
      At sub_at = doc.child(subtasks_at, subtasks_at.node[j],
                            subtasks_at.path + "[" + std::to_string(j) + "]");
      MapView sub(doc, sub_at, &kSubtaskKeys);
      SubtaskSpec s;
      s.title = "subtask " + std::to_string(j + 1);
      if (auto v = sub.get("title")) s.title = as_string(doc, *v);
      s.difficulty = number_unit(doc, sub.require("difficulty"));
      g.subtasks.push_back(std::move(s));
    }
    goals.push_back(std::move(g));
  }
  return goals;
}

// ---- the goal generator --------------------------------------------------------------------

// splitmix64 (Steele, Lea, Flood 2014): state += golden gamma, then a fixed mix. Specified
// entirely by integer arithmetic, so it gives the same stream on every platform and library.
class SplitMix64 {
 public:
  explicit SplitMix64(std::uint64_t seed) : state_(seed) {}
  std::uint64_t next() {
    std::uint64_t z = (state_ += 0x9E3779B97F4A7C15ULL);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
    return z ^ (z >> 31);
  }
  // Uniform integer in [0, n): the high 64 bits of the 128-bit product next() * n.
  std::uint64_t below(std::uint64_t n) {
    return static_cast<std::uint64_t>((static_cast<unsigned __int128>(next()) * n) >> 64);
  }
  // Uniform double in [0, 1): the top 53 bits of next() times 2^-53.
  double unit() { return static_cast<double>(next() >> 11) * 0x1.0p-53; }

 private:
  std::uint64_t state_;
};

struct GenerateSpec {
  std::uint64_t count = 0;
  std::uint64_t min_subtasks = 1, max_subtasks = 3;
  double lo = 0.1, hi = 0.9;
};

GenerateSpec parse_generate(const Document& doc, const MapView& map) {
  GenerateSpec g;
  g.count = uint_in(doc, map.require("count"), 1, 10000000);
  if (auto v = map.get("subtasks")) {
    auto [a, b] = pair_of(doc, *v);
    g.min_subtasks = uint_in(doc, a, 1, 100);
    g.max_subtasks = uint_in(doc, b, 1, 100);
    if (g.min_subtasks > g.max_subtasks) {
      doc.fail_at(*v, "min must be <= max, got [" + a.node.Scalar() + ", " + b.node.Scalar() + "]");
    }
  }
  if (auto v = map.get("difficulty")) {
    auto [a, b] = pair_of(doc, *v);
    g.lo = number_unit(doc, a);
    g.hi = number_unit(doc, b);
    if (g.lo > g.hi) {
      doc.fail_at(*v, "lo must be <= hi, got [" + a.node.Scalar() + ", " + b.node.Scalar() + "]");
    }
  }
  return g;
}

// Goals in order g001, g002, ...; for each goal one draw for its subtask count, then one draw per
// subtask for its difficulty. Goal i therefore depends only on the seed and goals 1..i-1, so
// raising `count` keeps the earlier goals unchanged.
std::vector<GoalSpec> generate_goals(const GenerateSpec& spec, std::uint64_t seed) {
  SplitMix64 rng(seed);
  const std::size_t width = std::max<std::size_t>(3, std::to_string(spec.count).size());
  std::vector<GoalSpec> goals;
  goals.reserve(spec.count);
  for (std::uint64_t i = 1; i <= spec.count; ++i) {
    GoalSpec g;
    std::string number = std::to_string(i);
    g.id = "g" + std::string(width - number.size(), '0') + number;
    g.title = "generated goal " + number;
    std::uint64_t n = spec.min_subtasks + rng.below(spec.max_subtasks - spec.min_subtasks + 1);
    g.subtasks.reserve(n);
    for (std::uint64_t j = 1; j <= n; ++j) {
      double d = spec.lo + (spec.hi - spec.lo) * rng.unit();
      if (d > spec.hi) d = spec.hi;  // guard against rounding
      g.subtasks.push_back(SubtaskSpec{"subtask " + std::to_string(j), d});
    }
    goals.push_back(std::move(g));
  }
  return goals;
}

// ---- overrides -----------------------------------------------------------------------------

// "team.2.brain" or, as errors print paths, "team[2].brain".
std::vector<std::string> split_path(const std::string& written) {
  std::string path;
  for (std::size_t i = 0; i < written.size(); ++i) {
    if (written[i] == '[') {
      path += '.';
    } else if (written[i] != ']') {
      path += written[i];
    }
  }
  std::vector<std::string> out;
  std::size_t start = 0;
  while (true) {
    std::size_t dot = path.find('.', start);
    out.push_back(path.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return out;
}

bool is_index(const std::string& s) {
  if (s.empty() || s.size() > 9) return false;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
  }
  return true;
}

// Applies one override to the tree, recording the nodes it put there in `origins`.
void apply_override(YAML::Node root, const Override& ov, Origins& origins) {
  const std::string where = "--set " + ov.path;
  const std::vector<std::string> segments = split_path(ov.path);
  for (const auto& s : segments) {
    if (s.empty()) fail(where, "override " + ov.path + ": empty path segment");
  }
  YAML::Node value;
  try {
    value = YAML::Load(ov.value);
  } catch (const YAML::Exception& e) {
    fail(where, ov.path + ": cannot parse value " + in_quotes(ov.value) + ": " + e.msg);
  }

  std::vector<YAML::Node> current{root};
  std::string walked;
  for (std::size_t i = 0; i < segments.size(); ++i) {
    const std::string& seg = segments[i];
    const bool last = i + 1 == segments.size();
    const std::string here = walked.empty() ? seg : walked + "." + seg;
    std::vector<YAML::Node> next;
    for (YAML::Node node : current) {
      if (node.IsSequence()) {
        std::vector<std::size_t> targets;
        if (is_index(seg)) {
          std::size_t index = std::stoul(seg);
          if (index >= node.size()) {
            fail(where, "override " + here + ": index " + seg + " out of range (" + walked +
                            " has " + std::to_string(node.size()) + " entries)");
          }
          targets.push_back(index);
        } else if (walked == "team") {
          for (std::size_t k = 0; k < node.size(); ++k) {
            const YAML::Node entry = node[k];  // const: lookups must not insert keys
            const YAML::Node role = entry.IsMap() ? entry["role"] : YAML::Node();
            if (role.IsDefined() && role.IsScalar() && role.Scalar() == seg) {
              targets.push_back(k);
            }
          }
          if (targets.empty()) {
            fail(where, "override team." + seg + ": no team entry with role " + seg);
          }
        } else {
          fail(where, "override " + here + ": " + walked + " is a list; select an entry by index");
        }
        for (std::size_t k : targets) {
          if (last) {
            YAML::Node copy = YAML::Clone(value);
            node[k] = copy;
            origins.emplace_back(copy, where);
          } else {
            next.push_back(node[k]);
          }
        }
      } else if (node.IsMap() || node.IsNull()) {
        const YAML::Node& const_node = node;
        YAML::Node existing = const_node[seg];
        if (last) {
          YAML::Node copy = YAML::Clone(value);
          node[seg] = copy;
          origins.emplace_back(copy, where);
        } else if (existing.IsDefined()) {
          next.push_back(node[seg]);
        } else {
          YAML::Node created(YAML::NodeType::Map);
          node[seg] = created;
          origins.emplace_back(created, where);
          next.push_back(node[seg]);
        }
      } else {
        fail(where, "override " + here + ": " + (walked.empty() ? std::string("the document") : walked) +
                        " is not a map");
      }
    }
    current = std::move(next);
    walked = here;
  }
}

// ---- the whole scenario --------------------------------------------------------------------

Scenario parse_root(const Document& doc, const At& root, long long seed_override) {
  MapView top(doc, root, &kTopKeys);
  Scenario s;
  s.name = identifier(doc, top.require("name"));
  if (auto v = top.get("description")) s.description = as_string(doc, *v);
  if (auto v = top.get("seed")) s.seed = as_uint(doc, *v);
  if (seed_override >= 0) s.seed = static_cast<std::uint64_t>(seed_override);

  s.pricing = parse_pricing(doc, MapView(doc, top.require("pricing"), &kPricingKeys));
  if (auto v = top.get("models")) s.models = parse_models(doc, *v, s.pricing);

  std::optional<At> on_exhausted_at, approval_at;
  if (auto v = top.get("workflow")) {
    MapView workflow(doc, *v, &kWorkflowKeys);
    s.workflow = parse_workflow(doc, workflow);
    on_exhausted_at = workflow.get("on_exhausted");
    approval_at = workflow.get("approval");
  }

  At team_at = top.require("team");
  s.team = parse_team(doc, team_at, s.pricing, s.models);
  check_team(doc, team_at, s.team, s.workflow, on_exhausted_at, approval_at);

  MapView work(doc, top.require("work"), &kWorkKeys);
  auto goals = work.get("goals");
  auto generate = work.get("generate");
  if (goals && generate) {
    doc.fail_at(work.at(), "give exactly one of goals or generate, not both");
  } else if (goals) {
    s.goals = parse_goals(doc, *goals);
  } else if (generate) {
    MapView gen(doc, *generate, &kGenerateKeys);
    s.goals = generate_goals(parse_generate(doc, gen), s.seed);
  } else {
    doc.fail_at(work.at(), "needs one of goals (an explicit list) or generate");
  }

  if (auto v = top.get("limits")) {
    MapView limits(doc, *v, &kLimitsKeys);
    if (auto w = limits.get("wall_s")) s.limits.wall_s = number_non_negative(doc, *w);
    if (auto b = limits.get("budget_usd")) s.limits.budget_usd = number_non_negative(doc, *b);
    if (auto t = limits.get("max_tokens")) s.limits.max_tokens = uint_in(doc, *t, 0, UINT64_MAX);
    if (auto g = limits.get("goal_budget_usd"))
      s.limits.goal_budget_usd = number_non_negative(doc, *g);
    if (auto a = limits.get("goal_max_attempts"))
      s.limits.goal_max_attempts = static_cast<std::uint32_t>(uint_in(doc, *a, 0, 1000000));
  }
  if (auto v = top.get("verify")) s.verify = parse_verify(doc, *v);
  if (auto v = top.get("durability")) {
    const std::string mode = one_of(doc, *v, kDurabilityModes, "durability");
    s.durability = mode == "fsync" ? Durability::fsync
                   : mode == "none" ? Durability::none
                                    : Durability::batch;
  }
  if (auto v = top.get("supervision")) {
    MapView sup(doc, *v, &kSupervisionKeys);
    Supervision& x = s.supervision;
    if (auto y = sup.get("max_restarts")) x.max_restarts = static_cast<std::uint32_t>(uint_in(doc, *y, 0, 1000));
    if (auto y = sup.get("period_s")) x.period_s = number_positive(doc, *y);
    if (auto y = sup.get("backoff_s")) x.backoff_s = number_non_negative(doc, *y);
    if (auto y = sup.get("backoff_max_s")) x.backoff_max_s = number_non_negative(doc, *y);
    if (x.backoff_max_s < x.backoff_s)
      doc.fail_at(*v, "backoff_max_s must be at least backoff_s");
  }
  // A sim planner plans from the goal's specified subtasks: every goal needs some.
  bool sim_planner = false;
  for (const auto& entry : s.team)
    if (entry.role == "planner" && entry.brain.kind == "sim") sim_planner = true;
  if (sim_planner) {
    for (const auto& goal : s.goals)
      if (goal.subtasks.empty())
        doc.fail_at(work.at(), "goal " + in_quotes(goal.id) +
                                   " lists no subtasks, which a sim planner needs to plan from");
  }
  if (auto v = top.get("faults")) {
    MapView faults(doc, *v, &kFaultKeys);
    FaultConfig& f = s.faults;
    if (auto x = faults.get("message_loss")) f.message_loss = number_unit(doc, *x);
    if (auto x = faults.get("message_delay")) f.message_delay = number_unit(doc, *x);
    if (auto x = faults.get("delay_s")) f.delay_s = number_non_negative(doc, *x);
    if (auto x = faults.get("message_duplication")) f.message_duplication = number_unit(doc, *x);
    if (auto x = faults.get("agent_crash")) f.agent_crash = number_unit(doc, *x);
    if (auto x = faults.get("restart_s")) f.restart_s = number_non_negative(doc, *x);
  }
  return s;
}

// Counts the documents the event parser meets, remembering where the second starts.
struct DocumentCounter : YAML::EventHandler {
  int documents = 0;
  YAML::Mark second_start;
  void OnDocumentStart(const YAML::Mark& mark) override {
    if (++documents == 2) second_start = mark;
  }
  void OnDocumentEnd() override {}
  void OnNull(const YAML::Mark&, YAML::anchor_t) override {}
  void OnAlias(const YAML::Mark&, YAML::anchor_t) override {}
  void OnScalar(const YAML::Mark&, const std::string&, YAML::anchor_t, const std::string&) override {}
  void OnSequenceStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnSequenceEnd() override {}
  void OnMapStart(const YAML::Mark&, const std::string&, YAML::anchor_t, YAML::EmitterStyle::value) override {}
  void OnMapEnd() override {}
};

Result<Scenario> parse_checked(const std::string& yaml_text, const std::string& name,
                               const std::vector<Override>& overrides, long long seed_override) {
  // Not YAML::LoadAll: yaml-cpp 0.7 (Debian 12) loops forever, allocating, on inputs such as
  // "," (jbeder/yaml-cpp#1040; found by fuzz/fuzz_scenario). Load the first document, then count
  // documents with the event parser, which stops at the second.
  YAML::Node root;
  std::optional<YAML::Mark> second_document;
  try {
    root = YAML::Load(yaml_text);
    std::istringstream in(yaml_text);
    YAML::Parser parser(in);
    DocumentCounter counter;
    while (counter.documents < 2 && parser.HandleNextDocument(counter)) {
    }
    if (counter.documents >= 2) second_document = counter.second_start;
  } catch (const YAML::ParserException& e) {
    return make_error("YAML syntax error: " + e.msg, position(name, e.mark));
  }
  if (!root.IsDefined() || root.IsNull()) return make_error("scenario: the file is empty", name);
  if (second_document)
    return make_error("scenario: expected one YAML document, found more",
                      position(name, *second_document));
  if (!root.IsMap()) {
    return make_error("scenario: expected a map at the top level, got " + describe(root),
                      position(name, root.Mark()));
  }
  Origins origins;
  for (const auto& ov : overrides) apply_override(root, ov, origins);
  Document doc(name, std::move(origins));
  Scenario s = parse_root(doc, At{root, {}, {}}, seed_override);
  s.source_path = name;
  return s;
}

}  // namespace

Result<Override> parse_override(const std::string& text) {
  std::size_t eq = text.find('=');
  if (eq == std::string::npos) {
    return make_error("override " + in_quotes(text) + ": expected key=value", "--set");
  }
  Override ov{text.substr(0, eq), text.substr(eq + 1)};
  if (ov.path.empty()) return make_error("override " + in_quotes(text) + ": empty key", "--set");
  return ov;
}

Result<Scenario> parse_scenario(const std::string& yaml_text, const std::string& name_for_errors,
                                const std::vector<Override>& overrides, long long seed_override) {
  try {
    return parse_checked(yaml_text, name_for_errors, overrides, seed_override);
  } catch (const LoadError& e) {
    return e.error;
  } catch (const YAML::Exception& e) {
    return make_error(e.msg, position(name_for_errors, e.mark));
  } catch (const std::exception& e) {
    return make_error(std::string("internal error while loading the scenario: ") + e.what(),
                      name_for_errors);
  } catch (...) {
    return make_error("internal error while loading the scenario", name_for_errors);
  }
}

Result<Scenario> load_scenario(const std::string& path, const std::vector<Override>& overrides,
                               long long seed_override) {
  std::string text;
  try {
    errno = 0;
    std::FILE* f = std::fopen(path.c_str(), "rb");
    if (f == nullptr) return make_error(std::string("cannot read file: ") + std::strerror(errno), path);
    char buffer[65536];
    while (true) {
      std::size_t n = std::fread(buffer, 1, sizeof buffer, f);
      text.append(buffer, n);
      if (n < sizeof buffer) break;
    }
    int err = std::ferror(f) ? errno : 0;
    std::fclose(f);
    if (err != 0) return make_error(std::string("cannot read file: ") + std::strerror(err), path);
  } catch (const std::exception& e) {
    return make_error(std::string("cannot read file: ") + e.what(), path);
  }
  return parse_scenario(text, path, overrides, seed_override);
}

}  // namespace cadre::runtime
