// webhook_client.hpp - HTTP POSTs of events to a receiver, with libcurl.
//
// Purpose: staffelctl events webhook delivers each event as one POST of
//   its JSON to the receiver's URL (http or https only; redirects are not
//   followed, so a receiver cannot bounce events to another host).
// Thread-safety: one WebhookClient per thread. curl_global_init runs once
//   (std::call_once) before the first client.
// Errors: never throws after construction; a transport failure (refused,
//   timeout, TLS) is a response with status 0 and the reason.
// Secrets: the signature header is passed in by the caller; nothing here
//   logs headers or bodies.
#pragma once

#include <chrono>
#include <string>
#include <string_view>
#include <vector>

namespace staffel::adapters {

struct WebhookResponse {
    long status = 0;    // HTTP status; 0 = no answer (see error)
    std::string error;  // why there was no answer
};

class WebhookClient {
  public:
    // Throws std::runtime_error if libcurl cannot be set up.
    WebhookClient(std::string url, std::chrono::milliseconds timeout);
    ~WebhookClient();
    WebhookClient(const WebhookClient&) = delete;
    WebhookClient& operator=(const WebhookClient&) = delete;

    // POSTs `body` as application/json with the extra `headers`
    // ("Name: value").
    WebhookResponse post(std::string_view body, const std::vector<std::string>& headers);

  private:
    std::string url_;
    std::chrono::milliseconds timeout_;
    void* curl_ = nullptr;  // CURL*, kept for connection reuse
};

// Whether `url` is an absolute http:// or https:// URL with a host.
bool valid_webhook_url(std::string_view url);

}  // namespace staffel::adapters
