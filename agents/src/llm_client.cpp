// The OpenAI-compatible chat-completions client (docs/llm.md).
#include "cadre/agents/llm_client.h"

#define CURL_DISABLE_TYPECHECK
#include <curl/curl.h>
#include <dlfcn.h>
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <exception>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <random>
#include <thread>
#include <utility>

namespace cadre::agents {
namespace {

using json = nlohmann::json;
using Clock = std::chrono::steady_clock;

constexpr std::size_t kBodyExcerpt = 300;
// How often a transfer in progress (and a backoff wait) looks at its cancellation flag.
constexpr int kCancelPollMs = 50;

// libcurl (and the ~30 libraries it pulls in: TLS, Kerberos, LDAP, ...) is loaded on first use,
// so that processes that never call a model -- every agent with another brain, the hub -- do
// not pay for mapping and relocating it at start-up.
struct CurlApi {
  CURLcode (*global_init)(long);
  CURL* (*easy_init)();
  CURLcode (*easy_setopt)(CURL*, CURLoption, ...);
  CURLcode (*easy_getinfo)(CURL*, CURLINFO, ...);
  const char* (*easy_strerror)(CURLcode);
  void (*easy_cleanup)(CURL*);
  curl_slist* (*slist_append)(curl_slist*, const char*);
  void (*slist_free_all)(curl_slist*);
  // A transfer runs on a multi handle so that it can look at its cancellation flag every
  // kCancelPollMs (curl_easy_perform would only call a progress callback about once a second
  // while the server is silent).
  CURLM* (*multi_init)();
  CURLMcode (*multi_add_handle)(CURLM*, CURL*);
  CURLMcode (*multi_remove_handle)(CURLM*, CURL*);
  CURLMcode (*multi_perform)(CURLM*, int*);
  CURLMcode (*multi_wait)(CURLM*, curl_waitfd[], unsigned int, int, int*);
  CURLMsg* (*multi_info_read)(CURLM*, int*);
  const char* (*multi_strerror)(CURLMcode);
  CURLMcode (*multi_cleanup)(CURLM*);
  // libcurl >= 7.66 only (may be null): waits its whole timeout even with no socket to watch.
  CURLMcode (*multi_poll)(CURLM*, curl_waitfd[], unsigned int, int, int*);
};
CurlApi g_curl{};
std::string g_curl_problem;  // why libcurl is not usable, once curl_ready() said so

bool load_curl() {
  void* lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* why = dlerror();
    g_curl_problem = std::string("cannot load libcurl.so.4 (Debian: libcurl4): ") +
                     (why != nullptr ? why : "unknown error");
    return false;
  }
  bool ok = true;
  auto get = [&](auto& fn, const char* name) {
    fn = reinterpret_cast<std::remove_reference_t<decltype(fn)>>(dlsym(lib, name));
    ok = ok && fn != nullptr;
  };
  get(g_curl.global_init, "curl_global_init");
  get(g_curl.easy_init, "curl_easy_init");
  get(g_curl.easy_setopt, "curl_easy_setopt");
  get(g_curl.easy_getinfo, "curl_easy_getinfo");
  get(g_curl.easy_strerror, "curl_easy_strerror");
  get(g_curl.easy_cleanup, "curl_easy_cleanup");
  get(g_curl.slist_append, "curl_slist_append");
  get(g_curl.slist_free_all, "curl_slist_free_all");
  get(g_curl.multi_init, "curl_multi_init");
  get(g_curl.multi_add_handle, "curl_multi_add_handle");
  get(g_curl.multi_remove_handle, "curl_multi_remove_handle");
  get(g_curl.multi_perform, "curl_multi_perform");
  get(g_curl.multi_wait, "curl_multi_wait");
  get(g_curl.multi_info_read, "curl_multi_info_read");
  get(g_curl.multi_strerror, "curl_multi_strerror");
  get(g_curl.multi_cleanup, "curl_multi_cleanup");
  g_curl.multi_poll = reinterpret_cast<decltype(g_curl.multi_poll)>(dlsym(lib, "curl_multi_poll"));
  if (!ok) g_curl_problem = "libcurl.so.4 lacks a function cadre needs (too old?)";
  return ok;
}

// curl_global_init is not thread-safe; call it once, before any easy handle exists. It is never
// cleaned up: other threads may still hold handles at exit, and the OS reclaims everything.
bool curl_ready() {
  static std::once_flag once;
  static CURLcode init_code = CURLE_FAILED_INIT;
  std::call_once(once, [] {
    if (load_curl()) init_code = g_curl.global_init(CURL_GLOBAL_DEFAULT);
    if (g_curl_problem.empty() && init_code != CURLE_OK)
      g_curl_problem = "libcurl failed to initialise";
  });
  return init_code == CURLE_OK;
}

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string excerpt(const std::string& body) {
  std::string out = body.substr(0, kBodyExcerpt);
  for (char& c : out)
    if (c == '\n' || c == '\r' || c == '\t') c = ' ';
  if (body.size() > kBodyExcerpt) out += "...";
  return out;
}

std::string dump(const json& value) {
  return value.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string trim(std::string s) {
  auto not_space = [](unsigned char c) { return !std::isspace(c); };
  s.erase(s.begin(), std::find_if(s.begin(), s.end(), not_space));
  s.erase(std::find_if(s.rbegin(), s.rend(), not_space).base(), s.end());
  return s;
}

// A Retry-After value in seconds (integer or decimal). HTTP dates and garbage give nullopt.
std::optional<double> parse_retry_after(const std::string& value) {
  const std::string text = trim(value);
  if (text.empty()) return std::nullopt;
  for (char c : text)
    if (!std::isdigit(static_cast<unsigned char>(c)) && c != '.') return std::nullopt;
  char* end = nullptr;
  errno = 0;
  const double seconds = std::strtod(text.c_str(), &end);
  if (errno != 0 || end != text.c_str() + text.size() || !std::isfinite(seconds) || seconds < 0)
    return std::nullopt;
  return seconds;
}

// What one HTTP try produced.
struct Exchange {
  CURLcode code = CURLE_OK;
  bool cancelled = false;  // stopped by the caller's flag (code: CURLE_ABORTED_BY_CALLBACK)
  std::string curl_error;  // readable reason when code != CURLE_OK
  long status = 0;         // HTTP status when code == CURLE_OK
  std::string body;
  std::optional<double> retry_after;
  double seconds = 0;
};

struct Capture {
  std::string body;
  std::optional<double> retry_after;
};

size_t on_body(char* data, size_t size, size_t count, void* user) {
  auto* capture = static_cast<Capture*>(user);
  capture->body.append(data, size * count);
  return size * count;
}

size_t on_header(char* data, size_t size, size_t count, void* user) {
  auto* capture = static_cast<Capture*>(user);
  const std::string line(data, size * count);
  // A new status line (e.g. after "100 Continue") starts a new header block.
  if (line.rfind("HTTP/", 0) == 0) {
    capture->retry_after.reset();
    return size * count;
  }
  const auto colon = line.find(':');
  if (colon == std::string::npos) return size * count;
  std::string name = line.substr(0, colon);
  std::transform(name.begin(), name.end(), name.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  if (trim(name) == "retry-after") capture->retry_after = parse_retry_after(line.substr(colon + 1));
  return size * count;
}

// Curl failures worth another try: the server may be back, the network may recover.
bool transient(CURLcode code) {
  switch (code) {
    case CURLE_COULDNT_RESOLVE_PROXY:
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_OPERATION_TIMEDOUT:
    case CURLE_GOT_NOTHING:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
    case CURLE_WEIRD_SERVER_REPLY:
      return true;
    default:
      return false;
  }
}

bool transient_status(long status) { return status == 429 || (status >= 500 && status <= 599); }

std::string utc_now() {
  const auto now = std::chrono::system_clock::now();
  const std::time_t t = std::chrono::system_clock::to_time_t(now);
  const auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(now.time_since_epoch()).count() % 1000;
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
                tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms));
  return buf;
}

void replace_all(std::string& text, const std::string& what, const std::string& with) {
  if (what.empty()) return;
  for (std::size_t at = text.find(what); at != std::string::npos;
       at = text.find(what, at + with.size()))
    text.replace(at, what.size(), with);
}

double default_random() {
  thread_local std::mt19937_64 engine{std::random_device{}()};
  return std::uniform_real_distribution<double>(0.0, 1.0)(engine);
}

// Sleeps `seconds`, or less: returns as soon as `cancelled` is seen true (looked at every
// kCancelPollMs).
void sleep_unless_cancelled(double seconds, const std::atomic<bool>& cancelled) {
  if (!(seconds > 0)) return;
  const auto until = Clock::now() + std::chrono::duration_cast<Clock::duration>(
                                        std::chrono::duration<double>(seconds));
  while (!cancelled.load(std::memory_order_relaxed)) {
    const auto now = Clock::now();
    if (now >= until) return;
    std::this_thread::sleep_for(
        std::min<Clock::duration>(until - now, std::chrono::milliseconds(kCancelPollMs)));
  }
}

// Runs the transfer set up on `curl` to its end, or until `cancelled` is seen true (then
// CURLE_ABORTED_BY_CALLBACK, `was_cancelled` set). A multi-interface failure is
// CURLE_FAILED_INIT with its reason in `problem`.
CURLcode transfer(CURL* curl, const std::atomic<bool>& cancelled, bool& was_cancelled,
                  std::string& problem) {
  CURLM* multi = g_curl.multi_init();
  if (multi == nullptr) {
    problem = "cannot create a curl multi handle";
    return CURLE_FAILED_INIT;
  }
  if (CURLMcode added = g_curl.multi_add_handle(multi, curl); added != CURLM_OK) {
    problem = g_curl.multi_strerror(added);
    g_curl.multi_cleanup(multi);
    return CURLE_FAILED_INIT;
  }
  CURLcode code = CURLE_FAILED_INIT;
  while (true) {
    if (cancelled.load(std::memory_order_relaxed)) {
      was_cancelled = true;
      code = CURLE_ABORTED_BY_CALLBACK;
      break;
    }
    int running = 0;
    CURLMcode mc = g_curl.multi_perform(multi, &running);
    if (mc != CURLM_OK && mc != CURLM_CALL_MULTI_PERFORM) {
      problem = g_curl.multi_strerror(mc);
      break;
    }
    if (running == 0) {
      int left = 0;
      while (CURLMsg* message = g_curl.multi_info_read(multi, &left)) {
        if (message->msg == CURLMSG_DONE && message->easy_handle == curl)
          code = message->data.result;
      }
      if (code == CURLE_FAILED_INIT && problem.empty()) problem = "the transfer ended unreported";
      break;
    }
    int ready = 0;
    if (g_curl.multi_poll != nullptr) {
      mc = g_curl.multi_poll(multi, nullptr, 0, kCancelPollMs, &ready);
    } else {
      mc = g_curl.multi_wait(multi, nullptr, 0, kCancelPollMs, &ready);
      // An old curl_multi_wait returns at once when it has no socket to watch (e.g. while the
      // name resolves): do not spin.
      if (mc == CURLM_OK && ready == 0) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    if (mc != CURLM_OK) {
      problem = g_curl.multi_strerror(mc);
      break;
    }
  }
  g_curl.multi_remove_handle(multi, curl);
  g_curl.multi_cleanup(multi);
  return code;
}

std::string plural(std::uint32_t n, const char* word) {
  return std::to_string(n) + " " + word + (n == 1 ? "" : "s");
}

}  // namespace

struct LlmClient::Impl {
  LlmEndpoint endpoint;
  std::string url;
  std::string no_proxy;  // the environment's no_proxy plus the loopback names
  SleepFn sleep;         // empty: sleep_unless_cancelled
  RandomFn random = default_random;
  std::mutex log_mutex;
  bool log_warned = false;

