// msgpack codecs for the message bodies in messages.h.
//
// Encoding: each struct is one map keyed by its field names. Required fields and numbers are
// always written; empty optional strings, empty vectors and empty optionals are omitted.
//
// Decoding: the bytes are first walked without allocating (transport::check_msgpack_map) to check
// they hold exactly one well-formed map within the protocol's limits (transport/envelope.h:
// container sizes, string sizes, object count, nesting); only then are they unpacked into a
// msgpack::object tree, whose size is thereby bounded. unpack_limit repeats the per-container
// limits as a second line of defence; its *_size_overflow exceptions become errors like any other.
// Unknown keys are ignored; nil counts as absent for optional fields.
#include "cadre/roles/messages.h"
#include "cadre/transport/envelope.h"

#include <msgpack.hpp>

#include <cmath>
#include <cstring>
#include <limits>
#include <new>
#include <utility>

namespace cadre::roles {

namespace {

// The wire limits, one definition for envelope and bodies.
using transport::kMaxArrayItems;
using transport::kMaxMapPairs;
using transport::kMaxNestingDepth;
using transport::kMaxStringBytes;

// ---------------------------------------------------------------------------------------------
// Encoding

// Collects the entries of one map, then emits header + entries.
class MapWriter {
 public:
  MapWriter() : packer_(entries_) {}

  void str(const char* key, const std::string& value) {
    this->key(key);
    packer_.pack(value);
  }
  void str_if_set(const char* key, const std::string& value) {
    if (!value.empty()) str(key, value);
  }
  void uint(const char* key, std::uint64_t value) {
    this->key(key);
    packer_.pack_uint64(value);
  }
  void sint(const char* key, std::int64_t value) {
    this->key(key);
    packer_.pack_int64(value);
  }
  // Always a float64, even for integral values (msgpack-cxx's pack_double would write those as
  // integers); decoders accept either.
  void real(const char* key, double value) {
    this->key(key);
    std::uint64_t bits = 0;
    std::memcpy(&bits, &value, sizeof bits);
    char bytes[9];
    bytes[0] = static_cast<char>(0xcb);
    for (int i = 0; i < 8; ++i) bytes[1 + i] = static_cast<char>(bits >> (56 - 8 * i));
    entries_.write(bytes, sizeof bytes);
  }
  void boolean(const char* key, bool value) {
    this->key(key);
    if (value) {
      packer_.pack_true();
    } else {
      packer_.pack_false();
    }
  }
  // `encoded` is one already-encoded msgpack object.
  void raw(const char* key, const std::string& encoded) {
    this->key(key);
    entries_.write(encoded.data(), encoded.size());
  }
  // An array of already-encoded objects; omitted when empty.
  void raw_array_if_set(const char* key, const std::vector<std::string>& items) {
    if (items.empty()) return;
    this->key(key);
    packer_.pack_array(static_cast<std::uint32_t>(items.size()));
    for (const auto& item : items) entries_.write(item.data(), item.size());
  }
  void str_array_if_set(const char* key, const std::vector<std::string>& items) {
    if (items.empty()) return;
    this->key(key);
    packer_.pack_array(static_cast<std::uint32_t>(items.size()));
    for (const auto& item : items) packer_.pack(item);
  }

  std::string finish() const {
    msgpack::sbuffer out(entries_.size() + 5);
    msgpack::packer<msgpack::sbuffer> header(out);
    header.pack_map(count_);
    out.write(entries_.data(), entries_.size());
    return std::string(out.data(), out.size());
  }

 private:
  void key(const char* name) {
    packer_.pack(std::string_view(name));
    ++count_;
  }

