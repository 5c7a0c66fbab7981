// HttpTextServer: a tiny HTTP server for text pages (the hub's Prometheus /metrics).
//
// One background thread, POSIX sockets and poll(). It answers GET and HEAD over HTTP/1.0 and 1.1
// and closes every connection after its response (`Connection: close`):
//   200 for a published path (or `/`, a short index of the published paths, unless published),
//   404 for an unknown path, 405 (with `Allow: GET, HEAD`) for another method, 400 for a request
//   that is not HTTP/1.x, 431 for a request head larger than max_request_bytes.
// A query string is ignored for matching. Request bodies are never read (they are discarded).
//
// Hostile or slow clients cannot stall it or grow its memory: a request head is bounded, every
// connection has a deadline (a client that sends nothing is closed when it passes), the number of
// open connections is bounded (when full, the oldest connection still sending its request is
// dropped for a new one), and writes never raise SIGPIPE.
//
// Thread safety: publish(), bound_address() and requests_served() may be called from any thread.
// publish() never waits for the network: it swaps a pointer under a mutex.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "cadre/result.h"

namespace cadre::transport {

struct HttpTextServerOptions {
  // Largest request head (request line + headers) accepted; larger ones are answered 431.
  std::size_t max_request_bytes = 8 * 1024;
  // A connection must deliver its request head within this time of being accepted, and then take
  // its response within this time again; otherwise it is closed.
  std::chrono::milliseconds io_timeout{5000};
  // Connections open at once (at least 1).
  std::size_t max_connections = 64;
};

class HttpTextServer {
 public:
  // Listens on "HOST:PORT": HOST an IPv4 literal, a host name, or an IPv6 literal in brackets
  // ("[::1]:9100"); an empty HOST (":9100") means every IPv4 interface. PORT 0 picks a free port.
  // Fails, naming the address, when it is malformed, does not resolve or cannot be bound.
  static Result<std::unique_ptr<HttpTextServer>> start(const std::string& address,
                                                       const HttpTextServerOptions& options = {});

  // Stops the thread (promptly: it does not wait for clients) and closes every socket.
  ~HttpTextServer();
  HttpTextServer(const HttpTextServer&) = delete;
  HttpTextServer& operator=(const HttpTextServer&) = delete;

  // "HOST:PORT" as bound: the numeric address ("127.0.0.1:40123", "[::1]:9100") and the real port.
  std::string bound_address() const;
  std::uint16_t port() const;

  // Serves `body` with `content_type` at `path` (exact match, e.g. "/metrics") from now on,
  // replacing what was published there before.
  void publish(const std::string& path, std::string body, std::string content_type);

  // Requests answered so far, whatever their status (counted when the response is queued, i.e.
  // before its first byte is sent).
  std::uint64_t requests_served() const;

 private:
  struct Impl;
  explicit HttpTextServer(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace cadre::transport
