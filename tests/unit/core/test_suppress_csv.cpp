// test_suppress_csv.cpp - the CSV format of `staffelctl suppress import` and
// `export` (core/suppress/csv.hpp): the header check, RFC 4180 quoting,
// each field's spellings, every error with its line number and field,
// streaming in chunks of any size, and the writer's output read back.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/suppress/csv.hpp"

using namespace staffel::core;

namespace {

constexpr const char* kHeader = "address,reason,scope,streams,expires,source\n";
// What export writes since the added column: the first six as before.
constexpr const char* kHeaderAdded = "address,reason,scope,streams,expires,source,added\n";
constexpr std::int64_t k2027 = 1801353600;  // 2027-01-31T00:00:00Z
const std::string kHex(64, 'a');

// Feeds `text` in chunks of `chunk` bytes (0 = all at once) and collects
// every record.
std::vector<SuppressCsvRecord> read_all(const std::string& text, SuppressCsvOptions options = {},
                                        std::size_t chunk = 0) {
    SuppressCsvReader reader(std::move(options));
    std::vector<SuppressCsvRecord> out;
    const std::size_t step = chunk == 0 ? text.size() + 1 : chunk;
    for (std::size_t at = 0; at < text.size(); at += step) {
        reader.feed(std::string_view(text).substr(at, step));
        while (auto r = reader.next()) {
            out.push_back(std::move(*r));
        }
    }
    reader.finish();
    while (auto r = reader.next()) {
        out.push_back(std::move(*r));
    }
    return out;
}

// The data rows of a file with the header and one line.
SuppressCsvRecord one_row(const std::string& line, SuppressCsvOptions options = {}) {
    auto records = read_all(kHeader + line + "\n", std::move(options));
    REQUIRE(records.size() == 2);
    REQUIRE(records[0].header);
    REQUIRE(records[0].row.ok());
    return records[1];
}

std::string describe(const SuppressCsvRecord& r) {
    return r.row ? "a row" : r.error_text();
}

}  // namespace

TEST_CASE("csv: the header line must be exactly the expected one", "[suppress][csv]") {
    struct Case {
        std::string text;
        bool want_ok;
        std::string want_error;  // substring
    };
    const Case cases[] = {
        {kHeader, true, ""},
        {"address,reason,scope,streams,expires,source\r\n", true, ""},
        {"\xEF\xBB\xBF"
         "address,reason,scope,streams,expires,source\n",
         true, ""},
        {"address,reason,scope,streams,expires,source", true, ""},  // no final line break
        {kHeaderAdded, true, ""},
        {"address,reason,scope,streams,expires\n", false, "must be exactly"},
        {"address,reason,scope,streams,expires,source,added,extra\n", false, "must be exactly"},
        {"address,reason,scope,streams,expires,added,source\n", false, "must be exactly"},
        {"Address,Reason,Scope,Streams,Expires,Source\n", false, "must be exactly"},
        {"bob@example.org,manual,,,,\n", false, "got \"bob@example.org,manual,,,,\""},
        {"", false, "the file is empty"},
        {"\n\n", false, "the file is empty"},
    };
    for (const auto& c : cases) {
        INFO("input \"" << c.text << "\"");
        const auto records = read_all(c.text);
        REQUIRE(records.size() == 1);
        CHECK(records[0].header);
        CHECK(records[0].line == 1);
        CHECK(records[0].row.ok() == c.want_ok);
        if (!c.want_ok) {
            CHECK_THAT(records[0].error_text(),
                       Catch::Contains("1: ") && Catch::Contains(c.want_error));
        }
    }
}