  msgpack::sbuffer entries_;
  msgpack::packer<msgpack::sbuffer> packer_;
  std::uint32_t count_ = 0;
};

std::string encode_subtask(const SubtaskPlan& s) {
  MapWriter w;
  w.str("id", s.id);
  w.str_if_set("title", s.title);
  w.str_if_set("instructions", s.instructions);
  w.real("difficulty", s.difficulty);
  w.str_array_if_set("depends_on", s.depends_on);
  return w.finish();
}

// Path and content are always written (an empty file is still a file).
std::string encode_file(const FileEdit& f) {
  MapWriter w;
  w.str("path", f.path);
  w.str("content", f.content);
  return w.finish();
}

std::vector<std::string> encode_files(const std::vector<FileEdit>& files) {
  std::vector<std::string> out;
  out.reserve(files.size());
  for (const auto& f : files) out.push_back(encode_file(f));
  return out;
}

std::vector<std::string> encode_subtasks(const std::vector<SubtaskPlan>& subtasks) {
  std::vector<std::string> out;
  out.reserve(subtasks.size());
  for (const auto& s : subtasks) out.push_back(encode_subtask(s));
  return out;
}

std::string encode_candidate(const Candidate& c) {
  MapWriter w;
  w.str("content", c.content);
  if (c.sim_correct) w.boolean("sim_correct", *c.sim_correct);
  w.raw_array_if_set("files", encode_files(c.files));
  return w.finish();
}

std::string encode_verdict(const Verdict& v) {
  MapWriter w;
  w.boolean("accept", v.accept);
  w.real("score", v.score);
  w.str_if_set("feedback", v.feedback);
  return w.finish();
}

// ---------------------------------------------------------------------------------------------
// Decoding

// Checks structure without allocating (transport's check): one complete map within the limits.
std::optional<Error> check_one_map(std::string_view bytes) {
  std::string why;
  switch (transport::check_msgpack_map(bytes, &why)) {
    case transport::MapCheck::ok: return std::nullopt;
    case transport::MapCheck::empty: return make_error("body is empty, expected a msgpack map");
    case transport::MapCheck::too_deep: return make_error("body is nested too deeply");
    case transport::MapCheck::not_msgpack: return make_error("body is not msgpack");
    case transport::MapCheck::truncated: return make_error("body is truncated");
    case transport::MapCheck::trailing_bytes:
      return make_error("body has trailing bytes after the map");
    case transport::MapCheck::not_a_map: return make_error("body is not a msgpack map");
    case transport::MapCheck::over_limit:
      return make_error("body exceeds decoder limits: " + why);
  }
  return make_error("body is not a msgpack map");
}

using msgpack::type::object_type;

// Reads the fields of one map. Errors name the field by its path, e.g. "goal_subtasks[1].id".
class MapReader {
 public:
  MapReader(const msgpack::object& map, std::string path) : map_(map), path_(std::move(path)) {}

  // The value under `key` (the last one if repeated), or nullptr. Non-string keys are ignored.
  const msgpack::object* find(std::string_view key) const {
    const msgpack::object* found = nullptr;
    for (std::uint32_t i = 0; i < map_.via.map.size; ++i) {
      const auto& kv = map_.via.map.ptr[i];
      if (kv.key.type == object_type::STR &&
          std::string_view(kv.key.via.str.ptr, kv.key.via.str.size) == key) {
        found = &kv.val;
      }
    }
    return found;
  }

  std::string name(std::string_view key) const {
    return path_.empty() ? std::string(key) : path_ + "." + std::string(key);
  }
  Error wrong(std::string_view key, const char* expected) const {
    return make_error("field '" + name(key) + "': expected " + expected);
  }

  // Returns the value to read, nullptr if absent (and not required), or an error if required
  // and absent. nil counts as absent only for optional fields.
  const msgpack::object* lookup(std::string_view key, bool required, std::optional<Error>& err) {
    const msgpack::object* v = find(key);
    if (v == nullptr) {
      if (required) err = make_error("field '" + name(key) + "' is missing");
      return nullptr;
    }
    if (v->type == object_type::NIL && !required) return nullptr;
    return v;
  }

  std::optional<Error> str(std::string_view key, std::string& out, bool required = false) {
    std::optional<Error> err;
    const auto* v = lookup(key, required, err);
    if (!v) return err;
    if (v->type != object_type::STR) return wrong(key, "string");
    out.assign(v->via.str.ptr, v->via.str.size);
    return std::nullopt;
  }

  template <typename U>
  std::optional<Error> uint(std::string_view key, U& out, bool required = false) {
    std::optional<Error> err;
    const auto* v = lookup(key, required, err);
    if (!v) return err;
    if (v->type != object_type::POSITIVE_INTEGER) return wrong(key, "unsigned integer");
    if (v->via.u64 > std::numeric_limits<U>::max()) {
      return make_error("field '" + name(key) + "': value " + std::to_string(v->via.u64) +
                        " out of range");
    }
    out = static_cast<U>(v->via.u64);
    return std::nullopt;
  }

