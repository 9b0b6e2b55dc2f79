// test_mime_budget.cpp - the scan that bounds what GMime may build from a
// message: each row a message and the problem it must give ("" = parse it).
#include <catch2/catch.hpp>
#include <string>

#include "adapters/gmime/mime_budget.hpp"

using staffel::adapters::kMaxMimeDelimiters;
using staffel::adapters::kMaxMimeFieldItems;
using staffel::adapters::mime_budget_problem;

namespace {

std::string repeat(const std::string& s, std::size_t n) {
    std::string out;
    out.reserve(s.size() * n);
    for (std::size_t i = 0; i < n; ++i) {
        out += s;
    }
    return out;
}

const std::string kFields =
    "more than 50000 header fields, parameters and addresses (refused before MIME parsing)";
const std::string kDelimiters =
    "more than 5000 lines starting with \"--\" (refused before MIME parsing)";

}  // namespace

TEST_CASE("the MIME budget counts fields, their separators and delimiter lines", "[bounce]") {
    struct Case {
        const char* what;
        std::string message;
        std::string want;
    };
    const std::size_t f = kMaxMimeFieldItems;
    const std::size_t d = kMaxMimeDelimiters;
    const Case cases[] = {
        {"an ordinary report",
         "To: a@b\nContent-Type: multipart/report; boundary=B\n\n--B\n--B--\n", ""},
        {"fields up to the bound", repeat("X-A: b\n", f), ""},
        {"one field too many", repeat("X-A: b\n", f + 1), kFields},
        {"\"Name :\" is a field too", repeat("X-A : b\n", f + 1), kFields},
        {"addresses of one field", "To: " + repeat("a@b,", f) + "\n", kFields},
        {"parameters of one field", "Content-Type: a/b" + repeat(";a=b", f) + "\n", kFields},
        {"folded addresses", "To: a@b" + repeat(",\n a@b", f) + "\n", kFields},
        {"CRLF lines", repeat("X-A: b\r\n", f + 1), kFields},
        {"commas in body text do not count", "\n" + repeat("a, b; c\n", 2 * f), ""},
        {"indented body text after a non-field line does not count",
         "text\n" + repeat(" a, b; c\n", 2 * f), ""},
        {"delimiters up to the bound", repeat("--B\n", d), ""},
        {"one delimiter line too many", repeat("--B\n", d + 1), kDelimiters},
        {"a last line without a newline", repeat("--B\n", d) + "--B", kDelimiters},
        {"empty", "", ""},
    };
    for (const auto& c : cases) {
        INFO(c.what);
        const std::string got = mime_budget_problem(c.message);
        CHECK(got == c.want);
    }
}
