// http_server.hpp - a small HTTP/1.1 server for staffelctl web (civetweb).
//
// Purpose: serves every request through one handler function that sees a
//   plain HttpRequest and returns an HttpResponse; civetweb stays inside
//   this adapter. No files are served from disk, no directory listings, no
//   CGI or Lua: only what the handler returns.
// Bounds: request line and headers at most kMaxRequestBytes (civetweb
//   answers 413 past that), request bodies are not read, a request that
//   stalls is dropped after 10 s, at most `threads` requests at once.
// Thread-safety: the handler runs on civetweb's worker threads, several at
//   once; it must be thread-safe. start() and the destructor run on one
//   thread.
// Errors: start() returns a Result error with civetweb's text (address in
//   use, cannot bind); a handler that throws answers 500 (the exception's
//   text is not sent to the client).
// Outside input: method, path, query string and the Authorization header
//   come from the network; they are passed on as bytes, unvalidated.
#pragma once

#include <cstddef>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace staffel::adapters {

struct HttpRequest {
    std::string method;         // "GET"
    std::string path;           // decoded path, e.g. "/api/overview"
    std::string query;          // raw query string without "?", not decoded
    std::string authorization;  // the Authorization header, "" if absent
    std::string remote;         // the client's IP address
};

struct HttpResponse {
    int status = 200;
    std::string content_type = "application/json";
    std::string body;
    std::vector<std::pair<std::string, std::string>> headers;  // extra header fields
};

using HttpHandler = std::function<HttpResponse(const HttpRequest&)>;

inline constexpr std::size_t kMaxRequestBytes = 16384;

class HttpServer {
  public:
    // Listens on `listen` ("127.0.0.1:8025", "[::1]:8025"): a literal IP.
    static core::Result<std::unique_ptr<HttpServer>> start(const std::string& listen,
                                                           unsigned threads, HttpHandler handler);
    ~HttpServer();
    HttpServer(const HttpServer&) = delete;
    HttpServer& operator=(const HttpServer&) = delete;

  private:
    HttpServer() = default;
    static int serve(void* connection, void* self);

    HttpHandler handler_;
    void* context_ = nullptr;  // mg_context
};

// The reason phrase of an HTTP status code ("Not Found").
const char* status_text(int status);

}  // namespace staffel::adapters
