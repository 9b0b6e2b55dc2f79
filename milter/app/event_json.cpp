// event_json.cpp - see event_json.hpp.
#include "app/event_json.hpp"

#include <unistd.h>

#include <ctime>
#include <nlohmann/json.hpp>

namespace staffel::app {

namespace {

using nlohmann::json;

json common(std::string_view type, std::int64_t time, std::string_view node) {
    return json{
        {"v", kEventSchemaVersion}, {"type", type}, {"time", rfc3339_utc(time)}, {"node", node}};
}

std::string dump(const json& j) {
    return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

std::string_view message_type(core::MessageOutcome::Action a) {
    switch (a) {
        case core::MessageOutcome::Action::Pass:
            return "message.accepted";
        case core::MessageOutcome::Action::Hold:
            return "message.held";
        case core::MessageOutcome::Action::Reject:
            return "message.refused";
        case core::MessageOutcome::Action::Tempfail:
            return "message.deferred";
        case core::MessageOutcome::Action::Aborted:
            return "";
    }
    return "";
}

}  // namespace

std::string node_name() {
    char name[256] = {};
    if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') {
        return "unknown";
    }
    return name;
}

std::string rfc3339_utc(std::int64_t time) {
    const auto t = static_cast<std::time_t>(time);
    std::tm tm{};
    gmtime_r(&t, &tm);
    char buf[32];
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return buf;
}

namespace {

// A JSON object written by hand: the message events are written for every
// message on the mail path, where nlohmann::json's tree costs several
// times more. Strings are escaped to pure ASCII (bytes over 0x7f as
// \u00XX), so the output is valid JSON whatever bytes the client sent.
class ObjectWriter {
  public:
    explicit ObjectWriter(std::string& out) : out_(out) { out_ += '{'; }
    void string(std::string_view key, std::string_view value) {
        this->key(key);
        quoted(value);
    }
    void number(std::string_view key, std::uint64_t value) {
        this->key(key);
        out_ += std::to_string(value);
    }
    void raw(std::string_view key, std::string_view text) {
        this->key(key);
        out_ += text;
    }
    void close() { out_ += '}'; }

    static void quote(std::string& out, std::string_view text) {
        static constexpr char kHex[] = "0123456789abcdef";
        out += '"';
        for (const char ch : text) {
            const auto c = static_cast<unsigned char>(ch);
            if (c == '"' || c == '\\') {
                out += '\\';
                out += ch;
            } else if (c >= 0x20 && c < 0x7f) {
                out += ch;
            } else {
                out += "\\u00";
                out += kHex[c >> 4];
                out += kHex[c & 15];
            }
        }
        out += '"';
    }

  private:
    void key(std::string_view k) {
        if (!first_) {
            out_ += ',';
        }
        first_ = false;
        quote(out_, k);
        out_ += ':';
    }
    void quoted(std::string_view v) { quote(out_, v); }

    std::string& out_;
    bool first_ = true;
};

void common_fields(ObjectWriter& w, std::string_view type, std::int64_t time,
                   std::string_view node) {
    w.number("v", kEventSchemaVersion);
    w.string("type", type);
    w.string("time", rfc3339_utc(time));
    w.string("node", node);
}

}  // namespace

std::vector<std::string> message_events(const core::MessageOutcome& o, std::string_view node) {
    std::vector<std::string> out;
    if (const auto type = message_type(o.action); !type.empty()) {
        std::string text;
        text.reserve(512);
        ObjectWriter w(text);
        common_fields(w, type, o.time, node);
        w.string("queue_id", o.queue_id);
        w.string("sender", o.sender);
        w.string("sasl_user", o.sasl_user);
        w.string("client_ip", o.client_addr);
        w.number("recipients", o.recipients);
        w.string("stream", o.stream);
        w.string("route", o.route);
        w.string("tag", o.tag);
        w.string("policy", o.policy_digest);
        std::string sigs = "[";
        for (const auto& s : o.signatures) {
            sigs += sigs.size() > 1 ? ",{" : "{";
            sigs += "\"d\":";
            ObjectWriter::quote(sigs, s.domain);
            sigs += ",\"s\":";
            ObjectWriter::quote(sigs, s.selector);
            sigs += ",\"a\":";
            ObjectWriter::quote(sigs, s.algorithm);
            sigs += '}';
        }
        sigs += ']';
        w.raw("signatures", sigs);
        w.string("dmarc", o.dmarc);
        if (!o.reason.empty()) {
            w.string("reason", o.reason);
        }
        if (!o.reply.empty()) {
            w.string("reply", o.reply);
        }
        w.close();
        out.push_back(std::move(text));
    }
    const auto per_recipient = [&](std::string_view type,
                                   const std::vector<core::RecipientOutcome>& list) {
        for (const auto& r : list) {
            std::string text;
            ObjectWriter w(text);
            common_fields(w, type, o.time, node);
            w.string("queue_id", o.queue_id);
            w.string("sender", o.sender);
            w.string("recipient", r.address);
            w.string("reason", r.reason);
            w.close();
            out.push_back(std::move(text));
        }
    };
    per_recipient("recipient.refused", o.refused);
    per_recipient("recipient.removed", o.removed);
    return out;
}

std::string simple_event(std::string_view type, std::int64_t time, std::string_view node,
                         const std::vector<std::pair<std::string, std::string>>& fields) {
    auto j = common(type, time, node);
    for (const auto& [k, v] : fields) {
        j[k] = v;
    }
    return dump(j);
}

}  // namespace staffel::app