TEST_CASE("csv: good rows are normalised", "[suppress][csv]") {
    struct Case {
        std::string line;
        SuppressCsvRow want;
    };
    const std::vector<Case> cases = {
        {"bob@Example.ORG,hard_bounce,,,,dsn",
         {"bob@example.org", false, SuppressReason::HardBounce, "", {}, 0, "dsn"}},
        {"Bob@example.org,unsubscribe,Example.COM,,2027-01-31T00:00:00Z,crm",
         {"bob@example.org",
          false,
          SuppressReason::Unsubscribe,
          "example.com",
          {"bulk"},
          k2027,
          "crm"}},
        {"<carol@example.net> ,complaint,*,*,0,",
         {"carol@example.net", false, SuppressReason::Complaint, "", {}, 0, ""}},
        {"a@b.example,manual,,bulk;news;bulk,1801353600,",
         {"a@b.example", false, SuppressReason::Manual, "", {"bulk", "news"}, k2027, ""}},
        {"a@b.example,invalid,,,2027-01-31T02:00:00+02:00,",
         {"a@b.example", false, SuppressReason::Invalid, "", {}, k2027, ""}},
        {"a@b.example,invalid,,,2027-01-31t00:00:00.250z,",
         {"a@b.example", false, SuppressReason::Invalid, "", {}, k2027, ""}},
        {"a@b.example,manual,,,2000-02-29T12:30:15Z,",
         {"a@b.example", false, SuppressReason::Manual, "", {}, 951827415, ""}},
        {"\"a@b.example\",\"manual\",\"\",\"*\",\"\",\"ticket 42, \"\"urgent\"\"\"",
         {"a@b.example", false, SuppressReason::Manual, "", {}, 0, "ticket 42, \"urgent\""}},
        {"a@b.example,manual,,,,x|y\x01z",
         {"a@b.example", false, SuppressReason::Manual, "", {}, 0, "xyz"}},
        {"h:" + std::string(64, 'A') + ",hard_bounce,example.com,,,",
         {"h:" + kHex, true, SuppressReason::HardBounce, "example.com", {}, 0, ""}},
    };
    SuppressCsvOptions options;
    options.accept_hashed = true;
    for (const auto& c : cases) {
        INFO("line " << c.line);
        const auto got = one_row(c.line, options);
        INFO("got " << describe(got));
        REQUIRE(got.row.ok());
        CHECK(got.line == 2);
        CHECK(got.row->address == c.want.address);
        CHECK(got.row->hashed == c.want.hashed);
        CHECK(got.row->reason == c.want.reason);
        CHECK(got.row->scope == c.want.scope);
        CHECK(got.row->streams == c.want.streams);
        CHECK(got.row->expires_at == c.want.expires_at);
        CHECK(got.row->source == c.want.source);
    }
}

TEST_CASE("csv: the policy's rules apply", "[suppress][csv]") {
    SuppressCsvOptions options;
    options.rules.fold_local_part = false;
    options.unsubscribe_streams = {"news", "bulk"};
    auto r = one_row("Bob@Example.org,unsubscribe,,,,", options);
    REQUIRE(r.row.ok());
    CHECK(r.row->address == "Bob@example.org");
    CHECK(r.row->streams == std::vector<std::string>{"news", "bulk"});

    // The IDN hook converts non-ASCII domains; without it they are refused.
    options.idna = [](std::string_view) -> Result<std::string> { return std::string("xn--d"); };
    r = one_row("a@d\xC3\xA9,manual,\xC3\xA9.example,,,", options);
    REQUIRE(r.row.ok());
    CHECK(r.row->address == "a@xn--d");
    CHECK(r.row->scope == "xn--d");
    r = one_row("a@d\xC3\xA9,manual,,,,");
    CHECK_THAT(r.error_text(), Catch::Contains("column 1 (address)") && Catch::Contains("IDNA"));
}

