// fuzz_policy.cpp - libFuzzer target: the policy loader and its schema
// (config/loader.hpp, config/schema.hpp) on any text.
//
// Purpose: `staffeld -n` and `staffelctl` read policy text that may come
//   from anywhere (a file someone else wrote, a ticket, a merge gone
//   wrong); loading must never crash, throw, leak or hit undefined
//   behaviour, whatever the TOML. It must keep the promises of loader.hpp
//   (a broken one aborts, which libFuzzer reports as a crash):
//     L1  exactly one of: a policy, or errors (never a partial policy).
//     L2  every error has a message and a file, prints as "FILE..." with
//         "error:" in it, and errors are sorted by file order, line and
//         column.
//     L3  `files` names the text first.
// Includes are resolved against the working directory (run.sh runs from
//   the source tree), so an include may read a policy of the tree: fine.
// Seeds: tests/fuzz/corpus/policy/ (policies/*.toml and variations).
// Thread-safety: libFuzzer calls this from one thread.
// Outside input: the fuzzer's bytes.
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <tuple>

#include "config/loader.hpp"

namespace {

using staffel::config::LoadResult;

// Aborts, naming the line of the promise broken.
void require(bool promise, int line = __builtin_LINE()) {
    if (!promise) {
        std::fprintf(stderr, "promise broken at %s:%d\n", __FILE__, line);
        std::abort();
    }
}

constexpr const char* kName = "fuzz.toml";

void check(const LoadResult& r) {
    // L1
    require((r.policy == nullptr) != r.errors.empty());
    // L3
    require(!r.files.empty() && r.files.front() == kName);
    // L2
    for (const auto& e : r.errors) {
        require(!e.message.empty() && !e.file.empty());
        const auto text = e.to_string();
        require(text.starts_with(e.file) && text.find("error:") != std::string::npos);
    }
    auto rank = [&](const staffel::config::LoadError& e) {
        std::size_t file = r.files.size();
        for (std::size_t i = 0; i < r.files.size(); ++i) {
            if (r.files[i] == e.file) {
                file = i;
                break;
            }
        }
        return std::tuple(file, e.line, e.column);
    };
    for (std::size_t i = 1; i < r.errors.size(); ++i) {
        require(!(rank(r.errors[i]) < rank(r.errors[i - 1])));
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string text(reinterpret_cast<const char*>(data), size);
    const auto first = staffel::config::load_policy_text(text, kName);
    check(first);
    return 0;
}