  std::optional<Error> sint(std::string_view key, std::int64_t& out, bool required = false) {
    std::optional<Error> err;
    const auto* v = lookup(key, required, err);
    if (!v) return err;
    if (v->type == object_type::NEGATIVE_INTEGER) {
      out = v->via.i64;
    } else if (v->type == object_type::POSITIVE_INTEGER) {
      if (v->via.u64 > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) {
        return make_error("field '" + name(key) + "': value out of range");
      }
      out = static_cast<std::int64_t>(v->via.u64);
    } else {
      return wrong(key, "integer");
    }
    return std::nullopt;
  }

  std::optional<Error> real(std::string_view key, double& out, bool required = false) {
    std::optional<Error> err;
    const auto* v = lookup(key, required, err);
    if (!v) return err;
    switch (v->type) {
      case object_type::POSITIVE_INTEGER: out = static_cast<double>(v->via.u64); break;
      case object_type::NEGATIVE_INTEGER: out = static_cast<double>(v->via.i64); break;
      case object_type::FLOAT32:
      case object_type::FLOAT64: out = v->via.f64; break;
      default: return wrong(key, "number");
    }
    return std::nullopt;
  }

  std::optional<Error> boolean(std::string_view key, bool& out, bool required = false) {
    std::optional<Error> err;
    const auto* v = lookup(key, required, err);
    if (!v) return err;
    if (v->type != object_type::BOOLEAN) return wrong(key, "boolean");
    out = v->via.boolean;
    return std::nullopt;
  }

  std::optional<Error> optional_boolean(std::string_view key, std::optional<bool>& out) {
    std::optional<Error> err;
    const auto* v = lookup(key, false, err);
    if (!v) return err;
    if (v->type != object_type::BOOLEAN) return wrong(key, "boolean");
    out = v->via.boolean;
    return std::nullopt;
  }

  std::optional<Error> task_kind(std::string_view key, TaskKind& out, bool required = false) {
    std::uint64_t raw = 0;
    std::optional<Error> err;
    const auto* v = lookup(key, required, err);
    if (!v) return err;
    if (v->type != object_type::POSITIVE_INTEGER) return wrong(key, "unsigned integer");
    raw = v->via.u64;
    if (raw < 1 || raw > 5) {
      return make_error("field '" + name(key) + "': unknown task kind " + std::to_string(raw));
    }
    out = static_cast<TaskKind>(raw);
    return std::nullopt;
  }

  std::optional<Error> str_array(std::string_view key, std::vector<std::string>& out) {
    std::optional<Error> err;
    const auto* v = lookup(key, false, err);
    if (!v) return err;
    if (v->type != object_type::ARRAY) return wrong(key, "array of strings");
    out.clear();
    for (std::uint32_t i = 0; i < v->via.array.size; ++i) {
      const auto& item = v->via.array.ptr[i];
      if (item.type != object_type::STR) {
        return make_error("field '" + name(key) + "[" + std::to_string(i) + "]': expected string");
      }
      out.emplace_back(item.via.str.ptr, item.via.str.size);
    }
    return std::nullopt;
  }

  // A nested map read by `read(MapReader&, T&)`; absent leaves `out` untouched.
  template <typename T, typename ReadFn>
  std::optional<Error> nested(std::string_view key, std::optional<T>& out, ReadFn read) {
    std::optional<Error> err;
    const auto* v = lookup(key, false, err);
    if (!v) return err;
    if (v->type != object_type::MAP) return wrong(key, "map");
    MapReader inner(*v, name(key));
    T value{};
    if (auto e = read(inner, value)) return e;
    out = std::move(value);
    return std::nullopt;
  }

  template <typename T, typename ReadFn>
  std::optional<Error> nested_array(std::string_view key, std::vector<T>& out, ReadFn read) {
    std::optional<Error> err;
    const auto* v = lookup(key, false, err);
    if (!v) return err;
    if (v->type != object_type::ARRAY) return wrong(key, "array of maps");
    out.clear();
    for (std::uint32_t i = 0; i < v->via.array.size; ++i) {
      const auto& item = v->via.array.ptr[i];
      const std::string item_name = name(key) + "[" + std::to_string(i) + "]";
      if (item.type != object_type::MAP) {
        return make_error("field '" + item_name + "': expected map");
      }
      MapReader inner(item, item_name);
      T value{};
      if (auto e = read(inner, value)) return e;
      out.push_back(std::move(value));
    }
    return std::nullopt;
  }