TEST_CASE("csv: every error names its line, its field and what is accepted", "[suppress][csv]") {
    struct Case {
        std::string line;
        std::vector<std::string> want;  // substrings of "LINE: message" (line 2)
    };
    const std::vector<Case> cases = {
        {"bob@example.org,manual", {"2: expected 6 fields", "got 2"}},
        {"bob@example.org,manual,,,,,", {"2: expected 6 fields", "got 7"}},
        {"bob@example.org,bounce,,,,",
         {"2: column 2 (reason): unknown reason \"bounce\"",
          "hard_bounce, complaint, unsubscribe, manual or invalid"}},
        {"bob.example.org,manual,,,,", {"2: column 1 (address):", "no \"@\""}},
        {"@example.org,manual,,,,", {"column 1 (address):", "local part is empty"}},
        {"bo b@example.org,manual,,,,", {"column 1 (address):", "not allowed"}},
        {"bob@example.org,manual,exa mple.com,,,",
         {"2: column 3 (scope): \"exa mple.com\" is not a domain", "empty for a global entry"}},
        {"bob@example.org,manual,,bu lk,,",
         {"2: column 4 (streams): \"bu lk\" is not a stream name", "joined by \";\""}},
        {"bob@example.org,manual,,bulk;;news,,", {"column 4 (streams): \"\""}},
        {"bob@example.org,manual,,,2027-02-29T00:00:00Z,",
         {"2: column 5 (expires): \"2027-02-29T00:00:00Z\" is not a time",
          "2027-01-31T00:00:00Z, epoch seconds, or empty for never"}},
        {"bob@example.org,manual,,,2027-01-31 00:00:00,", {"column 5 (expires)", "not a time"}},
        {"bob@example.org,manual,,,tomorrow,", {"column 5 (expires)", "not a time"}},
        {"bob@example.org,manual,,,-5,", {"column 5 (expires)", "not a time"}},
        {"bob@example.org,manual,,,1000000000,",
         {"column 5 (expires)", "2001-09-09T01:46:40Z", "in the past"}},
        {"h:" + kHex + ",manual,,,,", {"2: column 1 (address):", "hash_secret_file"}},
        {"h:abc,manual,,,,", {"column 1 (address):", "\"h:\" and 64 hex digits"}},
        {"bo\"b@example.org,manual,,,,", {"2: column 1 (address):", "quote the whole field"}},
        {"\"bob@example.org\"x,manual,,,,", {"2: column 1 (address):", "closing '\"'"}},
        {"bob@example.org,manual,,,,\"open", {"2: column 6 (source):", "not closed"}},
    };
    SuppressCsvOptions options;
    options.now = 1500000000;
    for (const auto& c : cases) {
        INFO("line " << c.line);
        const auto got = one_row(c.line, options);
        REQUIRE_FALSE(got.row.ok());
        CHECK_FALSE(got.header);
        for (const auto& w : c.want) {
            CHECK_THAT(got.error_text(), Catch::Contains(w));
        }
    }
}

TEST_CASE("csv: a file with bad rows still yields the good ones, on the right lines",
          "[suppress][csv]") {
    const std::string file = std::string(kHeader) +
                             "a@example.org,manual,,,,\r\n"                      // 2
                             "\r\n"                                              // 3 empty
                             "b@example.org,nonsense,,,,\n"                      // 4
                             "c@example.org,manual,,,,\"two\nlines\"\n"          // 5-6
                             "d@example.org,manual\n"                            // 7
                             "\"e@example.org\",manual,,,,\"a \"\"q\"\", b\"\n"  // 8
                             + std::string(5000, 'x') +
                             "\n"                         // 9 overlong
                             "f@example.org,manual,,,,";  // 10, no LF
    struct Want {
        std::size_t line;
        bool ok;
        std::string text;  // address, or an error substring
    };
    const std::vector<Want> want = {
        {1, true, ""},
        {2, true, "a@example.org"},
        {4, false, "column 2 (reason)"},
        {5, true, "c@example.org"},
        {7, false, "expected 6 fields"},
        {8, true, "e@example.org"},
        {9, false, "longer than 4096 bytes"},
        {10, true, "f@example.org"},
    };
    for (const std::size_t chunk : {0, 1, 2, 3, 7, 64, 4096}) {
        INFO("chunk size " << chunk);
        const auto got = read_all(file, {}, chunk);
        REQUIRE(got.size() == want.size());
        for (std::size_t i = 0; i < want.size(); ++i) {
            INFO("record " << i << ": got line " << got[i].line << " " << describe(got[i]));
            CHECK(got[i].line == want[i].line);
            REQUIRE(got[i].row.ok() == want[i].ok);
            if (i == 0) {
                CHECK(got[i].header);
            } else if (want[i].ok) {
                CHECK(got[i].row->address == want[i].text);
            } else {
                CHECK_THAT(got[i].error_text(), Catch::Contains(want[i].text));
            }
        }
        CHECK(got[3].row->source == "twolines");
        CHECK(got[5].row->source == "a \"q\", b");
    }
}

