// A client for OpenAI-compatible chat-completions endpoints (docs/llm.md): one POST to
// {base_url}/chat/completions per try, retries with full-jitter exponential backoff on transient
// failures (connection errors, timeouts, HTTP 429 and 5xx, honouring Retry-After), and an optional
// JSON-lines log of every exchange with the API key redacted. Never throws.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "cadre/result.h"

namespace cadre::agents {

struct ChatMessage {
  std::string role;  // "system" | "user" | "assistant"
  std::string content;
};

struct LlmEndpoint {
  std::string base_url;  // e.g. http://127.0.0.1:11434/v1 ; the client POSTs {base_url}/chat/completions
  std::string model;
  std::string api_key;  // already resolved by the caller; empty: no Authorization header
  double temperature = 0.2;
  std::uint32_t max_tokens = 2048;
  double timeout_s = 120;          // per request, whole transfer
  std::uint32_t max_retries = 3;   // retries after the first try
  double backoff_base_s = 0.5;     // retry k (0-based) waits uniform(0, min(max, base * 2^k))
  double backoff_max_s = 30;       // also caps a server's Retry-After
  std::string log_path;            // non-empty: append one JSON line per HTTP exchange
  // The hub paces the team to the endpoint's quota (scenario models:): a refusal (HTTP 429) ends
  // the call at once and is reported to the caller (ChatRefusal), which tells the hub, instead
  // of being retried here.
  bool refusal_ends_call = false;
};

// A call that ended on the provider's refusal (HTTP 429), with refusal_ends_call set.
struct ChatRefusal {
  bool refused = false;
  std::optional<double> retry_after_s;  // the provider's Retry-After, if it sent one
};

struct ChatResponse {
  std::string content;
  std::uint64_t prompt_tokens = 0;
  std::uint64_t completion_tokens = 0;
  std::uint32_t attempts = 1;  // HTTP tries made, including the successful one
  double seconds = 0;          // wall time of the whole call, retries and waits included
};

class LlmClient {
 public:
  // Waits `seconds` (the backoff between tries). Default: std::this_thread::sleep_for in steps
  // of at most 50 ms, ending early when the call is cancelled.
  using SleepFn = std::function<void(double seconds)>;
  // Returns a uniform number in [0, 1) (the backoff jitter). Default: a per-thread Mersenne
  // twister seeded from std::random_device.
  using RandomFn = std::function<double()>;

  explicit LlmClient(LlmEndpoint endpoint);
  ~LlmClient();
  LlmClient(const LlmClient&) = delete;
  LlmClient& operator=(const LlmClient&) = delete;

  // One chat completion. Thread-safe: several threads may call chat() at once (one CURL easy
  // handle per call). Errors name the URL; exhausted retries name the number of attempts and the
  // last reason.
  Result<ChatResponse> chat(const std::vector<ChatMessage>& messages);
  // The same, stopped by `cancelled` (set from any thread): a request in progress is aborted
  // within about 50 ms of the flag being set, a backoff wait is cut short, and no new try
  // starts. A stopped call fails with "request to {url} cancelled"; an aborted try is still
  // logged (error "cancelled"). An injected SleepFn is not interrupted, but no try follows it.
  Result<ChatResponse> chat(const std::vector<ChatMessage>& messages,
                            const std::atomic<bool>& cancelled);
  // The same; with refusal_ends_call, a 429 fills `refusal` and fails the call at once.
  Result<ChatResponse> chat(const std::vector<ChatMessage>& messages,
                            const std::atomic<bool>& cancelled, ChatRefusal& refusal);

  // Injection points for tests. Set them before the first chat(); they are called from whichever
  // thread calls chat(), so they must be thread-safe if chat() is called concurrently.
  void set_sleep(SleepFn sleep);
  void set_random(RandomFn random);

  const LlmEndpoint& endpoint() const;
  // {base_url}/chat/completions (one slash between them).
  const std::string& url() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace cadre::agents
