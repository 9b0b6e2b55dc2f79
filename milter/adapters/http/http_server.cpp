// http_server.cpp - see http_server.hpp.
#include "adapters/http/http_server.hpp"

#include <civetweb.h>

#include <exception>
#include <mutex>
#include <string_view>

namespace staffel::adapters {

namespace {

std::once_flag library_once;

void write_response(mg_connection* conn, const HttpResponse& r) {
    std::string head = "HTTP/1.1 " + std::to_string(r.status) + " " + status_text(r.status) +
                       "\r\nContent-Type: " + r.content_type +
                       "\r\nContent-Length: " + std::to_string(r.body.size()) + "\r\n";
    for (const auto& [name, value] : r.headers) {
        head += name;
        head += ": ";
        head += value;
        head += "\r\n";
    }
    head += "Connection: close\r\n\r\n";
    mg_write(conn, head.data(), head.size());
    if (!r.body.empty()) {
        mg_write(conn, r.body.data(), r.body.size());
    }
}

}  // namespace

const char* status_text(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 204:
            return "No Content";
        case 304:
            return "Not Modified";
        case 400:
            return "Bad Request";
        case 401:
            return "Unauthorized";
        case 403:
            return "Forbidden";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 413:
            return "Payload Too Large";
        case 500:
            return "Internal Server Error";
        case 503:
            return "Service Unavailable";
        default:
            return "Unknown";
    }
}

core::Result<std::unique_ptr<HttpServer>> HttpServer::start(const std::string& listen,
                                                            unsigned threads,
                                                            HttpHandler handler) {
    std::call_once(library_once, [] { mg_init_library(0); });
    std::unique_ptr<HttpServer> server(new HttpServer());
    server->handler_ = std::move(handler);
    const std::string thread_count = std::to_string(threads < 1 ? 1 : threads);
    const std::string max_request = std::to_string(kMaxRequestBytes);
    const char* options[] = {"listening_ports",
                             listen.c_str(),
                             "num_threads",
                             thread_count.c_str(),
                             "request_timeout_ms",
                             "10000",
                             "max_request_size",
                             max_request.c_str(),
                             "enable_keep_alive",
                             "no",
                             "enable_directory_listing",
                             "no",
                             nullptr};
    mg_callbacks callbacks{};
    mg_init_data init{};
    init.callbacks = &callbacks;
    init.user_data = server.get();
    init.configuration_options = options;
    char text[256] = {0};
    unsigned code = 0;
    mg_error_data error{};
    error.code = &code;
    error.text = text;
    error.text_buffer_size = sizeof text;
    mg_context* ctx = mg_start2(&init, &error);
    if (ctx == nullptr) {
        return core::make_error("cannot listen on " + listen + ": " +
                                (text[0] != 0 ? std::string(text) : std::string("unknown error")));
    }
    server->context_ = ctx;
    mg_set_request_handler(
        ctx, "/",
        [](mg_connection* conn, void* self) { return HttpServer::serve(conn, self); },
        server.get());
    return server;
}

HttpServer::~HttpServer() {
    if (context_ != nullptr) {
        mg_stop(static_cast<mg_context*>(context_));
    }
}

int HttpServer::serve(void* connection, void* self) {
    auto* conn = static_cast<mg_connection*>(connection);
    auto* server = static_cast<HttpServer*>(self);
    const mg_request_info* info = mg_get_request_info(conn);
    HttpRequest request;
    request.method = info->request_method != nullptr ? info->request_method : "";
    request.path = info->local_uri != nullptr ? info->local_uri : "/";
    request.query = info->query_string != nullptr ? info->query_string : "";
    request.remote = info->remote_addr;
    if (const char* auth = mg_get_header(conn, "Authorization"); auth != nullptr) {
        request.authorization = auth;
    }
    HttpResponse response;
    try {
        response = server->handler_(request);
    } catch (const std::exception&) {
        response = HttpResponse{500, "application/json", "{\"error\":\"internal error\"}\n", {}};
    }
    write_response(conn, response);
    return response.status;
}

}  // namespace staffel::adapters