  Exchange perform(const std::string& request_body, const std::atomic<bool>& cancelled) const;
  void log(const std::string& request_body, const Exchange& exchange, std::uint32_t attempt);
  std::string redact(std::string text) const;
  double backoff(std::uint32_t retry) const;
  Result<ChatResponse> parse(long status, const std::string& body) const;
  Result<ChatResponse> chat(const std::vector<ChatMessage>& messages,
                            const std::atomic<bool>& cancelled, ChatRefusal& refusal);
};

Exchange LlmClient::Impl::perform(const std::string& request_body,
                                  const std::atomic<bool>& cancelled) const {
  Exchange out;
  const auto start = Clock::now();
  CURL* curl = g_curl.easy_init();
  if (curl == nullptr) {
    out.code = CURLE_FAILED_INIT;
    out.curl_error = "cannot create a curl handle";
    return out;
  }
  Capture capture;
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_slist* headers = nullptr;
  headers = g_curl.slist_append(headers, "Content-Type: application/json");
  headers = g_curl.slist_append(headers, "Accept: application/json");
  headers = g_curl.slist_append(headers, "Expect:");  // no 100-continue round trip for big prompts
  if (!endpoint.api_key.empty())
    headers = g_curl.slist_append(headers, ("Authorization: Bearer " + endpoint.api_key).c_str());

  const long timeout_ms = std::max(1L, static_cast<long>(std::llround(endpoint.timeout_s * 1000)));
  g_curl.easy_setopt(curl, CURLOPT_URL, url.c_str());
  g_curl.easy_setopt(curl, CURLOPT_NOSIGNAL, 1L);  // threads + timeouts: no SIGALRM
  g_curl.easy_setopt(curl, CURLOPT_POST, 1L);
  g_curl.easy_setopt(curl, CURLOPT_POSTFIELDS, request_body.data());
  g_curl.easy_setopt(curl, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(request_body.size()));
  g_curl.easy_setopt(curl, CURLOPT_HTTPHEADER, headers);
  g_curl.easy_setopt(curl, CURLOPT_TIMEOUT_MS, timeout_ms);
  g_curl.easy_setopt(curl, CURLOPT_USERAGENT, "cadre-llm-client/0.1");
  g_curl.easy_setopt(curl, CURLOPT_ACCEPT_ENCODING, "");  // whatever curl can decode
  g_curl.easy_setopt(curl, CURLOPT_WRITEFUNCTION, on_body);
  g_curl.easy_setopt(curl, CURLOPT_WRITEDATA, &capture);
  g_curl.easy_setopt(curl, CURLOPT_HEADERFUNCTION, on_header);
  g_curl.easy_setopt(curl, CURLOPT_HEADERDATA, &capture);
  g_curl.easy_setopt(curl, CURLOPT_ERRORBUFFER, error_buffer);
  // Local model servers are never reached through a proxy (curl still honours http_proxy etc.
  // for other hosts; the user's no_proxy is kept, since this option replaces it).
  g_curl.easy_setopt(curl, CURLOPT_NOPROXY, no_proxy.c_str());

  std::string problem;
  out.code = transfer(curl, cancelled, out.cancelled, problem);
  if (out.code == CURLE_OK) {
    g_curl.easy_getinfo(curl, CURLINFO_RESPONSE_CODE, &out.status);
  } else if (out.cancelled) {
    out.curl_error = "cancelled";
  } else {
    out.curl_error = g_curl.easy_strerror(out.code);
    const std::string detail = trim(problem.empty() ? std::string(error_buffer) : problem);
    if (!detail.empty() && detail != out.curl_error) out.curl_error += " (" + detail + ")";
  }
  out.body = std::move(capture.body);
  out.retry_after = capture.retry_after;
  g_curl.slist_free_all(headers);
  g_curl.easy_cleanup(curl);
  out.seconds = seconds_since(start);
  return out;
}

std::string LlmClient::Impl::redact(std::string text) const {
  const std::string& key = endpoint.api_key;
  if (key.empty()) return text;
  replace_all(text, key, "[REDACTED]");
  // The key as it would appear inside a JSON string, should it contain characters JSON escapes.
  std::string escaped = json(key).dump(-1, ' ', false, json::error_handler_t::replace);
  if (escaped.size() >= 2) escaped = escaped.substr(1, escaped.size() - 2);
  if (escaped != key) replace_all(text, escaped, "[REDACTED]");
  return text;
}

void LlmClient::Impl::log(const std::string& request_body, const Exchange& exchange,
                          std::uint32_t attempt) {
  if (endpoint.log_path.empty()) return;
  json line;
  line["time"] = utc_now();
  line["url"] = url;
  line["model"] = endpoint.model;
  line["attempt"] = attempt;
  line["authorization"] = endpoint.api_key.empty() ? "none" : "Bearer [REDACTED]";
  json request = json::parse(request_body, nullptr, false);
  line["request"] = request.is_discarded() ? json(request_body) : request;
  if (exchange.code == CURLE_OK) {
    line["status"] = exchange.status;
    line["response"] = exchange.body;
    if (exchange.retry_after) line["retry_after"] = *exchange.retry_after;
  } else {
    line["status"] = nullptr;
    line["error"] = exchange.curl_error;
    if (!exchange.body.empty()) line["response"] = exchange.body;
  }
  line["seconds"] = exchange.seconds;
  const std::string text = redact(dump(line)) + "\n";

  std::lock_guard<std::mutex> lock(log_mutex);
  // O_APPEND and one write() per line: lines from several processes do not interleave.
  const int fd = ::open(endpoint.log_path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600);
  if (fd < 0) {
    if (!log_warned)
      std::fprintf(stderr, "cadre: cannot open llm log %s: %s\n", endpoint.log_path.c_str(),
                   std::strerror(errno));
    log_warned = true;
    return;
  }
  std::size_t written = 0;
  while (written < text.size()) {
    const ssize_t n = ::write(fd, text.data() + written, text.size() - written);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    written += static_cast<std::size_t>(n);
  }
  ::close(fd);
}

double LlmClient::Impl::backoff(std::uint32_t retry) const {
  const double ceiling =
      std::min(endpoint.backoff_max_s, endpoint.backoff_base_s * std::ldexp(1.0, std::min(retry, 60u)));
  double u = random ? random() : default_random();
  u = std::clamp(u, 0.0, 1.0);
  return std::max(0.0, ceiling * u);
}

Result<ChatResponse> LlmClient::Impl::parse(long status, const std::string& body) const {
  const json reply = json::parse(body, nullptr, false);
  if (reply.is_discarded())
    return make_error("HTTP " + std::to_string(status) + " from " + url +
                      " but the body is not JSON: " + excerpt(body));
  const json* content = nullptr;
  if (reply.is_object()) {
    auto choices = reply.find("choices");
    if (choices != reply.end() && choices->is_array() && !choices->empty() &&
        (*choices)[0].is_object()) {
      auto message = (*choices)[0].find("message");
      if (message != (*choices)[0].end() && message->is_object()) {
        auto text = message->find("content");
        if (text != message->end() && text->is_string()) content = &*text;
      }
    }
  }
  if (content == nullptr) {
    std::string reason = "HTTP " + std::to_string(status) + " from " + url +
                         " but the reply has no choices[0].message.content";
    if (reply.is_object() && reply.contains("error")) {
      const json& error = reply["error"];
      if (error.is_object() && error.contains("message") && error["message"].is_string())
        reason += " (error: " + error["message"].get<std::string>() + ")";
      else
        reason += " (error: " + excerpt(dump(error)) + ")";
    }
    return make_error(reason + ": " + excerpt(body));
  }
  ChatResponse response;
  response.content = content->get<std::string>();
  auto count = [&](const char* field) -> std::uint64_t {
    if (!reply.contains("usage") || !reply["usage"].is_object()) return 0;
    const json& usage = reply["usage"];
    auto it = usage.find(field);
    if (it == usage.end()) return 0;
    if (it->is_number_unsigned()) return it->get<std::uint64_t>();
    if (it->is_number_integer()) return static_cast<std::uint64_t>(std::max<std::int64_t>(0, it->get<std::int64_t>()));
    if (it->is_number_float()) return static_cast<std::uint64_t>(std::max(0.0, it->get<double>()));
    return 0;
  };
  response.prompt_tokens = count("prompt_tokens");
  response.completion_tokens = count("completion_tokens");
  return response;
}

Result<ChatResponse> LlmClient::Impl::chat(const std::vector<ChatMessage>& messages,
                                           const std::atomic<bool>& cancelled,
                                           ChatRefusal& refusal) {
  const auto start = Clock::now();
  const auto cancelled_error = [&] { return make_error("request to " + url + " cancelled"); };
  if (!curl_ready()) return make_error(g_curl_problem + "; cannot call " + url);

  json request;
  request["model"] = endpoint.model;
  json list = json::array();
  for (const auto& message : messages)
    list.push_back({{"role", message.role}, {"content", message.content}});
  request["messages"] = std::move(list);
  request["temperature"] = endpoint.temperature;
  request["max_tokens"] = endpoint.max_tokens;
  const std::string body = dump(request);

  const std::uint32_t tries = endpoint.max_retries + 1;
  std::string last_reason;
  bool last_unreachable = false;
  for (std::uint32_t attempt = 1; attempt <= tries; ++attempt) {
    if (cancelled.load(std::memory_order_relaxed)) return cancelled_error();  // no new try
    const Exchange exchange = perform(body, cancelled);
    log(body, exchange, attempt);
    if (exchange.cancelled) return cancelled_error();
    std::optional<double> wait;
    if (exchange.code != CURLE_OK) {
      if (!transient(exchange.code))
        return make_error("request to " + url + " failed: " + exchange.curl_error);
      last_reason = exchange.curl_error;
      last_unreachable = true;
    } else if (exchange.status >= 200 && exchange.status <= 299) {
      auto response = parse(exchange.status, exchange.body);
      if (!response.ok()) return response;
      response->attempts = attempt;
      response->seconds = seconds_since(start);
      return response;
    } else if (exchange.status == 429 && endpoint.refusal_ends_call) {
      // The hub paces the whole team: it decides when this goes again, for everyone.
      refusal.refused = true;
      refusal.retry_after_s = exchange.retry_after;
      return make_error("HTTP 429 from " + url + " (the provider's quota): " +
                        excerpt(exchange.body));
    } else if (transient_status(exchange.status)) {
      last_reason = "HTTP " + std::to_string(exchange.status);
      if (!exchange.body.empty()) last_reason += ": " + excerpt(exchange.body);
      last_unreachable = false;
      if (exchange.retry_after) wait = std::min(*exchange.retry_after, endpoint.backoff_max_s);
    } else {
      std::string message = "HTTP " + std::to_string(exchange.status) + " from " + url + ": " +
                            excerpt(exchange.body);
      return make_error(redact(std::move(message)));
    }
    if (attempt == tries) break;
    const double seconds = wait ? std::max(0.0, *wait) : backoff(attempt - 1);
    if (sleep)
      sleep(seconds);
    else
      sleep_unless_cancelled(seconds, cancelled);
  }
  const std::string what = last_unreachable ? "cannot reach " : "no usable answer from ";
  return make_error(
      redact(what + url + " after " + plural(tries, "attempt") + ": " + last_reason));
}

LlmClient::LlmClient(LlmEndpoint endpoint) : impl_(std::make_unique<Impl>()) {
  impl_->endpoint = std::move(endpoint);
  std::string base = impl_->endpoint.base_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  impl_->url = base + "/chat/completions";
  std::string no_proxy = "localhost,127.0.0.1,::1";
  for (const char* name : {"no_proxy", "NO_PROXY"}) {
    const char* value = std::getenv(name);
    if (value != nullptr && *value != '\0') {
      no_proxy = std::string(value) == "*" ? "*" : std::string(value) + "," + no_proxy;
      break;
    }
  }
  impl_->no_proxy = std::move(no_proxy);
}

LlmClient::~LlmClient() = default;

Result<ChatResponse> LlmClient::chat(const std::vector<ChatMessage>& messages) {
  const std::atomic<bool> never{false};
  return chat(messages, never);
}

Result<ChatResponse> LlmClient::chat(const std::vector<ChatMessage>& messages,
                                     const std::atomic<bool>& cancelled) {
  ChatRefusal ignored;
  return chat(messages, cancelled, ignored);
}

Result<ChatResponse> LlmClient::chat(const std::vector<ChatMessage>& messages,
                                     const std::atomic<bool>& cancelled, ChatRefusal& refusal) {
  try {
    return impl_->chat(messages, cancelled, refusal);
  } catch (const std::exception& e) {
    return make_error("llm request to " + impl_->url + " failed: " + e.what());
  } catch (...) {
    return make_error("llm request to " + impl_->url + " failed: unknown error");
  }
}

void LlmClient::set_sleep(SleepFn sleep) { impl_->sleep = std::move(sleep); }
void LlmClient::set_random(RandomFn random) { impl_->random = std::move(random); }
const LlmEndpoint& LlmClient::endpoint() const { return impl_->endpoint; }
const std::string& LlmClient::url() const { return impl_->url; }

}  // namespace cadre::agents
