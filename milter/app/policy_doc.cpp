// policy_doc.cpp - staffel_policy_doc: the policy reference from the schema.
//
// Purpose: a build tool (not installed). Writes staffel.toml(5), rewrites
//   the generated key tables of policies/README.md, or lists the keys; see
//   config/schema_doc.hpp.
// Usage: staffel_policy_doc --man VERSION DATE [OUTPUT] (else stdout)
//        staffel_policy_doc --readme FILE    (rewrites FILE in place)
//        staffel_policy_doc --list
// Exit status: 0 done; 64 bad usage; 74 FILE cannot be read or written.
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>

#include "config/schema.hpp"
#include "config/schema_doc.hpp"

int main(int argc, char** argv) {
    using namespace staffel::config;
    const std::string mode = argc > 1 ? argv[1] : "";
    if (mode == "--man" && (argc == 4 || argc == 5)) {
        if (argc == 4) {
            std::cout << man_page(argv[2], argv[3]);
            return 0;
        }
        std::ofstream out(argv[4], std::ios::trunc);
        out << man_page(argv[2], argv[3]);
        if (!out) {
            std::cerr << "staffel_policy_doc: cannot write " << argv[4] << '\n';
            return 74;
        }
        return 0;
    }
    if (mode == "--list" && argc == 2) {
        for (const auto& f : schema()) {
            std::cout << f.section << '\t' << f.name() << '\n';
        }
        return 0;
    }
    if (mode == "--readme" && argc == 3) {
        std::ifstream in(argv[2]);
        if (!in) {
            std::cerr << "staffel_policy_doc: cannot read " << argv[2] << '\n';
            return 74;
        }
        std::stringstream text;
        text << in.rdbuf();
        in.close();
        const auto updated = readme_with_tables(text.str());
        if (updated != text.str()) {
            std::ofstream out(argv[2], std::ios::trunc);
            out << updated;
            if (!out) {
                std::cerr << "staffel_policy_doc: cannot write " << argv[2] << '\n';
                return 74;
            }
            std::cerr << "staffel_policy_doc: rewrote the key tables of " << argv[2] << '\n';
        }
        return 0;
    }
    std::cerr << "usage: staffel_policy_doc --man VERSION DATE [OUTPUT] | --readme FILE | --list\n";
    return 64;
}
