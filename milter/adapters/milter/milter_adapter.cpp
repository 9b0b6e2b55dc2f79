// milter_adapter.cpp - see milter_adapter.hpp.
#include "adapters/milter/milter_adapter.hpp"

#include <arpa/inet.h>
#include <libmilter/mfapi.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <exception>
#include <memory>
#include <new>

namespace staffel::adapters {
namespace {

MilterContext g_ctx;  // written once before smfi_main(), then read-only

// Actions we may take (DESIGN.md, "negotiate").
constexpr unsigned long kActions = SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_CHGFROM | SMFIF_ADDRCPT |
                                   SMFIF_DELRCPT | SMFIF_QUARANTINE | SMFIF_SETSYMLIST;
// Stages we skip, and stages that never get a reply from us. Every stage
// the MTA sends costs libmilter a wake-up of its pool controller and of a
// worker thread, so even the connect stage is skipped: the client's address
// and name come as macros with MAIL FROM instead.
// The header and body stages are skipped too when the policy does not sign.
constexpr unsigned long kContentStages = SMFIP_NOHDRS | SMFIP_NOEOH | SMFIP_NOBODY;
constexpr unsigned long kSkipped =
    SMFIP_NOCONNECT | SMFIP_NOHELO | SMFIP_NOUNKNOWN | SMFIP_NODATA | kContentStages;
constexpr unsigned long kNoReply = SMFIP_NR_CONN | SMFIP_NR_MAIL | SMFIP_NR_RCPT | SMFIP_NR_HELO |
                                   SMFIP_NR_HDR | SMFIP_NR_EOH | SMFIP_NR_BODY | SMFIP_NR_DATA |
                                   SMFIP_NR_UNKN;
constexpr unsigned long kWanted = kSkipped | kNoReply | SMFIP_HDR_LEADSPC;

struct Connection {
    explicit Connection(const MilterContext& c)
        : session(c.policies, *c.log, c.in_flight, c.sha256, {}, c.quota, c.suppress) {
        session.route_status(c.route_status);
        session.srs_hmac(c.srs_hmac);
        session.spf_checker(c.spf);
        session.dmarc(c.org_domain, c.dmarc_stats);
        session.outcomes(c.outcomes);
    }
    core::Session session;
    unsigned long steps = 0;  // negotiated protocol flags
};

Connection* connection_of(SMFICTX* ctx) {
    auto* conn = static_cast<Connection*>(smfi_getpriv(ctx));
    if (conn == nullptr) {
        conn = new Connection(g_ctx);
        smfi_setpriv(ctx, conn);
    }
    return conn;
}

std::string macro(SMFICTX* ctx, const char* name) {
    const char* v = smfi_getsymval(ctx, const_cast<char*>(name));
    return v == nullptr ? std::string() : std::string(v);
}

// libmilter's reply text is a format string of sorts: '%' must be doubled.
std::string reply_text(const std::string& text) {
    std::string out;
    for (char c : text) {
        out += c;
        if (c == '%') {
            out += '%';
        }
    }
    return out;
}

sfsistat answer(SMFICTX* ctx, const Connection& conn, unsigned long no_reply_flag,
                const core::Verdict& v) {
    switch (v.action) {
        case core::Verdict::Action::Continue:
            return (conn.steps & no_reply_flag) != 0 ? SMFIS_NOREPLY : SMFIS_CONTINUE;
        case core::Verdict::Action::Tempfail: {
            auto text = reply_text(v.text);
            smfi_setreply(ctx, const_cast<char*>(v.rcode.c_str()),
                          const_cast<char*>(v.xcode.c_str()), text.data());
            return SMFIS_TEMPFAIL;
        }
        case core::Verdict::Action::Reject: {
            auto text = reply_text(v.text);
            smfi_setreply(ctx, const_cast<char*>(v.rcode.c_str()),
                          const_cast<char*>(v.xcode.c_str()), text.data());
            return SMFIS_REJECT;
        }
    }
    return SMFIS_TEMPFAIL;
}

// Runs one callback body; anything thrown becomes a logged tempfail.
template <typename Body>
sfsistat guarded(SMFICTX* ctx, const char* stage, Body body) noexcept {
    try {
        return body();
    } catch (const std::exception& e) {
        g_ctx.log->error(std::string("internal error in ") + stage + ": " + e.what() +
                         "; answering tempfail");
    } catch (...) {
        g_ctx.log->error(std::string("internal error in ") + stage + "; answering tempfail");
    }
    try {
        smfi_setreply(ctx, const_cast<char*>("451"), const_cast<char*>("4.3.0"),
                      const_cast<char*>("Staffel: internal error, try again later"));
    } catch (...) {
    }
    return SMFIS_TEMPFAIL;
}

std::string address_text(_SOCK_ADDR* sa) {
    if (sa == nullptr) {
        return {};
    }
    char buf[INET6_ADDRSTRLEN] = {};
    if (sa->sa_family == AF_INET) {
        const auto* in = reinterpret_cast<const sockaddr_in*>(sa);
        ::inet_ntop(AF_INET, &in->sin_addr, buf, sizeof buf);
    } else if (sa->sa_family == AF_INET6) {
        const auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
        ::inet_ntop(AF_INET6, &in6->sin6_addr, buf, sizeof buf);
    } else if (sa->sa_family == AF_UNIX) {
        return "local";
    }
    return buf;
}

std::string strip_brackets(const char* arg) {
    std::string s = arg == nullptr ? std::string() : std::string(arg);
    if (s.size() >= 2 && s.front() == '<' && s.back() == '>') {
        s = s.substr(1, s.size() - 2);
    }
    return s;
}

// Header values travel to the MTA with bare LF line breaks (the MTA's own
// line ends; Postfix writes CRLF on the wire).
std::string to_mta_line_ends(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    for (std::size_t i = 0; i < value.size(); ++i) {
        if (value[i] == '\r' && i + 1 < value.size() && value[i + 1] == '\n') {
            continue;
        }
        out += value[i];
    }
    return out;
}

// The session's edits of one message, as smfi_* calls.
class SmfiEdits final : public core::MessageEdits {
  public:
    explicit SmfiEdits(SMFICTX* ctx) : ctx_(ctx) {}
    bool insert_header(std::string_view name, std::string_view value) override {
        std::string n(name);
        auto v = to_mta_line_ends(value);
        return smfi_insheader(ctx_, 0, n.data(), v.data()) == MI_SUCCESS;
    }
    bool quarantine(std::string_view reason) override {
        std::string r(reason.substr(0, 900));
        return smfi_quarantine(ctx_, r.data()) == MI_SUCCESS;
    }
    bool delete_recipient(std::string_view recipient) override {
        std::string r(recipient);
        return smfi_delrcpt(ctx_, r.data()) == MI_SUCCESS;
    }
    bool change_sender(std::string_view sender) override {
        std::string s = "<" + std::string(sender) + ">";
        return smfi_chgfrom(ctx_, s.data(), nullptr) == MI_SUCCESS;
    }
    bool remove_header(std::string_view name, int index) override {
        std::string n(name);
        return smfi_chgheader(ctx_, n.data(), index, nullptr) == MI_SUCCESS;
    }
    bool append_header(std::string_view name, std::string_view value) override {
        std::string n(name);
        auto v = to_mta_line_ends(value);
        return smfi_addheader(ctx_, n.data(), v.data()) == MI_SUCCESS;
    }

