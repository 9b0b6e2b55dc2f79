// test_bounce_report.cpp - DSN and ARF reports read with GMime: the sample
// messages in tests/data/bounces/, their malformed variants, and built
// messages for each rule and bound.
//
// Tables list what each input must give; failures read "got X, want Y".
#include <catch2/catch.hpp>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "adapters/gmime/bounce_report.hpp"

using staffel::adapters::BounceRecipient;
using staffel::adapters::BounceReport;
using staffel::adapters::parse_bounce_report;

namespace {

std::string read_sample(const std::string& name) {
    const std::string path = std::string(STAFFEL_SOURCE_DIR) + "/tests/data/bounces/" + name;
    std::ifstream in(path, std::ios::binary);
    INFO("reading " << path);
    REQUIRE(in.good());
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string describe(const BounceRecipient& r) {
    std::ostringstream out;
    out << "{" << r.address << " | " << r.action << " | " << r.status << " | " << r.diagnostic
        << "}";
    return out.str();
}

std::string describe(const std::vector<BounceRecipient>& rs) {
    std::string out;
    for (const auto& r : rs) {
        out += describe(r) + "\n";
    }
    return out;
}

std::string describe(const std::vector<std::string>& xs) {
    std::string out;
    for (const auto& x : xs) {
        out += "<" + x + ">";
    }
    return out;
}

// The error of parsing `message`, or "(parsed)" if it parsed.
std::string error_of(const std::string& message) {
    auto got = parse_bounce_report(message);
    return got.ok() ? std::string("(parsed)") : got.error().message;
}

// A multipart/report around a delivery-status body (LF line ends).
std::string dsn_message(
    const std::string& status_body,
    const std::string& status_headers = "Content-Type: message/delivery-status\n",
    const std::string& report_type = "delivery-status") {
    return "From: MAILER-DAEMON@mx1.example.com\n"
           "To: bounces@example.com\n"
           "Subject: Undelivered Mail Returned to Sender\n"
           "MIME-Version: 1.0\n"
           "Content-Type: multipart/report; report-type=" +
           report_type +
           "; boundary=\"BOUNDARY\"\n"
           "\n"
           "--BOUNDARY\n"
           "Content-Type: text/plain\n"
           "\n"
           "Delivery failed.\n"
           "\n"
           "--BOUNDARY\n" +
           status_headers + "\n" + status_body +
           "\n"
           "--BOUNDARY--\n";
}

constexpr const char* kPerMessage = "Reporting-MTA: dns; mx1.example.com\n\n";

// A feedback report around a feedback-report body and an optional third part.
std::string arf_message(const std::string& fields, const std::string& third_part = "") {
    return "From: fbl@example.net\n"
           "To: fbl-reports@example.com\n"
           "MIME-Version: 1.0\n"
           "Content-Type: multipart/report; report-type=feedback-report; boundary=\"B\"\n"
           "\n"
           "--B\n"
           "Content-Type: text/plain\n"
           "\n"
           "A complaint.\n"
           "\n"
           "--B\n"
           "Content-Type: message/feedback-report\n"
           "\n" +
           fields + "\n" + (third_part.empty() ? "" : "--B\n" + third_part + "\n") + "--B--\n";
}

}  // namespace

TEST_CASE("sample DSNs give every recipient", "[bounce]") {
    struct Case {
        const char* file;
        const char* want_mta;
        std::vector<BounceRecipient> want;
    };
    const std::vector<Case> cases = {
        {"postfix_hard.eml",
         "mx1.example.com",
         {{"jane.doe@example.net", "failed", "5.1.1",
           "550 5.1.1 <jane.doe@example.net>: Recipient address rejected: User unknown in "
           "virtual mailbox table"}}},
        {"postfix_delayed.eml",
         "mx1.example.com",
         {{"tom@example.org", "delayed", "4.4.1",
           "connect to mx.example.org[192.0.2.30]:25: Connection timed out"}}},
        {"exim_hard.eml",
         "mail.example.org",
         {{"bob.smith@example.org", "failed", "5.0.0",
           "550 5.1.1 <bob.smith@example.org>: no such mailbox here"}}},
        {"exchange_hard.eml",
         "DB9PR01MB7712.eurprd01.prod.example.net",
         {{"carol@example.net", "failed", "5.1.10",
           "550 5.1.10 RESOLVER.ADR.RecipientNotFound; Recipient not found by SMTP address "
           "lookup"}}},
        {"gmail_hard.eml",
         "example.org",
         {{"dave.nobody@example.net", "failed", "5.1.1",
           "550-5.1.1 The mailbox you wrote to does not exist here. 550-5.1.1 Check the address "
           "for typos or extra spaces, or ask the recipient 550-5.1.1 for the right one. More "
           "help: 550 5.1.1  https://help.example.org/mail/no-such-user a7si1234567qkb.77 - "
           "smtp"}}},
        {"multi_recipient.eml",
         "relay.example.org",
         {{"alice@example.net", "failed", "5.1.1", "550 5.1.1 <alice@example.net>... User unknown"},
          {"erin@example.net", "failed", "5.2.2", "552 5.2.2 <erin@example.net>... Mailbox full"},
          {"mallory@example.org", "delayed", "4.4.1", ""}}},
    };
    for (const auto& c : cases) {
        auto got = parse_bounce_report(read_sample(c.file));
        INFO("file " << c.file);
        INFO("error: " << (got.ok() ? "" : got.error().message));
        REQUIRE(got.ok());
        CHECK(got->kind == BounceReport::Kind::Dsn);
        CHECK(got->reporting_mta == c.want_mta);
        INFO("got:\n" << describe(got->recipients) << "want:\n" << describe(c.want));
        REQUIRE(got->recipients.size() == c.want.size());
        for (std::size_t i = 0; i < c.want.size(); ++i) {
            CHECK(got->recipients[i].address == c.want[i].address);
            CHECK(got->recipients[i].action == c.want[i].action);
            CHECK(got->recipients[i].status == c.want[i].status);
            CHECK(got->recipients[i].diagnostic == c.want[i].diagnostic);
        }
        CHECK(got->feedback_type.empty());
        CHECK(got->complainants.empty());
    }
}

TEST_CASE("sample ARF reports give the feedback type and complainants", "[bounce]") {
    struct Case {
        const char* file;
        const char* want_type;
        std::vector<std::string> want_complainants;
        const char* want_mail_from;
        const char* want_mta;
    };
    const std::vector<Case> cases = {
        {"arf_abuse.eml",
         "abuse",
         {"frank.miller@example.net"},
         "bounces+u8812@example.com",
         "feedback.example.net"},
        {"arf_no_rcpt.eml", "abuse", {"grace.lee@example.org"}, "bounces+u9120@example.com", ""},
    };
    for (const auto& c : cases) {
        auto got = parse_bounce_report(read_sample(c.file));
        INFO("file " << c.file);
        INFO("error: " << (got.ok() ? "" : got.error().message));
        REQUIRE(got.ok());
        CHECK(got->kind == BounceReport::Kind::Arf);
        CHECK(got->feedback_type == c.want_type);
        INFO("got " << describe(got->complainants) << ", want " << describe(c.want_complainants));
        CHECK(got->complainants == c.want_complainants);
        CHECK(got->original_mail_from == c.want_mail_from);
        CHECK(got->reporting_mta == c.want_mta);
        CHECK(got->recipients.empty());
    }
}

TEST_CASE("malformed samples are refused with a precise error", "[bounce]") {
    struct Case {
        const char* file;
        const char* want;
    };
    const Case cases[] = {
        {"malformed/not_multipart.eml", "not a multipart/report (Content-Type is text/plain)"},
        {"malformed/no_status_part.eml", "multipart/report has no message/delivery-status part"},
        {"malformed/no_action.eml", "recipient 1: no Action field"},
        {"malformed/bad_status.eml", "recipient 2: Status \"9.x\" is not a status code"},
        {"malformed/arf_no_feedback_type.eml", "feedback-report part has no Feedback-Type field"},
        {"malformed/truncated_boundary.eml",
         "multipart/report is truncated: no closing boundary "
         "\"--4VtT5d5Tt3z7zVh.1715690300/mx1.example.com--\""},
        {"malformed/empty.eml", "message is empty"},
        {"malformed/binary_garbage.eml", "not a MIME message (no header fields)"},
    };
    for (const auto& c : cases) {
        const std::string got = error_of(read_sample(c.file));
        INFO("file " << c.file << ": got \"" << got << "\", want \"" << c.want << "\"");
        CHECK(got == c.want);
    }
}

TEST_CASE("line ends, an mbox From line and transfer encodings do not matter", "[bounce]") {
    const std::string lf = read_sample("postfix_hard.eml");
    std::string crlf;
    for (char c : lf) {
        if (c == '\n') {
            crlf += '\r';
        }
        crlf += c;
    }
    const std::string from_line = "From MAILER-DAEMON  Tue May 14 09:12:44 2024\n" + lf;
    const std::string base64 = dsn_message(
        // "Reporting-MTA: dns; mx1.example.com\n\nFinal-Recipient: rfc822; kim@example.net\n"
        // "Action: failed\nStatus: 5.1.1\n"
        "UmVwb3J0aW5nLU1UQTogZG5zOyBteDEuZXhhbXBsZS5jb20KCkZpbmFsLVJlY2lwaWVudDogcmZj\n"
        "ODIyOyBraW1AZXhhbXBsZS5uZXQKQWN0aW9uOiBmYWlsZWQKU3RhdHVzOiA1LjEuMQo=\n",
        "Content-Type: message/delivery-status\nContent-Transfer-Encoding: base64\n");
    struct Case {
        const char* name;
        std::string message;
        const char* want_address;
    };
    const Case cases[] = {
        {"CRLF", crlf, "jane.doe@example.net"},
        {"mbox From line", from_line, "jane.doe@example.net"},
        {"base64 part", base64, "kim@example.net"},
    };
    for (const auto& c : cases) {
        auto got = parse_bounce_report(c.message);
        INFO(c.name << ": " << (got.ok() ? "" : got.error().message));
        REQUIRE(got.ok());
        REQUIRE(got->recipients.size() == 1);
        CHECK(got->recipients[0].address == c.want_address);
        CHECK(got->recipients[0].status == "5.1.1");
        CHECK(got->reporting_mta == "mx1.example.com");
    }
}

TEST_CASE("DSN fields: case, comments, brackets, folding, address types", "[bounce]") {
    struct Case {
        const char* name;
        std::string block;
        BounceRecipient want;
    };
    const Case cases[] = {
        {"upper-case names and types",
         "FINAL-RECIPIENT: RFC822; Kim@Example.NET\nACTION: FAILED\nSTATUS: 5.1.1\n",
         {"Kim@Example.NET", "failed", "5.1.1", ""}},
        {"comments in Action and Status",
         "Final-Recipient: rfc822; kim@example.net\nAction: failed (permanent)\n"
         "Status: 5.1.1 (bad destination (mailbox) address)\n",
         {"kim@example.net", "failed", "5.1.1", ""}},
        {"angle brackets and spaces",
         "Final-Recipient: rfc822 ;  < kim@example.net >  \nAction: failed\nStatus: 5.1.1\n",
         {"kim@example.net", "failed", "5.1.1", ""}},
        {"non-rfc822 Final-Recipient falls back to Original-Recipient",
         "Final-Recipient: x400; c=us;a=;p=example;o=mail;s=kim\n"
         "Original-Recipient: rfc822; kim@example.net\nAction: failed\nStatus: 5.1.1\n",
         {"kim@example.net", "failed", "5.1.1", ""}},
        {"utf-8 address type (RFC 6533)",
         "Final-Recipient: utf-8; j\xc3\xb6rg@example.net\nAction: failed\nStatus: 5.1.1\n",
         {"j\xc3\xb6rg@example.net", "failed", "5.1.1", ""}},
        {"utf-8 with escapes falls back",
         "Final-Recipient: utf-8; j\\x{F6}rg@example.net\n"
         "Original-Recipient: rfc822; joerg@example.net\nAction: failed\nStatus: 5.1.1\n",
         {"joerg@example.net", "failed", "5.1.1", ""}},
        {"folded Diagnostic-Code with tabs",
         "Final-Recipient: rfc822; kim@example.net\nAction: failed\nStatus: 5.7.1\n"
         "Diagnostic-Code:\n\tsmtp;\t554 5.7.1 Service unavailable;\n\t\tclient host blocked\n",
         {"kim@example.net", "failed", "5.7.1",
          "554 5.7.1 Service unavailable; client host blocked"}},
        {"delivered without Status",
         "Final-Recipient: rfc822; kim@example.net\nAction: delivered\n",
         {"kim@example.net", "delivered", "", ""}},
        {"relayed, three-digit status parts",
         "Final-Recipient: rfc822; kim@example.net\nAction: relayed\nStatus: 2.100.999\n",
         {"kim@example.net", "relayed", "2.100.999", ""}},
        {"failed with a 4.x.x status (given up)",
         "Final-Recipient: rfc822; kim@example.net\nAction: failed\nStatus: 4.4.7\n",
         {"kim@example.net", "failed", "4.4.7", ""}},
        {"extension fields are ignored, even twice",
         "X-Note: one\nFinal-Recipient: rfc822; kim@example.net\nX-Note: two\nAction: expanded\n"
         "Status: 2.0.0\n",
         {"kim@example.net", "expanded", "2.0.0", ""}},
    };
    for (const auto& c : cases) {
        auto got = parse_bounce_report(dsn_message(kPerMessage + c.block));
        INFO(c.name << ": " << (got.ok() ? "" : got.error().message));
        REQUIRE(got.ok());
        REQUIRE(got->recipients.size() == 1);
        INFO("got " << describe(got->recipients[0]) << ", want " << describe(c.want));
        CHECK(got->recipients[0].address == c.want.address);
        CHECK(got->recipients[0].action == c.want.action);
        CHECK(got->recipients[0].status == c.want.status);
        CHECK(got->recipients[0].diagnostic == c.want.diagnostic);
    }
}

TEST_CASE("global delivery status reports are DSNs too", "[bounce]") {
    const std::string block =
        "Reporting-MTA: dns; mx1.example.com\n\nFinal-Recipient: rfc822; kim@example.net\n"
        "Action: failed\nStatus: 5.1.1\n";
    for (const char* report_type : {"delivery-status", "global-delivery-status"}) {
        auto got = parse_bounce_report(
            dsn_message(block, "Content-Type: message/global-delivery-status\n", report_type));
        INFO(report_type << ": " << (got.ok() ? "" : got.error().message));
        REQUIRE(got.ok());
        REQUIRE(got->recipients.size() == 1);
        CHECK(got->recipients[0].address == "kim@example.net");
    }
}

TEST_CASE("malformed DSNs are refused with a precise error", "[bounce]") {
    const std::string ok_rcpt = "Final-Recipient: rfc822; kim@example.net\nAction: failed\n";
    struct Case {
        const char* name;
        std::string message;
        std::string want;
    };
    const Case cases[] = {
        {"only per-message fields", dsn_message("Reporting-MTA: dns; mx1.example.com\n"),
         "delivery-status part has no per-recipient fields"},
        {"empty status part", dsn_message("\n\n"), "delivery-status part is empty"},
        {"failed without Status", dsn_message(kPerMessage + ok_rcpt),
         "recipient 1: Action failed without a Status"},
        {"bad Status on a delayed recipient",
         dsn_message(kPerMessage +
                     std::string("Final-Recipient: rfc822; kim@example.net\nAction: delayed\n"
                                 "Status: 4.4\n")),
         "recipient 1: Status \"4.4\" is not a status code"},
        {"Status with a class of 3", dsn_message(kPerMessage + ok_rcpt + "Status: 3.1.1\n"),
         "recipient 1: Status \"3.1.1\" is not a status code"},
        {"Status with four digits", dsn_message(kPerMessage + ok_rcpt + "Status: 5.1.1000\n"),
         "recipient 1: Status \"5.1.1000\" is not a status code"},
        {"non-ASCII in a quoted value",
         dsn_message(kPerMessage + ok_rcpt + "Status: 5.1.1\xc3\xa9\n"),
         "recipient 1: Status \"5.1.1\\xc3\\xa9\" is not a status code"},
        {"Action twice", dsn_message(kPerMessage + ok_rcpt + "Action: delayed\nStatus: 5.1.1\n"),
         "recipient 1: Action appears twice"},
        {"unknown Action",
         dsn_message(kPerMessage + std::string("Final-Recipient: rfc822; kim@example.net\n"
                                               "Action: bounced\nStatus: 5.1.1\n")),
         "recipient 1: Action \"bounced\" is not failed, delayed, delivered, relayed or "
         "expanded"},
        {"no Final-Recipient", dsn_message(kPerMessage + std::string("Action: failed\n")),
         "recipient 1: no Final-Recipient field"},
        {"Final-Recipient without a type",
         dsn_message(kPerMessage +
                     std::string("Final-Recipient: kim@example.net\nAction: failed\n")),
         "recipient 1: Final-Recipient \"kim@example.net\" has no address type"},
        {"only a non-rfc822 address",
         dsn_message(kPerMessage + std::string("Final-Recipient: x400; c=us;p=example\n"
                                               "Action: failed\nStatus: 5.1.1\n")),
         "recipient 1: no rfc822 address in Final-Recipient \"x400; c=us;p=example\""},
        {"address without @",
         dsn_message(kPerMessage +
                     std::string("Final-Recipient: rfc822; kim\nAction: failed\nStatus: 5.1.1\n")),
         "recipient 1: Final-Recipient address \"kim\" has no \"@\""},
        {"two addresses",
         dsn_message(kPerMessage + std::string("Final-Recipient: rfc822; a@example.net, "
                                               "b@example.net\nAction: failed\nStatus: 5.1.1\n")),
         "recipient 1: Final-Recipient address \"a@example.net, b@example.net\" is not a single "
         "address"},
        {"continuation line opening a block", dsn_message(kPerMessage + std::string(" folded\n")),
         "delivery-status part: line 3: continuation line without a field before it"},
        {"a line that is not a field", dsn_message(kPerMessage + ok_rcpt + "garbage line\n"),
         "delivery-status part: line 5: not a \"Name: value\" field: \"garbage line\""},
        {"control character", dsn_message(kPerMessage + ok_rcpt + "Status: 5.1.1\x01\n"),
         "delivery-status part: line 5: field Status contains a control character"},
        {"overlong field",
         dsn_message(kPerMessage + ok_rcpt + "Status: 5.1.1\nDiagnostic-Code: smtp; " +
                     std::string(9000, 'x') + "\n"),
         "delivery-status part: line 6: field Diagnostic-Code is longer than 8192 bytes"},
    };
    for (const auto& c : cases) {
        const std::string got = error_of(c.message);
        INFO(c.name << ": got \"" << got << "\", want \"" << c.want << "\"");
        CHECK(got == c.want);
    }
}

TEST_CASE("messages that are not reports are refused with a precise error", "[bounce]") {
    const std::string rcpt =
        "Reporting-MTA: dns; x\n\nFinal-Recipient: rfc822; kim@example.net\nAction: failed\n"
        "Status: 5.1.1\n";
    std::string two_parts = dsn_message(rcpt);
    two_parts.insert(two_parts.find("--BOUNDARY--"),
                     "--BOUNDARY\nContent-Type: message/delivery-status\n\n" + rcpt + "\n");
    std::string mixed = dsn_message(rcpt);
    mixed.replace(mixed.find("multipart/report"), 16, "multipart/mixed");
    std::string no_report_type = dsn_message(rcpt);
    no_report_type.replace(no_report_type.find(" report-type=delivery-status;"), 29, "");
    struct Case {
        const char* name;
        std::string message;
        std::string want;
    };
    const Case cases[] = {
        {"two status parts", two_parts, "multipart/report has 2 message/delivery-status parts"},
        {"multipart/mixed", mixed, "not a multipart/report (Content-Type is multipart/mixed)"},
        {"no report-type", no_report_type, "multipart/report has no report-type parameter"},
        {"an MDN",
         dsn_message(rcpt, "Content-Type: message/disposition-notification\n",
                     "disposition-notification"),
         "multipart/report has report-type \"disposition-notification\", not delivery-status or "
         "feedback-report"},
        {"a DSN type with a feedback part",
         dsn_message("Feedback-Type: abuse\n", "Content-Type: message/feedback-report\n"),
         "multipart/report has no message/delivery-status part"},
        {"RFC 2231 boundary with a line feed",
         "Content-Type: multipart/report; report-type=delivery-status;\n"
         " boundary*=us-ascii''B%0AC\n\n--B\nC--\n",
         "multipart/report has a boundary with a control character"},
        {"header only", "Subject: hello\n", "not a multipart/report (Content-Type is text/plain)"},
        {"blank lines only", "\r\n\n \n", "message is empty"},
        {"over 10 MiB", std::string(10 * 1024 * 1024 + 1, 'a'),
         "message is larger than 10 MiB (10485761 bytes)"},
    };
    for (const auto& c : cases) {
        const std::string got = error_of(c.message);
        INFO(c.name << ": got \"" << got << "\", want \"" << c.want << "\"");
        CHECK(got == c.want);
    }
}

TEST_CASE("recipients are bounded to 1000", "[bounce]") {
    const auto with_recipients = [](std::size_t n) {
        std::string body = kPerMessage;
        for (std::size_t i = 0; i < n; ++i) {
            body += "Final-Recipient: rfc822; user" + std::to_string(i) +
                    "@example.net\nAction: failed\nStatus: 5.1.1\n\n";
        }
        return dsn_message(body);
    };
    auto thousand = parse_bounce_report(with_recipients(1000));
    REQUIRE(thousand.ok());
    CHECK(thousand->recipients.size() == 1000);
    CHECK(thousand->recipients.back().address == "user999@example.net");
    CHECK(error_of(with_recipients(1001)) ==
          "delivery-status part has more than 1000 per-recipient blocks");
}

TEST_CASE("the diagnostic is cut to 512 bytes, never inside a UTF-8 sequence", "[bounce]") {
    struct Case {
        std::string text;
        std::size_t want_size;
    };
    const Case cases[] = {
        {std::string(512, 'a'), 512},
        {std::string(511, 'a') + "\xc3\xa9", 511},      // é would end at byte 513
        {std::string(510, 'a') + "\xc3\xa9", 512},      // é ends at byte 512
        {std::string(510, 'a') + "\xe2\x82\xac", 510},  // € would end at byte 513
        {std::string(600, 'a'), 512},
    };
    for (const auto& c : cases) {
        auto got =
            parse_bounce_report(dsn_message(kPerMessage +
                                            std::string("Final-Recipient: rfc822; kim@example.net\n"
                                                        "Action: failed\nStatus: 5.1.1\n"
                                                        "Diagnostic-Code: smtp; ") +
                                            c.text + "\n"));
        REQUIRE(got.ok());
        const std::string& diagnostic = got->recipients.at(0).diagnostic;
        INFO("input of " << c.text.size() << " bytes: got " << diagnostic.size() << ", want "
                         << c.want_size);
        CHECK(diagnostic.size() == c.want_size);
        CHECK(c.text.compare(0, diagnostic.size(), diagnostic) == 0);
    }
}

TEST_CASE("ARF complainants: Original-Rcpt-To first, else the embedded To:", "[bounce]") {
    const std::string headers_part =
        "Content-Type: text/rfc822-headers\n\n"
        "From: news@example.com\n"
        "To: Team: ann@example.org, \"Ben B\" <ben@example.org>;, undisclosed-recipients:;,\n"
        " redacted, <cat@example.org>\n"
        "Subject: hi\n";
    const std::string rfc822_part =
        "Content-Type: message/rfc822\n\nFrom: news@example.com\nTo: dan@example.org\n\nHello\n";
    struct Case {
        const char* name;
        std::string message;
        const char* want_type;
        std::vector<std::string> want;
    };
    const Case cases[] = {
        {"two Original-Rcpt-To fields",
         arf_message("Feedback-Type: not-spam\nOriginal-Rcpt-To: <eve@example.org>\n"
                     "Original-Rcpt-To: fay@example.org\n",
                     rfc822_part),
         "not-spam",
         {"eve@example.org", "fay@example.org"}},
        {"text/rfc822-headers with a group and a redacted entry",
         arf_message("Feedback-Type: abuse (spam)\n", headers_part),
         "abuse",
         {"ann@example.org", "ben@example.org", "cat@example.org"}},
        {"message/rfc822",
         arf_message("Feedback-Type: FRAUD\n", rfc822_part),
         "fraud",
         {"dan@example.org"}},
        {"no embedded message", arf_message("Feedback-Type: virus\n"), "virus", {}},
    };
    for (const auto& c : cases) {
        auto got = parse_bounce_report(c.message);
        INFO(c.name << ": " << (got.ok() ? "" : got.error().message));
        REQUIRE(got.ok());
        CHECK(got->kind == BounceReport::Kind::Arf);
        CHECK(got->feedback_type == c.want_type);
        INFO("got " << describe(got->complainants) << ", want " << describe(c.want));
        CHECK(got->complainants == c.want);
    }
}

TEST_CASE("malformed ARF reports are refused with a precise error", "[bounce]") {
    struct Case {
        const char* name;
        std::string message;
        std::string want;
    };
    const Case cases[] = {
        {"two field blocks", arf_message("Feedback-Type: abuse\n\nVersion: 1\n"),
         "feedback-report part has more than one field block"},
        {"empty part", arf_message(""), "feedback-report part has no Feedback-Type field"},
        {"Feedback-Type twice", arf_message("Feedback-Type: abuse\nFeedback-Type: fraud\n"),
         "feedback-report part: Feedback-Type appears twice"},
        {"Feedback-Type not a token", arf_message("Feedback-Type: abuse/spam\n"),
         "feedback-report part: Feedback-Type \"abuse/spam\" is not a feedback type"},
        {"Original-Rcpt-To without @",
         arf_message("Feedback-Type: abuse\nOriginal-Rcpt-To: <mia>\n"),
         "feedback-report part: Original-Rcpt-To address \"mia\" has no \"@\""},
        {"no feedback-report part",
         dsn_message("Feedback-Type: abuse\n", "Content-Type: text/plain\n", "feedback-report"),
         "multipart/report has no message/feedback-report part"},
    };
    for (const auto& c : cases) {
        const std::string got = error_of(c.message);
        INFO(c.name << ": got \"" << got << "\", want \"" << c.want << "\"");
        CHECK(got == c.want);
    }
}

TEST_CASE("reports parse on several threads at once", "[bounce]") {
    const std::vector<std::string> samples = {read_sample("gmail_hard.eml"),
                                              read_sample("arf_no_rcpt.eml")};
    std::vector<int> failures(4, 0);
    std::vector<std::thread> threads;
    for (std::size_t t = 0; t < failures.size(); ++t) {
        threads.emplace_back([&samples, &failures, t] {
            for (int i = 0; i < 50; ++i) {
                auto dsn = parse_bounce_report(samples[0]);
                auto arf = parse_bounce_report(samples[1]);
                if (!dsn.ok() || dsn->recipients.size() != 1 || !arf.ok() ||
                    arf->complainants.size() != 1) {
                    ++failures[t];
                }
            }
        });
    }
    for (auto& t : threads) {
        t.join();
    }
    CHECK(failures == std::vector<int>(4, 0));
}
