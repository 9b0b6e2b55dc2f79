// settings.cpp - the defaults of core/dkim/settings.hpp that are lists.
#include "core/dkim/settings.hpp"

namespace staffel::core {

std::vector<Network> DkimSettings::default_trusted_networks() {
    return {*parse_network("127.0.0.0/8"), *parse_network("::1/128")};
}

// RFC 6376 §5.4.1's recommended set, the MIME and Message-ID fields that
// define what the reader sees, and the bulk-mail fields of RFC 8058 and
// Gmail's Feedback-ID.
std::vector<std::string> DkimSettings::default_sign_headers() {
    return {"From",
            "Reply-To",
            "Subject",
            "Date",
            "To",
            "Cc",
            "Resent-Date",
            "Resent-From",
            "Resent-To",
            "Resent-Cc",
            "In-Reply-To",
            "References",
            "List-Id",
            "List-Help",
            "List-Unsubscribe",
            "List-Subscribe",
            "List-Post",
            "List-Owner",
            "List-Archive",
            "Message-ID",
            "MIME-Version",
            "Content-Type",
            "Content-Transfer-Encoding",
            "List-Unsubscribe-Post",
            "Feedback-ID"};
}

std::vector<std::string> DkimSettings::default_oversign_headers() {
    return {"From",
            "To",
            "Cc",
            "Subject",
            "Date",
            "Message-ID",
            "Reply-To",
            "MIME-Version",
            "Content-Type",
            "List-Unsubscribe",
            "List-Unsubscribe-Post"};
}

}  // namespace staffel::core
