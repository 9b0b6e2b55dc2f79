// schema_doc.cpp - see schema_doc.hpp.
#include "config/schema_doc.hpp"

#include <set>

#include "config/schema.hpp"

namespace staffel::config {

namespace {

constexpr std::string_view kBegin = "<!-- BEGIN keys ";
constexpr std::string_view kBeginTail = " (generated from the schema) -->";
constexpr std::string_view kEnd = "<!-- END keys ";

std::string cell(std::string_view text) {
    std::string out;
    for (const char c : text) {
        if (c == '|') {
            out += "\\|";
        } else if (c == '\n') {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

// Markdown's `code`, **bold** and [text](link) as roff, special characters
// escaped, so a meaning reads the same in both.
std::string roff_text(std::string_view text) {
    std::string out;
    bool code = false, bold = false;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const char c = text[i];
        if (c == '`') {
            out += code ? "\\fR" : "\\fB";
            code = !code;
        } else if (c == '*' && i + 1 < text.size() && text[i + 1] == '*') {
            out += bold ? "\\fR" : "\\fB";
            bold = !bold;
            ++i;
        } else if (c == '\\') {
            if (i + 1 < text.size() && text[i + 1] == '|') {
                out += '|';
                ++i;
            } else {
                out += "\\e";
            }
        } else if (c == '-') {
            out += "\\-";
        } else if (c == '\n') {
            out += ' ';
        } else {
            out += c;
        }
    }
    if (code || bold) {
        out += "\\fR";
    }
    // A line starting with "." or "'" would be a request.
    if (!out.empty() && (out.front() == '.' || out.front() == '\'')) {
        out.insert(0, "\\&");
    }
    return out;
}

}  // namespace

std::vector<std::string> documented_sections() {
    std::vector<std::string> out;
    std::set<std::string, std::less<>> seen;
    for (const auto& f : schema()) {
        if (seen.insert(std::string(f.section)).second) {
            out.emplace_back(f.section);
        }
    }
    return out;
}


std::string markdown_table(std::string_view section) {
    std::string out = "| key | value | default | meaning |\n|---|---|---|---|\n";
    for (const auto* f : fields_of(section)) {
        out += "| `" + f->name() + "` | " + cell(f->expects) + " | " + cell(f->default_text) +
               " | " + cell(field_meaning(f->name())) + " |\n";
    }
    return out;
}

std::string readme_with_tables(std::string_view readme) {
    std::string out;
    std::size_t pos = 0;
    while (pos < readme.size()) {
        auto eol = readme.find('\n', pos);
        const auto line = readme.substr(pos, eol == std::string_view::npos ? readme.size() - pos
                                                                          : eol - pos);
        const auto next = eol == std::string_view::npos ? readme.size() : eol + 1;
        out += line;
        out += '\n';
        pos = next;
        if (!line.starts_with(kBegin) || !line.ends_with(kBeginTail)) {
            continue;
        }
        const auto section =
            line.substr(kBegin.size(), line.size() - kBegin.size() - kBeginTail.size());
        const std::string end = std::string(kEnd) + std::string(section) + " -->";
        const auto end_at = readme.find(end, pos);
        if (end_at == std::string_view::npos) {
            continue;  // left as it is: the test then fails on the difference
        }
        out += markdown_table(section);
        pos = end_at;
    }
    if (!readme.ends_with('\n') && !out.empty()) {
        out.pop_back();
    }
    return out;
}

std::string man_page(std::string_view version, std::string_view date) {
    std::string out;
    out += ".\\\" Generated from the schema of Staffel's policy loader; do not edit.\n";
    out += ".TH STAFFEL.TOML 5 \"" + std::string(date) + "\" \"Staffel " + std::string(version) +
           "\" \"File Formats\"\n";
    out += ".SH NAME\nstaffel.toml \\- the policy of the Staffel outbound mail milter\n";
    out += ".SH SYNOPSIS\n.B /etc/staffel/staffel.toml\n";
    out += ".SH DESCRIPTION\n"
           "The policy tells\n.BR staffeld (8)\n"
           "what to do with outbound mail: which domains it signs with DKIM and with which "
           "keys, the quotas and rates each sender, domain, SASL user or network gets, the "
           "suppression lists it checks, and the streams and routes mail leaves by.\n"
           "It is a TOML file; an unknown section or key, a value of the wrong type or out of "
           "bounds is an error naming its file, line and column, and the policy is not "
           "used.\n"
           ".PP\n"
           "Check a policy with\n.B staffeld \\-n \\-c\n.IR FILE .\n"
           "A running staffeld rereads it on SIGHUP and keeps the policy in force if the new "
           "one has an error.\n"
           ".BR staffelctl (8)\n"
           "reads the same file.\n"
           ".PP\n"
           "Durations are written like \\(lq500ms\\(rq, \\(lq30s\\(rq, \\(lq5m\\(rq, "
           "\\(lq2h\\(rq or \\(lq30d\\(rq.\n"
           "Sections written [[name]] are arrays: each one adds an element.\n"
           "The README of the policies directory (/usr/share/doc/staffel/policies/README.md)\n"
           "explains each section at length, with examples.\n";
    out += ".SH KEYS\n";
    for (const auto& section : documented_sections()) {
        const auto* sub = subsection(section);
        const bool array = (sub != nullptr && sub->array) || section == "quota" ||
                           section == "stream" || section == "route";
        out += ".SS " + std::string(array ? "[[" : "[") + section + (array ? "]]" : "]") + "\n";
        for (const auto* f : fields_of(section)) {
            out += ".TP\n.B " + std::string(f->key) + "\n";
            out += roff_text(f->expects) + ".\nDefault: " + roff_text(f->default_text) + ".\n";
            const auto meaning = field_meaning(f->name());
            if (!meaning.empty()) {
                out += ".br\n" + roff_text(meaning) + "\n";
            }
        }
    }
    out += ".SH FILES\n.TP\n.I /etc/staffel/staffel.toml\nthe policy staffeld and staffelctl "
           "read unless given \\-c\n.TP\n.I /etc/staffel/keys/\nDKIM private keys (mode 0600, "
           "in a directory only the staffel user may read)\n";
    out += ".SH SEE ALSO\n.BR staffeld (8),\n.BR staffelctl (8)\n";
    return out;
}

}  // namespace staffel::config