TEST_CASE("csv: an unclosed quote does not swallow the rest of the file", "[suppress][csv]") {
    std::string file = kHeader;
    file += "\"a@example.org,manual,,,,\n";
    for (int i = 0; i < 200; ++i) {
        file += "x" + std::to_string(i) + "@example.org,manual,,,,\n";
    }
    const auto got = read_all(file, {}, 100);
    REQUIRE(got.size() >= 2);
    CHECK(got[1].line == 2);
    CHECK_FALSE(got[1].row.ok());
    CHECK_THAT(got[1].error_text(), Catch::Contains("longer than 4096"));
    // Reading goes on after the overlong record's first line.
    REQUIRE(got.size() == 2 + 200);
    CHECK(got[2].line == 3);
    CHECK(got[2].row.ok());
    CHECK(got.back().line == 202);
}

TEST_CASE("csv: fields are quoted only when they must be", "[suppress][csv]") {
    struct Case {
        std::string in;
        std::string want;
    };
    const Case cases[] = {
        {"plain", "plain"},
        {"", ""},
        {"a,b", "\"a,b\""},
        {"say \"hi\"", "\"say \"\"hi\"\"\""},
        {"two\nlines", "\"two\nlines\""},
        {"cr\r", "\"cr\r\""},
        {"semi;colon", "semi;colon"},
    };
    for (const auto& c : cases) {
        INFO("input " << c.in);
        CHECK(csv_field(c.in) == c.want);
    }
    CHECK(suppress_csv_header_line() == kHeaderAdded);
    CHECK(format_rfc3339_utc(k2027) == "2027-01-31T00:00:00Z");
    CHECK(format_rfc3339_utc(951827415) == "2000-02-29T12:30:15Z");
    CHECK(format_rfc3339_utc(0) == "1970-01-01T00:00:00Z");
}

TEST_CASE("csv: what the writer writes reads back the same", "[suppress][csv]") {
    std::vector<SuppressionEntry> entries(5);
    entries[0] = {"bob@example.org", SuppressReason::HardBounce, "", {}, 100, 0, "dsn"};
    entries[1] = {"carol@example.net",
                  SuppressReason::Unsubscribe,
                  "example.com",
                  {"bulk", "news"},
                  100,
                  k2027,
                  "crm, \"import\""};
    entries[2] = {"h:" + kHex, SuppressReason::Complaint, "", {}, 100, 0, "arf"};
    entries[3] = {"dave@example.com",
                  SuppressReason::Manual,
                  "example.org",
                  {"bulk"},
                  100,
                  951827415 + 1000000000,
                  ""};
    entries[4] = {"erin@example.com", SuppressReason::Invalid, "", {}, 100, 0, "a,b\"c"};
    std::string file = suppress_csv_header_line();
    for (const auto& e : entries) {
        file += format_suppress_csv_row(e);
    }
    CHECK(file.rfind(std::string(kHeaderAdded) +
                         "bob@example.org,hard_bounce,,*,,dsn,1970-01-01T00:01:40Z\n",
                     0) == 0);
    SuppressCsvOptions options;
    options.accept_hashed = true;
    options.unsubscribe_streams = {"other"};  // "*" and named streams never fall back to it
    options.now = 1000;
    const auto got = read_all(file, options, 5);
    REQUIRE(got.size() == entries.size() + 1);
    for (std::size_t i = 0; i < entries.size(); ++i) {
        const auto& r = got[i + 1];
        const auto& e = entries[i];
        INFO("entry " << i << ": " << describe(r));
        REQUIRE(r.row.ok());
        CHECK(r.line == i + 2);
        CHECK(r.row->address == e.address);
        CHECK(r.row->hashed == (e.address.rfind("h:", 0) == 0));
        CHECK(r.row->reason == e.reason);
        CHECK(r.row->scope == e.scope);
        CHECK(r.row->streams == e.streams);
        CHECK(r.row->expires_at == e.expires_at);
        CHECK(r.row->source == e.source);
        CHECK(r.row->added_at == e.added_at);
    }
}

