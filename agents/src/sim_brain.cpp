// The simulated brain. The model is documented in docs/sim-brain.md; keep the two in step.
#include "cadre/agents/sim_brain.h"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstddef>
#include <initializer_list>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

namespace cadre::agents {
namespace {

// ---- hashing -------------------------------------------------------------------------------
// FNV-1a 64 over a byte encoding of the inputs, then the splitmix64 finalizer. Integers are fed
// little-endian at a fixed width and every string is preceded by its length (8 bytes), so the
// encoding is unambiguous ("ab"+"c" differs from "a"+"bc") and identical on every platform.

constexpr std::uint64_t kFnvOffset = 14695981039346656037ULL;
constexpr std::uint64_t kFnvPrime = 1099511628211ULL;

void mix_byte(std::uint64_t& h, std::uint8_t byte) {
  h ^= byte;
  h *= kFnvPrime;
}

void mix_int(std::uint64_t& h, std::uint64_t value, int bytes) {
  for (int i = 0; i < bytes; ++i) mix_byte(h, static_cast<std::uint8_t>(value >> (8 * i)));
}

void mix_string(std::uint64_t& h, std::string_view s) {
  mix_int(h, s.size(), 8);
  for (char c : s) mix_byte(h, static_cast<std::uint8_t>(c));
}

std::uint64_t splitmix64_finalize(std::uint64_t z) {
  z += 0x9E3779B97F4A7C15ULL;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

// ---- small helpers -------------------------------------------------------------------------

double sigmoid(double x) { return 1.0 / (1.0 + std::exp(-x)); }

// A multiplicative jitter in [0.75, 1.25) from a uniform draw.
double jitter(double u) { return 0.75 + 0.5 * u; }

std::uint64_t round_tokens(double x) {
  return x <= 0 ? 0 : static_cast<std::uint64_t>(std::llround(x));
}

// The subtask a review or resolve task is about: "s1/review" -> "s1".
std::string_view subtask_of(std::string_view task_id) {
  auto slash = task_id.find('/');
  return slash == std::string_view::npos ? task_id : task_id.substr(0, slash);
}

// FNV state after (seed, goal, task key, attempt): every draw of one assignment shares this
// prefix, so it is hashed once and each draw mixes only its purpose (the same value as sim_draw).
// The task key may come in pieces (a review's is "task|candidate"): hashed as their
// concatenation, without building it.
std::uint64_t draw_prefix(std::uint64_t seed, std::string_view goal_id,
                          std::initializer_list<std::string_view> task_key,
                          std::uint32_t attempt) {
  std::uint64_t h = kFnvOffset;
  mix_int(h, seed, 8);
  mix_string(h, goal_id);
  std::size_t key_size = 0;
  for (std::string_view piece : task_key) key_size += piece.size();
  mix_int(h, key_size, 8);
  for (std::string_view piece : task_key)
    for (char c : piece) mix_byte(h, static_cast<std::uint8_t>(c));
  mix_int(h, attempt, 4);
  return h;
}

double draw_from(std::uint64_t prefix, std::string_view purpose) {
  mix_string(prefix, purpose);
  return static_cast<double>(splitmix64_finalize(prefix) >> 11) * 0x1.0p-53;
}

// Draws for one assignment, keyed on the task id (for reviews: the task id extended by the
// candidate; see SimBrain::answer).
class Draws {
 public:
  explicit Draws(const roles::TaskAssignment& task) : task_(task) { rekey({task.task_id}); }
  void rekey(std::initializer_list<std::string_view> key) {
    prefix_ = draw_prefix(task_.seed, task_.goal_id, key, task_.attempt);
  }
  double operator()(std::string_view purpose) const { return draw_from(prefix_, purpose); }

 private:
  const roles::TaskAssignment& task_;
  std::uint64_t prefix_ = 0;
};

// Latency of an answer with `tokens_out` output tokens, with a ±25% jitter, times time_scale.
double model_latency(const SimBrainParams& p, std::uint64_t tokens_out, double u_latency) {
  return (p.overhead_s + static_cast<double>(tokens_out) / p.tokens_per_s) * jitter(u_latency) *
         p.time_scale;
}

// ---- parameter parsing ---------------------------------------------------------------------

enum class Range { any, probability, positive, non_negative };

struct ParamSpec {
  const char* name;
  double SimBrainParams::*field;
  Range range;
};

constexpr ParamSpec kParamSpecs[] = {
    {"skill", &SimBrainParams::skill, Range::any},
    {"think_tokens", &SimBrainParams::think_tokens, Range::positive},
    {"think_gain", &SimBrainParams::think_gain, Range::any},
    {"revision_gain", &SimBrainParams::revision_gain, Range::any},
    {"difficulty_weight", &SimBrainParams::difficulty_weight, Range::any},
    {"tpr", &SimBrainParams::tpr, Range::probability},
    {"fpr", &SimBrainParams::fpr, Range::probability},
    {"miss_rate", &SimBrainParams::miss_rate, Range::probability},
    {"replan_ease", &SimBrainParams::replan_ease, Range::probability},
    {"tokens_per_s", &SimBrainParams::tokens_per_s, Range::positive},
    {"overhead_s", &SimBrainParams::overhead_s, Range::non_negative},
    {"human_latency_s", &SimBrainParams::human_latency_s, Range::non_negative},
    {"time_scale", &SimBrainParams::time_scale, Range::positive},
};

const char* expectation(Range range) {
  switch (range) {
    case Range::any:
      return "a number";
    case Range::probability:
      return "a number in [0, 1]";
    case Range::positive:
      return "a number > 0";
    case Range::non_negative:
      return "a number >= 0";
  }
  return "a number";
}

bool in_range(Range range, double v) {
  switch (range) {
    case Range::any:
      return true;
    case Range::probability:
      return v >= 0.0 && v <= 1.0;
    case Range::positive:
      return v > 0.0;
    case Range::non_negative:
      return v >= 0.0;
  }
  return false;
}

// A finite decimal number spanning the whole string (no blanks, no trailing text, no inf/nan).
bool parse_number(const std::string& text, double& out) {
  const char* first = text.data();
  const char* last = first + text.size();
  if (first != last && *first == '+') ++first;  // from_chars refuses a leading '+'; allow it
  if (first == last) return false;
  double value = 0;
  auto [ptr, ec] = std::from_chars(first, last, value, std::chars_format::general);
  if (ec != std::errc() || ptr != last || !std::isfinite(value)) return false;
  out = value;
  return true;
}

std::string known_keys() {
  std::string out;
  for (const auto& spec : kParamSpecs) {
    if (!out.empty()) out += ", ";
    out += spec.name;
  }
  return out;
}

}  // namespace

// ---- public functions ----------------------------------------------------------------------

double sim_draw(std::uint64_t seed, std::string_view goal_id, std::string_view task_id,
                std::uint32_t attempt, std::string_view purpose) {
  return draw_from(draw_prefix(seed, goal_id, {task_id}, attempt), purpose);
}

double sim_coder_success_probability(const SimBrainParams& params, double difficulty,
                                     std::uint32_t revision) {
  double logit = params.skill + params.think_gain * std::log2(params.think_tokens / 1024.0) +
                 params.revision_gain * static_cast<double>(revision) -
                 params.difficulty_weight * difficulty;
  return sigmoid(logit);
}

Result<SimBrainParams> parse_sim_params(const std::map<std::string, std::string>& params) {
  SimBrainParams out;
  for (const auto& [key, text] : params) {
    const ParamSpec* spec = nullptr;
    for (const auto& s : kParamSpecs) {
      if (key == s.name) spec = &s;
    }
    if (spec == nullptr) {
      return make_error("unknown brain parameter '" + key +
                        "' for brain 'sim' (known: " + known_keys() + ")");
    }
    double value = 0;
    if (!parse_number(text, value) || !in_range(spec->range, value)) {
      return make_error("brain parameter '" + key + "': expected " + expectation(spec->range) +
                        ", got '" + text + "'");
    }
    out.*(spec->field) = value;
  }
  return out;
}

SimBrain::SimBrain(std::string role, std::string model, SimBrainParams params)
    : role_(std::move(role)), model_(std::move(model)), params_(params) {}

BrainAnswer SimBrain::answer(const roles::TaskAssignment& task) {
  const SimBrainParams& p = params_;
  BrainAnswer answer{roles::outcome_for(task, model_)};
  roles::TaskOutcome& out = answer.outcome;
  out.ok = true;

  Draws draw(task);

  switch (task.kind) {
    case roles::TaskKind::plan: {
      const std::size_t n = task.goal_subtasks.size();
      std::vector<roles::SubtaskPlan> plan = task.goal_subtasks;
      if (task.task_id.size() > 7 && task.task_id.ends_with("/replan")) {
        // A replan rewrites the subtask it is given, easier by replan_ease; it misses nothing.
        for (auto& subtask : plan)
          subtask.difficulty = std::max(0.0, subtask.difficulty - p.replan_ease);
        out.plan = std::move(plan);
        const double scale = jitter(draw("tokens"));
        out.tokens_in = round_tokens(600.0 * scale);
        out.tokens_out = round_tokens(150.0 * scale);
        answer.delay_s = model_latency(p, out.tokens_out, draw("latency"));
        break;
      }
      for (std::size_t i = 0; i < n; ++i) {
        if (plan[i].id.empty()) plan[i].id = "s" + std::to_string(i + 1);
      }
      if (n >= 2 && draw("miss") < p.miss_rate) {
        auto which =
            std::min(n - 1, static_cast<std::size_t>(draw("which") * static_cast<double>(n)));
        plan.erase(plan.begin() + static_cast<std::ptrdiff_t>(which));
      }
      out.plan = std::move(plan);
      const double scale = jitter(draw("tokens"));
      out.tokens_in = round_tokens((300.0 + 50.0 * static_cast<double>(n)) * scale);
      out.tokens_out = round_tokens(150.0 * static_cast<double>(n) * scale);
      answer.delay_s = model_latency(p, out.tokens_out, draw("latency"));
      break;
    }
    case roles::TaskKind::solve: {
      const double prob = sim_coder_success_probability(p, task.difficulty, task.revision);
      const bool correct = draw("correct") < prob;
      roles::Candidate candidate;
      std::string& content = candidate.content;  // built in place: one allocation
      content.reserve(48 + task.goal_id.size() + task.task_id.size());
      content.append("candidate for ").append(task.goal_id).append("/").append(task.task_id);
      content.append(" attempt ").append(std::to_string(task.attempt));
      content.append(" (revision ").append(std::to_string(task.revision)).append(")");
      candidate.sim_correct = correct;
      out.candidate = std::move(candidate);
      out.tokens_in = 800 + 400 * static_cast<std::uint64_t>(task.revision) +
                      200 * static_cast<std::uint64_t>(task.feedback.size());
      out.tokens_out = round_tokens(p.think_tokens * (0.5 + draw("tokens")) + 200.0);
      answer.delay_s = model_latency(p, out.tokens_out, draw("latency"));
      break;
    }
    case roles::TaskKind::review: {
      if (!task.candidate || !task.candidate->sim_correct) {
        out.ok = false;
        out.error = "sim critic needs a simulated candidate";
        break;
      }
      // The candidate is part of the key, so that reviews of different candidates under the same
      // (task, attempt) are independent, and the same candidate always gets the same verdict.
      draw.rekey({task.task_id, "|", task.candidate->content});
      const bool correct = *task.candidate->sim_correct;
      roles::Verdict verdict;
      verdict.accept = draw("accept") < (correct ? p.tpr : p.fpr);
      const double u_score = draw("score");
      verdict.score = correct ? 0.5 + 0.5 * u_score : 0.6 * u_score;
      // The feedback follows the critic's belief (accept or not), never the hidden truth.
      verdict.feedback = verdict.accept
                             ? std::string("looks correct")
                             : "fails on edge cases in " + std::string(subtask_of(task.task_id));
      out.verdict = std::move(verdict);
      out.tokens_in = 1200;
      out.tokens_out = round_tokens(150.0 + 200.0 * draw("tokens"));
      answer.delay_s = model_latency(p, out.tokens_out, draw("latency"));
      break;
    }
    case roles::TaskKind::resolve: {
      roles::Candidate candidate;
      candidate.content = "resolved by a human";
      candidate.sim_correct = true;
      out.candidate = std::move(candidate);
      out.tokens_in = 0;
      out.tokens_out = 0;
      answer.delay_s = p.human_latency_s * jitter(draw("latency")) * p.time_scale;
      break;
    }
    case roles::TaskKind::approve: {
      // A person checks the team's finished work: they see what is wrong (the ground truth the
      // candidate carries) and reject it; work of unknown truth is approved.
      roles::Verdict verdict;
      const bool correct = !task.candidate || task.candidate->sim_correct.value_or(true);
      verdict.accept = correct;
      verdict.score = correct ? 1.0 : 0.0;
      verdict.feedback = correct ? "approved" : "the work is wrong";
      out.verdict = std::move(verdict);
      out.tokens_in = 0;
      out.tokens_out = 0;
      answer.delay_s = p.human_latency_s * jitter(draw("latency")) * p.time_scale;
      break;
    }
    default:
      out.ok = false;
      out.error =
          "sim brain: unknown task kind " + std::to_string(static_cast<unsigned>(task.kind));
      break;
  }
  out.brain_s = answer.delay_s;
  return answer;
}

}  // namespace cadre::agents
