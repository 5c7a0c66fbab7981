// The llm brain: a role's prompt to an OpenAI-compatible chat-completions endpoint, and the
// model's reply read back as the role's answer (docs/llm.md).
#pragma once

#include <map>
#include <memory>
#include <string>

#include "cadre/agents/brain.h"
#include "cadre/result.h"

namespace cadre::agents {

class LlmClient;

class LlmBrain final : public Brain {
 public:
  // Parameters (strings, as from the scenario): base_url (required), api_key_env (the name of an
  // environment variable holding the key; never the key itself), temperature, max_tokens,
  // timeout_s, max_retries, concurrency, prompt (a template file overriding the role's default),
  // log_path (a JSON-lines log of every exchange, key redacted). Fails naming a bad parameter, an
  // unset api_key_env variable or an unreadable prompt file.
  static Result<std::unique_ptr<LlmBrain>> create(const std::string& role, const std::string& model,
                                                  const std::map<std::string, std::string>& params);
  ~LlmBrain() override;

  // One task: render the prompt, call the model, parse the reply. A reply that does not parse is
  // sent back once with the parse error; if the second reply fails too, the outcome is ok = false
  // with the reason. Unreachable endpoints and HTTP errors (after the client's retries) are
  // ok = false with the client's message. Tokens are the sum over the calls made.
  BrainAnswer answer(const roles::TaskAssignment& task) override;
  // The same, stopped by `cancelled`: the HTTP request in progress is aborted within about 50 ms
  // of the flag being set, no retry and no second round start, and the answer is
  // cancelled_answer() (ok = false, error "cancelled"), with the tokens of rounds already done.
  BrainAnswer answer(const roles::TaskAssignment& task,
                     const std::atomic<bool>& cancelled) override;
  const std::string& model() const override { return model_; }
  bool blocking() const override { return true; }
  std::uint32_t concurrency() const override { return concurrency_; }

 private:
  LlmBrain() = default;
  std::string role_;
  std::string model_;
  std::string prompt_override_;  // template text, empty: the role's default
  std::uint32_t concurrency_ = 4;
  std::unique_ptr<LlmClient> client_;
};

}  // namespace cadre::agents
