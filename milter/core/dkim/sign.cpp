// sign.cpp - see sign.hpp.
#include "core/dkim/sign.hpp"

#include <algorithm>
#include <cassert>

namespace staffel::core {
namespace {

constexpr std::size_t kMaxColumns = 78;
constexpr std::string_view kFold = "\r\n\t";

// Appends tag text to a folded value, tracking the column.
class Folder {
  public:
    explicit Folder(std::string& out) : out_(out) {}

    // Starts a tag: a space before it, or a fold when `first_atom` would
    // not fit on the current line.
    void start(std::string_view first_atom, bool force_new_line = false) {
        if (force_new_line || column_ + 1 + first_atom.size() > kMaxColumns) {
            fold();
        } else {
            out_ += ' ';
            ++column_;
        }
        put(first_atom);
    }
    // Appends an atom, folding before it if it would not fit.
    void atom(std::string_view a) {
        if (column_ + a.size() > kMaxColumns) {
            fold();
        }
        put(a);
    }
    // Appends characters that may be folded anywhere (base64).
    void breakable(std::string_view text) {
        while (!text.empty()) {
            if (column_ >= kMaxColumns) {
                fold();
            }
            const auto n = std::min(text.size(), kMaxColumns - column_);
            put(text.substr(0, n));
            text.remove_prefix(n);
        }
    }

  private:
    void fold() {
        out_ += kFold;
        column_ = 1;  // the TAB
    }
    void put(std::string_view a) {
        out_ += a;
        column_ += a.size();
    }