TEST_CASE("csv: the added column, when the header has it", "[suppress][csv]") {
    struct Case {
        std::string file;
        std::int64_t want_added;  // -1: the row is refused
        std::string want_error;
    };
    const Case cases[] = {
        // Files without the column still import; the importer chooses.
        {std::string(kHeader) + "bob@example.org,manual,,,,src\n", 0, ""},
        {std::string(kHeaderAdded) + "bob@example.org,manual,,,,src,\n", 0, ""},
        {std::string(kHeaderAdded) + "bob@example.org,manual,,,,src,0\n", 0, ""},
        {std::string(kHeaderAdded) + "bob@example.org,manual,,,,src,2026-11-20T14:03:00Z\n",
         1795183380, ""},
        {std::string(kHeaderAdded) + "bob@example.org,manual,,,,src,1795183380\n", 1795183380, ""},
        {std::string(kHeaderAdded) + "bob@example.org,manual,,,,src,yesterday\n", -1,
         "2: column 7 (added): \"yesterday\" is not a time"},
        {std::string(kHeaderAdded) + "bob@example.org,manual,,,,src,30d\n", -1, "column 7 (added)"},
        {std::string(kHeaderAdded) + "bob@example.org,manual,,,,src\n", -1,
         "expected 7 fields (address,reason,scope,streams,expires,source,added), got 6"},
        {std::string(kHeader) + "bob@example.org,manual,,,,src,1795183380\n", -1,
         "expected 6 fields (address,reason,scope,streams,expires,source), got 7"},
    };
    SuppressCsvOptions options;
    options.now = 1500000000;
    for (const auto& c : cases) {
        INFO("file " << c.file);
        const auto got = read_all(c.file, options);
        REQUIRE(got.size() == 2);
        REQUIRE(got[0].row.ok());
        if (c.want_added < 0) {
            REQUIRE_FALSE(got[1].row.ok());
            CHECK_THAT(got[1].error_text(), Catch::Contains(c.want_error));
        } else {
            INFO(describe(got[1]));
            REQUIRE(got[1].row.ok());
            CHECK(got[1].row->added_at == c.want_added);
        }
    }
}

TEST_CASE("csv: expires takes what `suppress add --expires` takes", "[suppress][csv]") {
    constexpr std::int64_t now = 1500000000;
    struct Case {
        std::string text;
        std::int64_t want;  // -1: refused
    };
    const Case cases[] = {
        {"", 0},
        {"0", 0},
        {"30d", now + 30 * 86400},
        {"12h", now + 12 * 3600},
        {"90m", now + 90 * 60},
        {"1s", now + 1},
        {"1500ms", now + 2},  // rounded up to whole seconds
        {"2027-01-31T00:00:00Z", k2027},
        {"1801353600", k2027},
        {"500ms", -1},  // under a second
        {"0s", -1},
        {"-5d", -1},
        {"3 days", -1},
        {"30x", -1},
    };
    for (const auto& c : cases) {
        INFO("expires \"" << c.text << "\"");
        const auto got = parse_csv_expires(c.text, now);
        if (c.want < 0) {
            CHECK_FALSE(got.ok());
        } else {
            REQUIRE(got.ok());
            CHECK(*got == c.want);
        }
    }
    // The same in a file.
    const auto row = one_row("bob@example.org,manual,,,30d,", [] {
        SuppressCsvOptions o;
        o.now = now;
        return o;
    }());
    INFO(describe(row));
    REQUIRE(row.row.ok());
    CHECK(row.row->expires_at == now + 30 * 86400);
}
