// fake_message_edits.hpp - a MessageEdits that records what a Session asks
// the MTA to change, for unit tests.
//
// Purpose: one fake for every session test (quota, routing, suppression):
//   it counts inserted header fields, keeps the recipients deleted and the
//   last envelope sender set, and can refuse header insertion the way an
//   MTA may (accept_headers = false).
// Thread-safety: none; one test thread.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/session.hpp"

namespace staffel::test {

struct FakeMessageEdits : core::MessageEdits {
    bool accept_headers = true;                 // false: insert_header fails
    int inserted = 0;                           // header fields inserted
    std::vector<std::string> deleted;           // recipients removed, as given
    std::string sender;                         // the last MAIL FROM set; "" = unchanged
    std::vector<std::string> removed_headers;   // "Name#index"
    std::vector<std::string> appended_headers;  // "Name:value"

    bool insert_header(std::string_view, std::string_view) override {
        inserted += accept_headers ? 1 : 0;
        return accept_headers;
    }
    bool quarantine(std::string_view) override { return true; }
    bool delete_recipient(std::string_view r) override {
        deleted.emplace_back(r);
        return true;
    }
    bool change_sender(std::string_view s) override {
        sender = std::string(s);
        return true;
    }
    bool remove_header(std::string_view name, int index) override {
        removed_headers.push_back(std::string(name) + "#" + std::to_string(index));
        return true;
    }
    bool append_header(std::string_view name, std::string_view value) override {
        appended_headers.push_back(std::string(name) + ":" + std::string(value));
        return true;
    }
};

}  // namespace staffel::test
