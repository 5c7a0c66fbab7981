#include "cadre/agents/llm_brain.h"

#include <atomic>
#include <charconv>
#include <chrono>
#include <cstdlib>

#include "cadre/agents/llm_client.h"
#include "cadre/roles/answers.h"
#include "cadre/roles/prompts.h"

namespace cadre::agents {
namespace {

// api_model and hub_rate_limited come from a model declared in the scenario's models: (the
// loader sets them); log_path from the agent runner.
const char* kKnownParams[] = {"base_url",    "api_key_env", "temperature", "max_tokens",
                              "timeout_s",   "max_retries", "concurrency", "prompt",
                              "log_path",    "api_model",   "hub_rate_limited"};

Result<double> number_param(const std::map<std::string, std::string>& params,
                            const std::string& key, double fallback, double min) {
  auto it = params.find(key);
  if (it == params.end()) return fallback;
  const std::string& text = it->second;
  double value = 0;
  auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (error != std::errc() || end != text.data() + text.size() || value < min)
    return make_error("brain parameter '" + key + "': expected a number >= " +
                      std::to_string(min) + ", got '" + text + "'");
  return value;
}

// Parses a reply for the task's kind into `outcome`; returns the parse error, empty on success.
std::string read_reply(const roles::TaskAssignment& task, const std::string& reply,
                       roles::TaskOutcome& outcome) {
  switch (task.kind) {
    case roles::TaskKind::plan: {
      auto plan = roles::parse_plan_answer(reply);
      if (!plan.ok()) return plan.error().to_string();
      outcome.plan = std::move(plan.value());
      return {};
    }
    case roles::TaskKind::solve:
    case roles::TaskKind::resolve: {
      auto candidate = roles::parse_coder_answer(reply);
      if (!candidate.ok()) return candidate.error().to_string();
      outcome.candidate = std::move(candidate.value());
      return {};
    }
    case roles::TaskKind::review:
    case roles::TaskKind::approve: {
      auto verdict = roles::parse_critic_answer(reply);
      if (!verdict.ok()) return verdict.error().to_string();
      outcome.verdict = verdict.value();
      return {};
    }
  }
  return "unknown task kind";
}

}  // namespace

LlmBrain::~LlmBrain() = default;

Result<std::unique_ptr<LlmBrain>> LlmBrain::create(
    const std::string& role, const std::string& model,
    const std::map<std::string, std::string>& params) {
  for (const auto& [key, value] : params) {
    bool known = false;
    for (const char* name : kKnownParams) known = known || key == name;
    if (!known) {
      std::string list;
      for (const char* name : kKnownParams) list += (list.empty() ? "" : ", ") + std::string(name);
      return make_error("unknown brain parameter '" + key + "' for brain 'llm' (known: " + list +
                        ")");
    }
  }
  LlmEndpoint endpoint;
  auto base_url = params.find("base_url");
  if (base_url == params.end() || base_url->second.empty())
    return make_error("an llm brain needs base_url");
  endpoint.base_url = base_url->second;
  endpoint.model = model;
  if (auto api_model = params.find("api_model"); api_model != params.end())
    endpoint.model = api_model->second;  // `model` stays the pricing key
  if (auto limited = params.find("hub_rate_limited"); limited != params.end())
    endpoint.refusal_ends_call = limited->second == "1";
  if (auto env = params.find("api_key_env"); env != params.end()) {
    const char* key = std::getenv(env->second.c_str());
    if (key == nullptr || *key == '\0')
      return make_error("environment variable " + env->second +
                        " (api_key_env) is not set; export the API key there");
    endpoint.api_key = key;
  }
  auto temperature = number_param(params, "temperature", endpoint.temperature, 0);
  auto max_tokens = number_param(params, "max_tokens", endpoint.max_tokens, 1);
  auto timeout = number_param(params, "timeout_s", endpoint.timeout_s, 0.001);
  auto retries = number_param(params, "max_retries", endpoint.max_retries, 0);
  auto concurrency = number_param(params, "concurrency", 4, 1);
  for (const auto* r : {&temperature, &max_tokens, &timeout, &retries, &concurrency})
    if (!r->ok()) return r->error();
  endpoint.temperature = *temperature;
  endpoint.max_tokens = static_cast<std::uint32_t>(*max_tokens);
  endpoint.timeout_s = *timeout;
  endpoint.max_retries = static_cast<std::uint32_t>(*retries);
  if (auto log = params.find("log_path"); log != params.end()) endpoint.log_path = log->second;

  std::unique_ptr<LlmBrain> brain(new LlmBrain());
  brain->role_ = role;
  brain->model_ = model;
  brain->concurrency_ = static_cast<std::uint32_t>(*concurrency);
  if (auto prompt = params.find("prompt"); prompt != params.end()) {
    auto text = roles::read_template_file(prompt->second);
    if (!text.ok()) return text.error();
    brain->prompt_override_ = std::move(text.value());
  }
  brain->client_ = std::make_unique<LlmClient>(std::move(endpoint));
  return brain;
}

BrainAnswer LlmBrain::answer(const roles::TaskAssignment& task) {
  const std::atomic<bool> never{false};
  return answer(task, never);
}

BrainAnswer LlmBrain::answer(const roles::TaskAssignment& task,
                             const std::atomic<bool>& cancelled) {
  const auto started = std::chrono::steady_clock::now();
  BrainAnswer answer{roles::outcome_for(task, model_)};
  roles::TaskOutcome& outcome = answer.outcome;
  auto finish = [&](bool ok, std::string error) {
    outcome.ok = ok;
    outcome.error = std::move(error);
    outcome.brain_s =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    return answer;
  };
  // Cancelled: the agent drops this answer; it keeps the tokens of the rounds already done.
  const auto stopped = [&] {
    BrainAnswer dropped = cancelled_answer(
        task, model_,
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
    dropped.outcome.tokens_in = outcome.tokens_in;
    dropped.outcome.tokens_out = outcome.tokens_out;
    return dropped;
  };

  const std::string text =
      prompt_override_.empty() ? roles::default_template(task.kind) : prompt_override_;
  auto prompt = roles::render_prompt(text, task);
  if (!prompt.ok()) return finish(false, "prompt: " + prompt.error().to_string());
  std::vector<ChatMessage> messages = {{"system", prompt->system}, {"user", prompt->user}};

  // The reply is read; a reply that does not parse is sent back once with the reason.
  for (int round = 0; round < 2; ++round) {
    if (cancelled.load(std::memory_order_relaxed)) return stopped();
    ChatRefusal refusal;
    auto reply = client_->chat(messages, cancelled, refusal);
    if (cancelled.load(std::memory_order_relaxed)) return stopped();
    if (refusal.refused) {
      // The hub paces the team: it puts the task back and backs everyone off.
      outcome.rate_limited = true;
      outcome.retry_after_s = refusal.retry_after_s;
    }
    if (!reply.ok()) return finish(false, reply.error().to_string());
    outcome.tokens_in += reply->prompt_tokens;
    outcome.tokens_out += reply->completion_tokens;
    const std::string problem = read_reply(task, reply->content, outcome);
    if (problem.empty()) return finish(true, {});
    if (round == 1) return finish(false, "the model's answer was unusable twice: " + problem);
    messages.push_back({"assistant", reply->content});
    messages.push_back({"user", "Your answer could not be used: " + problem +
                                    "\nAnswer again with the JSON object only."});
  }
  return finish(false, "unreachable");
}

}  // namespace cadre::agents