  private:
    SMFICTX* ctx_;
};

extern "C" {

sfsistat on_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long /*f2*/,
                      unsigned long /*f3*/, unsigned long* pf0, unsigned long* pf1,
                      unsigned long* pf2, unsigned long* pf3) {
    return guarded(ctx, "negotiate", [&] {
        auto* conn = connection_of(ctx);
        *pf0 = kActions & f0;
        unsigned long wanted = kWanted;
        if (conn->session.wants_content()) {
            wanted &= ~kContentStages;
        }
        if (conn->session.wants_rcpt_replies()) {
            wanted &= ~static_cast<unsigned long>(SMFIP_NR_RCPT);  // RCPT may be refused
        }
        *pf1 = wanted & f1;
        conn->session.content_negotiated((*pf1 & kContentStages) == 0);
        conn->session.rcpt_replies_negotiated((*pf1 & SMFIP_NR_RCPT) == 0);
        *pf2 = 0;
        *pf3 = 0;
        conn->steps = *pf1;
        core::MtaActions offered;
        offered.add_headers = (f0 & SMFIF_ADDHDRS) != 0;
        offered.change_headers = (f0 & SMFIF_CHGHDRS) != 0;
        offered.change_from = (f0 & SMFIF_CHGFROM) != 0;
        offered.delete_rcpt = (f0 & SMFIF_DELRCPT) != 0;
        offered.quarantine = (f0 & SMFIF_QUARANTINE) != 0;
        conn->session.actions_offered(offered);
        if ((f0 & kActions) != kActions && g_ctx.log->enabled(core::LogLevel::Debug)) {
            g_ctx.log->debug("the MTA does not offer every milter action Staffel may use");
        }
        smfi_setsymlist(ctx, SMFIM_ENVFROM,
                        const_cast<char*>("i j {daemon_name} {client_addr} {client_name} "
                                          "{client_port} {auth_authen} {auth_type} {mail_addr}"));
        smfi_setsymlist(ctx, SMFIM_EOM, const_cast<char*>("i"));
        return SMFIS_CONTINUE;
    });
}

sfsistat on_connect(SMFICTX* ctx, char* hostname, _SOCK_ADDR* addr) {
    return guarded(ctx, "connect", [&] {
        auto* conn = connection_of(ctx);
        conn->session.connect(hostname == nullptr ? "" : hostname, address_text(addr));
        return answer(ctx, *conn, SMFIP_NR_CONN, core::Verdict::proceed());
    });
}

sfsistat on_helo(SMFICTX* ctx, char* /*helo*/) {
    return guarded(ctx, "helo", [&] {
        return answer(ctx, *connection_of(ctx), SMFIP_NR_HELO, core::Verdict::proceed());
    });
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) {
    return guarded(ctx, "envfrom", [&] {
        auto* conn = connection_of(ctx);
        if ((conn->steps & SMFIP_NOCONNECT) != 0) {
            conn->session.connect(macro(ctx, "{client_name}"), macro(ctx, "{client_addr}"));
        }
        core::SenderInfo sender;
        sender.address = strip_brackets(argv != nullptr ? argv[0] : nullptr);
        sender.sasl_user = macro(ctx, "{auth_authen}");
        sender.queue_id = macro(ctx, "i");
        // Postfix's cleanup(8) presents mail submitted without SMTP as a
        // connection from localhost port 0; a real client has a port.
        sender.non_smtp = macro(ctx, "{client_port}") == "0";
        sender.daemon_name = macro(ctx, "{daemon_name}");
        return answer(ctx, *conn, SMFIP_NR_MAIL, conn->session.mail_from(sender));
    });
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) {
    return guarded(ctx, "envrcpt", [&] {
        auto* conn = connection_of(ctx);
        const auto rcpt = strip_brackets(argv != nullptr ? argv[0] : nullptr);
        return answer(ctx, *conn, SMFIP_NR_RCPT, conn->session.rcpt_to(rcpt));
    });
}

sfsistat on_data(SMFICTX* ctx) {
    return guarded(ctx, "data", [&] {
        return answer(ctx, *connection_of(ctx), SMFIP_NR_DATA, core::Verdict::proceed());
    });
}

sfsistat on_unknown(SMFICTX* ctx, const char* /*command*/) {
    return guarded(ctx, "unknown", [&] {
        return answer(ctx, *connection_of(ctx), SMFIP_NR_UNKN, core::Verdict::proceed());
    });
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) {
    return guarded(ctx, "header", [&] {
        auto* conn = connection_of(ctx);
        conn->session.header(name == nullptr ? "" : name, value == nullptr ? "" : value);
        return answer(ctx, *conn, SMFIP_NR_HDR, core::Verdict::proceed());
    });
}

sfsistat on_eoh(SMFICTX* ctx) {
    return guarded(ctx, "eoh", [&] {
        auto* conn = connection_of(ctx);
        conn->session.end_of_headers();
        return answer(ctx, *conn, SMFIP_NR_EOH, core::Verdict::proceed());
    });
}

sfsistat on_body(SMFICTX* ctx, unsigned char* chunk, size_t len) {
    return guarded(ctx, "body", [&] {
        auto* conn = connection_of(ctx);
        if (chunk != nullptr) {
            conn->session.body(std::string_view(reinterpret_cast<const char*>(chunk), len));
        }
        return answer(ctx, *conn, SMFIP_NR_BODY, core::Verdict::proceed());
    });
}

sfsistat on_eom(SMFICTX* ctx) {
    return guarded(ctx, "eom", [&] {
        auto* conn = connection_of(ctx);
        SmfiEdits edits(ctx);
        auto verdict = conn->session.end_of_message(macro(ctx, "i"), &edits);
        // End of message always gets a reply: there is no no-reply flag for it.
        return answer(ctx, *conn, 0, verdict);
    });
}

sfsistat on_abort(SMFICTX* ctx) {
    return guarded(ctx, "abort", [&] {
        connection_of(ctx)->session.abort();
        return SMFIS_CONTINUE;
    });
}

sfsistat on_close(SMFICTX* ctx) {
    return guarded(ctx, "close", [&] {
        std::unique_ptr<Connection> conn(static_cast<Connection*>(smfi_getpriv(ctx)));
        smfi_setpriv(ctx, nullptr);
        if (conn) {
            conn->session.close();
        }
        return SMFIS_CONTINUE;
    });
}

}  // extern "C"

}  // namespace

core::Result<bool> register_milter(const std::string& name, MilterContext ctx) {
    g_ctx = std::move(ctx);
    static std::string filter_name;
    filter_name = name;
    smfiDesc desc{};
    desc.xxfi_name = filter_name.data();
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags = kActions;
    desc.xxfi_connect = on_connect;
    desc.xxfi_helo = on_helo;
    desc.xxfi_envfrom = on_envfrom;
    desc.xxfi_envrcpt = on_envrcpt;
    desc.xxfi_header = on_header;
    desc.xxfi_eoh = on_eoh;
    desc.xxfi_body = on_body;
    desc.xxfi_eom = on_eom;
    desc.xxfi_abort = on_abort;
    desc.xxfi_close = on_close;
    desc.xxfi_unknown = on_unknown;
    desc.xxfi_data = on_data;
    desc.xxfi_negotiate = on_negotiate;
    if (smfi_register(desc) != MI_SUCCESS) {
        return core::make_error("smfi_register failed");
    }
    return true;
}

}  // namespace staffel::adapters