    std::string& out_;
    std::size_t column_ = std::string_view("DKIM-Signature:").size();
};

}  // namespace

std::vector<std::string> select_signed_headers(const std::vector<HeaderField>& fields,
                                               std::span<const std::string> sign_headers,
                                               std::span<const std::string> oversign_headers) {
    std::vector<std::string> names;
    const auto listed = [](std::span<const std::string> list, std::string_view name) {
        return std::any_of(list.begin(), list.end(),
                           [&](const std::string& n) { return iequals(n, name); });
    };
    auto emit = [&](const std::string& raw) {
        const auto name = ascii_lower(raw);
        if (std::find(names.begin(), names.end(), name) != names.end()) {
            return;  // listed twice in the policy: the first place counts
        }
        const auto present = static_cast<std::size_t>(
            std::count_if(fields.begin(), fields.end(),
                          [&](const HeaderField& f) { return iequals(f.name, name); }));
        const std::size_t times = present + (listed(oversign_headers, name) ? 1 : 0);
        for (std::size_t i = 0; i < times; ++i) {
            names.push_back(name);
        }
    };
    for (const auto& n : sign_headers) {
        emit(n);
    }
    for (const auto& n : oversign_headers) {
        emit(n);
    }
    return names;
}

void append_selected_headers(const std::vector<HeaderField>& fields,
                             const std::vector<std::string>& h, Canon canon, std::string& out) {
    // used[i]: field i was already taken by an earlier entry of its name.
    std::vector<bool> used(fields.size(), false);
    for (const auto& name : h) {
        for (std::size_t i = fields.size(); i-- > 0;) {
            if (!used[i] && iequals(fields[i].name, name)) {
                used[i] = true;
                append_canon_header(canon, fields[i].name, fields[i].value, out);
                break;
            }
        }
    }
}

std::string base64(std::string_view bytes) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((bytes.size() + 2) / 3 * 4);
    std::size_t i = 0;
    const auto byte = [&](std::size_t k) { return static_cast<unsigned char>(bytes[k]); };
    for (; i + 3 <= bytes.size(); i += 3) {
        const unsigned v = (byte(i) << 16) | (byte(i + 1) << 8) | byte(i + 2);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += kAlphabet[(v >> 6) & 63];
        out += kAlphabet[v & 63];
    }
    if (const auto rest = bytes.size() - i; rest > 0) {
        const unsigned v = (byte(i) << 16) | (rest == 2 ? byte(i + 1) << 8 : 0);
        out += kAlphabet[(v >> 18) & 63];
        out += kAlphabet[(v >> 12) & 63];
        out += rest == 2 ? kAlphabet[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out;
}

std::string fold_signature(const std::vector<std::pair<std::string, std::string>>& tags,
                           std::string_view b) {
    std::string out;
    Folder f(out);
    for (const auto& [name, value] : tags) {
        if (name == "h") {
            // Fold only between names: "h=from:to:..." -> atoms "h=from", ":to".
            std::size_t start = 0;
            bool first = true;
            while (start <= value.size()) {
                auto end = value.find(':', start);
                if (end == std::string::npos) {
                    end = value.size();
                }
                std::string a = first ? "h=" : ":";
                a += value.substr(start, end - start);
                if (end == value.size()) {
                    a += ';';
                }
                first ? f.start(a) : f.atom(a);
                first = false;
                start = end + 1;
            }
        } else {  // short enough to keep whole (bh= is 48 columns)
            f.start(name + "=" + value + ";");
        }
    }
    f.start("b=", true);
    f.breakable(b);
    return out;
}

MessageSigner::MessageSigner(const Sha256Factory& sha, std::vector<SignatureSpec> specs)
    : sha_(sha), specs_(std::move(specs)) {
    bodies_.reserve(2);
    for (const auto& s : specs_) {
        body_hash_for(s.canon.body);
    }
}

MessageSigner::BodyHash* MessageSigner::body_hash_for(Canon canon) {
    for (auto& b : bodies_) {
        if (b.canon.canon() == canon) {
            return &b;
        }
    }
    assert(bodies_.size() < 2);
    auto& b = bodies_.emplace_back(canon);
    b.hash = sha_.make();
    return &b;
}

void MessageSigner::body(std::string_view chunk) {
    for (auto& b : bodies_) {
        b.canon.update(chunk, [&](std::string_view bytes) { b.hash->update(bytes); });
    }
}

Result<std::vector<SignedField>> MessageSigner::sign(const std::vector<HeaderField>& fields,
                                                     const SignOptions& options) {
    for (auto& b : bodies_) {
        b.canon.finish([&](std::string_view bytes) { b.hash->update(bytes); });
        auto digest = b.hash->finish();
        if (!digest) {
            return make_error("body hash: " + digest.error().message);
        }
        b.digest_b64 =
            base64(std::string_view(reinterpret_cast<const char*>(digest->data()), digest->size()));
    }
    const auto h = select_signed_headers(fields, options.sign_headers, options.oversign_headers);
    std::string h_value;
    for (const auto& n : h) {
        h_value += h_value.empty() ? "" : ":";
        h_value += n;
    }
    std::vector<SignedField> out;
    out.reserve(specs_.size());
    std::string data;
    for (const auto& spec : specs_) {
        const auto algorithm = spec.key->algorithm();
        std::vector<std::pair<std::string, std::string>> tags{
            {"v", "1"},
            {"a", std::string(to_string(algorithm))},
            {"c", to_string(spec.canon)},
            {"d", spec.domain},
            {"s", spec.selector},
            {"t", std::to_string(options.now)},
        };
        if (options.expire) {
            tags.emplace_back("x", std::to_string(options.now + options.expire->count()));
        }
        tags.emplace_back("h", h_value);
        tags.emplace_back("bh", body_hash_for(spec.canon.body)->digest_b64);

        data.clear();
        append_selected_headers(fields, h, spec.canon.header, data);
        append_canon_header(spec.canon.header, "DKIM-Signature", fold_signature(tags, {}), data);
        data.resize(data.size() - 2);  // the signature field is hashed without its CRLF
        auto signature = spec.key->sign(data);
        if (!signature) {
            return make_error("signing for d=" + spec.domain + " s=" + spec.selector + ": " +
                              signature.error().message);
        }
        out.push_back({"DKIM-Signature", fold_signature(tags, base64(*signature)), spec.domain,
                       spec.selector, algorithm});
    }
    return out;
}

}  // namespace staffel::core
