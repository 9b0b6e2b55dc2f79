// session.cpp - see session.hpp.
#include "core/session.hpp"

#include <utility>

namespace staffel::core {

std::string log_escape(std::string_view text, std::size_t max_bytes) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    out.reserve(std::min(text.size(), max_bytes) + 8);
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (out.size() >= max_bytes) {
            out += "...";
            break;
        }
        const auto c = static_cast<unsigned char>(text[i]);
        if (c >= 0x21 && c < 0x7f && c != '\\') {
            out += static_cast<char>(c);
        } else {
            out += "\\x";
            out += kHex[c >> 4];
            out += kHex[c & 15];
        }
    }
    return out;
}

Session::Session(PolicySource policies, Logger& log, InFlight* in_flight)
    : policies_(std::move(policies)), log_(log), in_flight_(in_flight), policy_(policies_()) {
    if (in_flight_ != nullptr) {
        in_flight_->begin();
    }
}

Session::~Session() {
    close();
}

void Session::connect(std::string_view hostname, std::string_view address) {
    client_host_ = log_escape(hostname, 128);
    client_addr_ = log_escape(address, 64);
}

Verdict Session::mail_from(const SenderInfo& sender) {
    if (message_) {
        // The MTA started a new message without ending the last one; treat
        // the old one as aborted so nothing it reserved stays consumed.
        abort();
    }
    policy_ = policies_();
    message_.emplace();
    message_->sender = sender;
    if (log_.enabled(LogLevel::Debug)) {
        log_.debug("MAIL FROM:<" + log_escape(sender.address) + "> client=" + client_host_ + "[" +
                   client_addr_ + "] identity=" + identity());
    }
    return Verdict::proceed();
}

Verdict Session::rcpt_to(std::string_view /*recipient*/) {
    if (message_) {
        ++message_->recipients;
    }
    return Verdict::proceed();
}

Verdict Session::end_of_message(std::string_view queue_id) {
    finish(queue_id, "pass");
    return Verdict::proceed();
}

void Session::abort() {
    if (message_) {
        finish({}, "aborted");
    }
}

void Session::close() {
    abort();
    if (open_ && in_flight_ != nullptr) {
        in_flight_->end();
    }
    open_ = false;
}

std::string Session::identity() const {
    if (message_ && !message_->sender.sasl_user.empty()) {
        return "sasl:" + log_escape(message_->sender.sasl_user, 128);
    }
    return "ip:" + (client_addr_.empty() ? std::string("unknown") : client_addr_);
}

void Session::finish(std::string_view queue_id, std::string_view action) {
    if (!message_) {
        return;
    }
    std::string qid(queue_id.empty() ? std::string_view(message_->sender.queue_id) : queue_id);
    if (qid.empty()) {
        qid = "NOQUEUE";
    }
    const LogLevel level = action == "aborted" ? LogLevel::Debug : LogLevel::Info;
    if (log_.enabled(level)) {
        std::string line = log_escape(qid, 64);
        line += ": client=" + client_host_ + "[" + client_addr_ + "]";
        line += " identity=" + identity();
        line += " from=<" + log_escape(message_->sender.address) + ">";
        line += " rcpts=" + std::to_string(message_->recipients);
        line += " policy=" + (policy_ ? policy_->digest : std::string("none"));
        line += " action=";
        line += action;
        log_.log(level, line);
    }
    message_.reset();
}

}  // namespace staffel::core