 private:
  const msgpack::object& map_;
  std::string path_;
};

// Reads a sequence of fields, stopping at the first error.
#define CADRE_READ(expr)            \
  do {                              \
    if (auto e_ = (expr)) return e_; \
  } while (0)

std::optional<Error> read_subtask(MapReader& r, SubtaskPlan& s) {
  CADRE_READ(r.str("id", s.id));
  CADRE_READ(r.str("title", s.title));
  CADRE_READ(r.str("instructions", s.instructions));
  CADRE_READ(r.real("difficulty", s.difficulty));
  CADRE_READ(r.str_array("depends_on", s.depends_on));
  return std::nullopt;
}

std::optional<Error> read_file_edit(MapReader& r, FileEdit& f) {
  CADRE_READ(r.str("path", f.path, true));
  CADRE_READ(r.str("content", f.content));
  return std::nullopt;
}

std::optional<Error> read_candidate(MapReader& r, Candidate& c) {
  CADRE_READ(r.str("content", c.content));
  CADRE_READ(r.optional_boolean("sim_correct", c.sim_correct));
  CADRE_READ(r.nested_array("files", c.files, read_file_edit));
  return std::nullopt;
}

std::optional<Error> read_verdict(MapReader& r, Verdict& v) {
  CADRE_READ(r.boolean("accept", v.accept));
  CADRE_READ(r.real("score", v.score));
  CADRE_READ(r.str("feedback", v.feedback));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Hello& b) {
  CADRE_READ(r.str("agent_id", b.agent_id, true));
  CADRE_READ(r.str("role", b.role, true));
  CADRE_READ(r.str("brain", b.brain));
  CADRE_READ(r.str("model", b.model));
  CADRE_READ(r.uint("capacity", b.capacity, true));
  CADRE_READ(r.uint("protocol", b.protocol, true));
  CADRE_READ(r.sint("pid", b.pid));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Welcome& b) {
  CADRE_READ(r.str("hub_id", b.hub_id));
  CADRE_READ(r.uint("heartbeat_ms", b.heartbeat_ms));
  CADRE_READ(r.uint("liveness", b.liveness));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, TaskAssignment& b) {
  CADRE_READ(r.str("goal_id", b.goal_id, true));
  CADRE_READ(r.str("task_id", b.task_id, true));
  CADRE_READ(r.uint("attempt", b.attempt, true));
  CADRE_READ(r.task_kind("kind", b.kind, true));
  CADRE_READ(r.str("role", b.role));
  CADRE_READ(r.uint("seed", b.seed));
  CADRE_READ(r.uint("revision", b.revision));
  CADRE_READ(r.real("difficulty", b.difficulty));
  CADRE_READ(r.str("goal_title", b.goal_title));
  CADRE_READ(r.str("instructions", b.instructions));
  CADRE_READ(r.nested_array("goal_subtasks", b.goal_subtasks, read_subtask));
  CADRE_READ(r.nested("candidate", b.candidate, read_candidate));
  CADRE_READ(r.str_array("feedback", b.feedback));
  CADRE_READ(r.uint("lease_ms", b.lease_ms));
  CADRE_READ(r.nested_array("workspace_files", b.workspace_files, read_file_edit));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, TaskOutcome& b) {
  CADRE_READ(r.str("goal_id", b.goal_id, true));
  CADRE_READ(r.str("task_id", b.task_id, true));
  CADRE_READ(r.uint("attempt", b.attempt, true));
  CADRE_READ(r.boolean("ok", b.ok));
  CADRE_READ(r.str("error", b.error));
  CADRE_READ(r.uint("tokens_in", b.tokens_in));
  CADRE_READ(r.uint("tokens_out", b.tokens_out));
  CADRE_READ(r.str("model", b.model));
  CADRE_READ(r.real("brain_s", b.brain_s));
  CADRE_READ(r.nested_array("plan", b.plan, read_subtask));
  CADRE_READ(r.nested("candidate", b.candidate, read_candidate));
  CADRE_READ(r.nested("verdict", b.verdict, read_verdict));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Ack& b) {
  CADRE_READ(r.str("goal_id", b.goal_id, true));
  CADRE_READ(r.str("task_id", b.task_id, true));
  CADRE_READ(r.uint("attempt", b.attempt, true));
  CADRE_READ(r.boolean("accepted", b.accepted));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, ErrorReply& b) {
  CADRE_READ(r.str("code", b.code, true));
  CADRE_READ(r.str("message", b.message));
  CADRE_READ(r.uint("ref_msg_id", b.ref_msg_id));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Bye& b) {
  CADRE_READ(r.str("reason", b.reason));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Cancel& b) {
  CADRE_READ(r.str("goal_id", b.goal_id, true));
  CADRE_READ(r.str("task_id", b.task_id, true));
  CADRE_READ(r.uint("attempt", b.attempt, true));
  CADRE_READ(r.str("reason", b.reason));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Query& b) {
  CADRE_READ(r.str("what", b.what, true));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, View& b) {
  CADRE_READ(r.str("what", b.what, true));
  CADRE_READ(r.str("json", b.json, true));
  return std::nullopt;
}

std::optional<Error> read_fields(MapReader& r, Decision& b) {
  CADRE_READ(r.str("goal_id", b.goal_id, true));
  CADRE_READ(r.str("item", b.item));
  CADRE_READ(r.str("action", b.action, true));
  CADRE_READ(r.str("candidate", b.candidate));
  CADRE_READ(r.str("answer", b.answer));
  CADRE_READ(r.str("reason", b.reason));
  CADRE_READ(r.str("by", b.by));
  return std::nullopt;
}

#undef CADRE_READ

template <typename T>
Result<T> decode_body(std::string_view bytes, const char* what) {
  auto fail = [what](Error e) {
    e.where = what;
    return e;
  };
  try {
    if (auto e = check_one_map(bytes)) return fail(*e);
    const msgpack::unpack_limit limit(kMaxArrayItems, kMaxMapPairs, kMaxStringBytes,
                                      kMaxStringBytes, kMaxStringBytes, kMaxNestingDepth);
    std::size_t off = 0;
    msgpack::object_handle handle =
        msgpack::unpack(bytes.data(), bytes.size(), off, nullptr, nullptr, limit);
    const msgpack::object& root = handle.get();
    if (root.type != object_type::MAP || off != bytes.size()) {
      return fail(make_error("body is not exactly one msgpack map"));
    }
    MapReader reader(root, "");
    T body{};
    if (auto e = read_fields(reader, body)) return fail(*e);
    return body;
  } catch (const msgpack::size_overflow& e) {
    return fail(make_error(std::string("body exceeds decoder limits: ") + e.what()));
  } catch (const std::bad_alloc&) {
    return fail(make_error("body too large to decode"));
  } catch (const std::exception& e) {
    return fail(make_error(std::string("body does not decode: ") + e.what()));
  } catch (...) {
    return fail(make_error("body does not decode"));
  }
}

}  // namespace

const char* task_kind_name(TaskKind kind) {
  switch (kind) {
    case TaskKind::plan: return "plan";
    case TaskKind::solve: return "solve";
    case TaskKind::review: return "review";
    case TaskKind::resolve: return "resolve";
    case TaskKind::approve: return "approve";
  }
  return "unknown";
}

std::string encode(const Hello& b) {
  MapWriter w;
  w.str("agent_id", b.agent_id);
  w.str("role", b.role);
  w.str_if_set("brain", b.brain);
  w.str_if_set("model", b.model);
  w.uint("capacity", b.capacity);
  w.uint("protocol", b.protocol);
  w.sint("pid", b.pid);
  return w.finish();
}

std::string encode(const Welcome& b) {
  MapWriter w;
  w.str("hub_id", b.hub_id);
  w.uint("heartbeat_ms", b.heartbeat_ms);
  w.uint("liveness", b.liveness);
  return w.finish();
}

std::string encode(const TaskAssignment& b) {
  MapWriter w;
  w.str("goal_id", b.goal_id);
  w.str("task_id", b.task_id);
  w.uint("attempt", b.attempt);
  w.uint("kind", static_cast<std::uint8_t>(b.kind));
  w.str_if_set("role", b.role);
  w.uint("seed", b.seed);
  w.uint("revision", b.revision);
  w.real("difficulty", b.difficulty);
  w.str_if_set("goal_title", b.goal_title);
  w.str_if_set("instructions", b.instructions);
  w.raw_array_if_set("goal_subtasks", encode_subtasks(b.goal_subtasks));
  if (b.candidate) w.raw("candidate", encode_candidate(*b.candidate));
  w.str_array_if_set("feedback", b.feedback);
  w.uint("lease_ms", b.lease_ms);
  w.raw_array_if_set("workspace_files", encode_files(b.workspace_files));
  return w.finish();
}

std::string encode(const TaskOutcome& b) {
  MapWriter w;
  w.str("goal_id", b.goal_id);
  w.str("task_id", b.task_id);
  w.uint("attempt", b.attempt);
  w.boolean("ok", b.ok);
  w.str_if_set("error", b.error);
  w.uint("tokens_in", b.tokens_in);
  w.uint("tokens_out", b.tokens_out);
  w.str_if_set("model", b.model);
  w.real("brain_s", b.brain_s);
  w.raw_array_if_set("plan", encode_subtasks(b.plan));
  if (b.candidate) w.raw("candidate", encode_candidate(*b.candidate));
  if (b.verdict) w.raw("verdict", encode_verdict(*b.verdict));
  return w.finish();
}

std::string encode(const Ack& b) {
  MapWriter w;
  w.str("goal_id", b.goal_id);
  w.str("task_id", b.task_id);
  w.uint("attempt", b.attempt);
  w.boolean("accepted", b.accepted);
  return w.finish();
}

std::string encode(const ErrorReply& b) {
  MapWriter w;
  w.str("code", b.code);
  w.str_if_set("message", b.message);
  w.uint("ref_msg_id", b.ref_msg_id);
  return w.finish();
}

std::string encode(const Bye& b) {
  MapWriter w;
  w.str_if_set("reason", b.reason);
  return w.finish();
}

std::string encode(const Cancel& b) {
  MapWriter w;
  w.str("goal_id", b.goal_id);
  w.str("task_id", b.task_id);
  w.uint("attempt", b.attempt);
  w.str_if_set("reason", b.reason);
  return w.finish();
}

std::string encode(const Query& b) {
  MapWriter w;
  w.str("what", b.what);
  return w.finish();
}

std::string encode(const View& b) {
  MapWriter w;
  w.str("what", b.what);
  w.str("json", b.json);
  return w.finish();
}

std::string encode(const Decision& b) {
  MapWriter w;
  w.str("goal_id", b.goal_id);
  w.str_if_set("item", b.item);
  w.str("action", b.action);
  w.str_if_set("candidate", b.candidate);
  w.str_if_set("answer", b.answer);
  w.str_if_set("reason", b.reason);
  w.str_if_set("by", b.by);
  return w.finish();
}

std::string encode_empty() { return std::string(1, '\x80'); }

Result<Hello> decode_hello(std::string_view bytes) { return decode_body<Hello>(bytes, "HELLO"); }
Result<Welcome> decode_welcome(std::string_view bytes) {
  return decode_body<Welcome>(bytes, "WELCOME");
}
Result<TaskAssignment> decode_assignment(std::string_view bytes) {
  return decode_body<TaskAssignment>(bytes, "ASSIGN");
}
Result<TaskOutcome> decode_outcome(std::string_view bytes) {
  return decode_body<TaskOutcome>(bytes, "RESULT");
}
Result<Ack> decode_ack(std::string_view bytes) { return decode_body<Ack>(bytes, "ACK"); }
Result<ErrorReply> decode_error(std::string_view bytes) {
  return decode_body<ErrorReply>(bytes, "ERROR");
}
Result<Bye> decode_bye(std::string_view bytes) { return decode_body<Bye>(bytes, "BYE"); }
Result<Cancel> decode_cancel(std::string_view bytes) {
  return decode_body<Cancel>(bytes, "CANCEL");
}

Result<Query> decode_query(std::string_view bytes) { return decode_body<Query>(bytes, "QUERY"); }
Result<View> decode_view(std::string_view bytes) { return decode_body<View>(bytes, "VIEW"); }
Result<Decision> decode_decision(std::string_view bytes) {
  return decode_body<Decision>(bytes, "DECIDE");
}

TaskOutcome outcome_for(const TaskAssignment& task, const std::string& model) {
  TaskOutcome outcome;
  outcome.goal_id = task.goal_id;
  outcome.task_id = task.task_id;
  outcome.attempt = task.attempt;
  outcome.model = model;
  return outcome;
}

}  // namespace cadre::roles
