// loader.cpp - see loader.hpp.
#include "config/loader.hpp"

#include <fcntl.h>
#include <openssl/evp.h>
#include <sys/stat.h>
#include <toml++/toml.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <tuple>

#include "config/schema.hpp"

namespace staffel::config {
namespace {

constexpr std::size_t kMaxPolicyBytes = 4u << 20;
constexpr int kMaxIncludeDepth = 8;

std::string where(const toml::source_region& r) {
    return (r.path ? *r.path : std::string("?")) + ":" + std::to_string(r.begin.line) + ":" +
           std::to_string(r.begin.column);
}

std::size_t edit_distance(std::string_view a, std::string_view b) {
    std::vector<std::size_t> row(b.size() + 1);
    for (std::size_t j = 0; j <= b.size(); ++j) {
        row[j] = j;
    }
    for (std::size_t i = 1; i <= a.size(); ++i) {
        std::size_t diag = row[0];
        row[0] = i;
        for (std::size_t j = 1; j <= b.size(); ++j) {
            const std::size_t up = row[j];
            row[j] = std::min({row[j] + 1, row[j - 1] + 1, diag + (a[i - 1] == b[j - 1] ? 0 : 1)});
            diag = up;
        }
    }
    return row[b.size()];
}

std::string suggest(std::string_view got, const std::vector<std::string_view>& known) {
    std::string best;
    std::size_t best_distance = 3;  // suggest only close matches
    for (auto k : known) {
        const auto d = edit_distance(got, k);
        if (d < best_distance) {
            best_distance = d;
            best = std::string(k);
        }
    }
    return best.empty() ? std::string() : "did you mean \"" + best + "\"? ";
}

std::string join(const std::vector<std::string_view>& items) {
    std::string out;
    for (auto i : items) {
        out += out.empty() ? "" : ", ";
        out += i;
    }
    return out;
}

// Reads a whole regular file, refusing directories and oversized files.
bool read_file(const std::string& path, std::string& out, std::string& why) {
    // O_NONBLOCK: a FIFO at the path must not hang `staffeld -n` or a reload.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        why = std::string("cannot open policy: ") + std::strerror(errno);
        return false;
    }
    struct stat st {};
    if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        why = S_ISDIR(st.st_mode) ? "cannot read policy: it is a directory"
                                  : "cannot read policy: not a regular file";
        ::close(fd);
        return false;
    }
    if (static_cast<std::size_t>(st.st_size) > kMaxPolicyBytes) {
        why = "policy file is larger than 4 MiB";
        ::close(fd);
        return false;
    }
    out.clear();
    char buf[8192];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            why = std::string("cannot read policy: ") + std::strerror(errno);
            ::close(fd);
            return false;
        }
        if (n == 0) {
            break;
        }
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > kMaxPolicyBytes) {
            why = "policy file is larger than 4 MiB";
            ::close(fd);
            return false;
        }
    }
    ::close(fd);
    return true;
}

// File order (as LoadResult::files lists them; others last), then line
// and column; errors the loader found in the same place keep their order.
void sort_errors(LoadResult& r) {
    auto rank = [&](const LoadError& e) {
        const auto it = std::find(r.files.begin(), r.files.end(), e.file);
        return std::tuple(static_cast<std::size_t>(it - r.files.begin()), e.line, e.column);
    };
    std::stable_sort(r.errors.begin(), r.errors.end(),
                     [&](const LoadError& a, const LoadError& b) { return rank(a) < rank(b); });
}

class Loader {
  public:
    Loader() : md_(EVP_MD_CTX_new()) { EVP_DigestInit_ex(md_, EVP_sha256(), nullptr); }
    ~Loader() { EVP_MD_CTX_free(md_); }
    Loader(const Loader&) = delete;
    Loader& operator=(const Loader&) = delete;

    void load_file(const std::string& path, int depth, const toml::source_region* from) {
        std::string text;
        std::string why;
        if (!read_file(path, text, why)) {
            if (from != nullptr) {
                error_at(path, from, "include", "\"" + path + "\": " + why);
            } else {
                error_at(path, nullptr, "", why);
            }
            return;
        }
        std::error_code ec;
        stack_.push_back(std::filesystem::weakly_canonical(path, ec).string());
        load_text(text, path, depth);
        stack_.pop_back();
    }

    void load_text(const std::string& text, const std::string& name, int depth) {
        files_.push_back(name);
        EVP_DigestUpdate(md_, text.data(), text.size());
        toml::table root;
        try {
            root = toml::parse(text, name);
        } catch (const toml::parse_error& e) {
            const auto& r = e.source();
            errors_.push_back({name, r.begin.line, r.begin.column, "",
                               "invalid TOML: " + std::string(e.description())});
            return;
        }
        apply(root, name, depth);
    }

    LoadResult finish(const std::string& main_path) {
        LoadResult result;
        result.files = std::move(files_);
        result.set_at = std::move(set_at_values_);
        if (errors_.empty()) {
            check_routing_references(main_path);
        }
        if (!errors_.empty()) {
            result.errors = std::move(errors_);
            sort_errors(result);
            return result;
        }
        unsigned char digest[EVP_MAX_MD_SIZE];
        unsigned int len = 0;
        EVP_DigestFinal_ex(md_, digest, &len);
        static constexpr char kHex[] = "0123456789abcdef";
        for (unsigned i = 0; i < 4 && i < len; ++i) {
            policy_.digest += kHex[digest[i] >> 4];
            policy_.digest += kHex[digest[i] & 15];
        }
        policy_.path = main_path;
        result.policy = std::make_shared<const core::Policy>(std::move(policy_));
        return result;
    }

  private:
    // An error at an element's FILE:LINE:COL ("where").
    void error_where(const std::string& where, std::string field, std::string message) {
        LoadError e{where, 0, 0, std::move(field), std::move(message)};
        const auto c2 = where.rfind(':');
        const auto c1 = c2 == std::string::npos ? std::string::npos : where.rfind(':', c2 - 1);
        if (c1 != std::string::npos) {
            e.file = where.substr(0, c1);
            e.line = static_cast<std::uint32_t>(std::strtoul(where.c_str() + c1 + 1, nullptr, 10));
            e.column =
                static_cast<std::uint32_t>(std::strtoul(where.c_str() + c2 + 1, nullptr, 10));
        }
        errors_.push_back(std::move(e));
    }

    // Names that point elsewhere in the policy must exist: routes of
    // streams, fallbacks, the default route, DKIM keys of routes, and the
    // streams quotas and suppression name (once [[stream]] rules exist).
    void check_routing_references(const std::string& main_path) {
        const auto& r = policy_.routing;
        auto known_route = [&](const std::string& n) {
            return core::find_route(r.routes, n) != nullptr;
        };
        if (!r.default_route.empty() && !known_route(r.default_route)) {
            error_where(main_path, "routing.default_route",
                        "no [[route]] is named \"" + r.default_route + "\"");
        }
        for (const auto& s : r.streams) {
            if (!s.route.empty() && !known_route(s.route)) {
                error_where(s.where, "stream.route", "no [[route]] is named \"" + s.route + "\"");
            }
        }
        for (const auto& route : r.routes) {
            if (route.on_spf_fail == core::Route::SpfAction::SwitchRoute &&
                (route.spf_switch_route == route.name || !known_route(route.spf_switch_route))) {
                error_where(route.where, "route.on_spf_fail",
                            "\"route:" + route.spf_switch_route + "\" is not another [[route]]");
            }
            if (!route.fallback.empty() &&
                (route.fallback == route.name || !known_route(route.fallback))) {
                error_where(route.where, "route.fallback",
                            "\"" + route.fallback + "\" is not another [[route]]");
            }
            for (const auto& k : route.dkim_keys) {
                const bool found = std::any_of(policy_.dkim.keys.begin(), policy_.dkim.keys.end(),
                                               [&](const core::DkimKeySpec& spec) {
                                                   return spec.domain + "/" + spec.selector == k;
                                               });
                if (!found) {
                    error_where(route.where, "route.dkim_keys",
                                "\"" + k + "\" is not a [[dkim.keys]] entry (DOMAIN/SELECTOR)");
                }
            }
        }
        if (r.streams.empty()) {
            return;
        }
        std::vector<std::string> names{r.default_stream};
        for (const auto& s : r.streams) {
            names.push_back(s.name);
        }
        auto known_stream = [&](const std::string& n) {
            return std::find(names.begin(), names.end(), n) != names.end();
        };
        for (const auto& q : policy_.quotas) {
            for (const auto& s : q.streams) {
                if (!known_stream(s)) {
                    error_where(q.where, "quota.streams",
                                "no [[stream]] rule names \"" + s +
                                    "\" and it is not routing.default_stream");
                }
            }
        }
        for (const auto& s : policy_.suppression.enabled ? policy_.suppression.unsubscribe_streams
                                                         : std::vector<std::string>{}) {
            if (!known_stream(s)) {
                error_where(
                    main_path, "suppression.unsubscribe_streams",
                    "no [[stream]] rule names \"" + s + "\" and it is not routing.default_stream");
            }
        }
    }

    void error_at(const std::string& file, const toml::source_region* r, std::string field,
                  std::string message) {
        if (r != nullptr) {
            errors_.push_back({r->path ? *r->path : file, r->begin.line, r->begin.column,
                               std::move(field), std::move(message)});
        } else {
            errors_.push_back({file, 0, 0, std::move(field), std::move(message)});
        }
    }

    void apply(const toml::table& root, const std::string& path, int depth) {
        std::vector<std::pair<std::string, toml::source_region>> includes;
        for (auto&& [key, node] : root) {
            const std::string name(key.str());
            if (name == "include") {
                collect_includes(node, path, includes);
                continue;
            }
            const auto& sections = known_sections();
            if (std::find(sections.begin(), sections.end(), name) == sections.end()) {
                auto known = sections;
                known.insert(known.begin(), "include");
                error_at(path, &key.source(), name,
                         "unknown section; " + suggest(name, known) + "known: " + join(known));
                continue;
            }
            if (const auto* array_spec = subsection(name); array_spec && array_spec->array) {
                apply_array(*array_spec, node, path);  // [[quota]]
                continue;
            }
            const auto* table = node.as_table();
            if (table == nullptr) {
                error_at(path, &node.source(), name,
                         "expected a table ([" + name + "]), got a plain value");
                continue;
            }
            if (name == "suppression") {
                policy_.suppression.enabled = true;  // unless it says enabled = false
            }
            apply_section(name, *table, path);
        }
        for (const auto& [file, region] : includes) {
            if (depth + 1 > kMaxIncludeDepth) {
                error_at(path, &region, "include", "includes nested deeper than 8 levels");
                continue;
            }
            std::error_code ec;
            const auto canonical = std::filesystem::weakly_canonical(file, ec).string();
            if (std::find(stack_.begin(), stack_.end(), canonical) != stack_.end()) {
                error_at(path, &region, "include", "\"" + file + "\" would include itself");
                continue;
            }
            load_file(file, depth + 1, &region);
        }
    }

    void collect_includes(const toml::node& node, const std::string& path,
                          std::vector<std::pair<std::string, toml::source_region>>& out) {
        const auto* array = node.as_array();
        if (array == nullptr) {
            error_at(path, &node.source(), "include",
                     "expected an array of file names, e.g. [\"limits.toml\"]");
            return;
        }
        const auto base = std::filesystem::path(path).parent_path();
        for (const auto& item : *array) {
            const auto* s = item.as_string();
            if (s == nullptr || s->get().empty()) {
                error_at(path, &item.source(), "include", "expected a file name string");
                continue;
            }
            std::filesystem::path p(s->get());
            if (p.is_relative()) {
                p = base / p;
            }
            out.emplace_back(p.lexically_normal().string(), item.source());
        }
    }

    // A [[section]] array: each element is one entry.
    void apply_array(const SubsectionSpec& spec, const toml::node& node, const std::string& path) {
        const std::string name(spec.name);
        const auto* array = node.as_array();
        if (array == nullptr || !array->is_array_of_tables()) {
            error_at(path, &node.source(), name,
                     "expected tables written as [[" + name + "]], got a plain value");
            return;
        }
        for (const auto& element : *array) {
            const auto& table = *element.as_table();
            const auto index = element_regions_[name].size();
            element_regions_[name].push_back(table.source());
            spec.begin(policy_, where(table.source()));
            const auto before = errors_.size();
            apply_section(name, table, path, name + "#" + std::to_string(index));
            if (errors_.size() != before) {
                continue;
            }
            for (auto required : spec.required) {
                if (!table.contains(required)) {
                    error_at(path, &table.source(), name + "." + std::string(required),
                             "missing; every [[" + name + "]] needs " + std::string(required));
                }
            }
            if (errors_.size() == before) {
                const auto dir = std::filesystem::path(path).parent_path().string();
                if (auto why = spec.finish(policy_, dir)) {
                    error_at(path, &table.source(), name, *why);
                }
            }
        }
    }

    // `instance` names the table for duplicate detection ("dkim.keys#0").
    void apply_section(const std::string& section, const toml::table& table,
                       const std::string& path, const std::string& instance = {}) {
        const auto fields = fields_of(section);
        for (auto&& [key, node] : table) {
            const std::string name = section + "." + std::string(key.str());
            if (const auto* sub = subsection(name)) {
                if (sub->array) {
                    apply_array(*sub, node, path);
                } else if (const auto* t = node.as_table()) {
                    apply_section(name, *t, path);
                } else {
                    error_at(path, &node.source(), name,
                             "expected a table ([" + name + "]), got a plain value");
                }
                continue;
            }
            // clang 14 cannot capture a structured binding in a lambda.
            const std::string_view key_name = key.str();
            const auto it = std::find_if(fields.begin(), fields.end(),
                                         [&](const FieldSpec* f) { return f->key == key_name; });
            if (it == fields.end()) {
                std::vector<std::string_view> known;
                for (const auto* f : fields) {
                    known.push_back(f->key);
                }
                for (const auto& sub : subsections()) {
                    if (sub.name.starts_with(section + ".") &&
                        sub.name.find('.', section.size() + 1) == std::string_view::npos) {
                        known.push_back(sub.name.substr(section.size() + 1));
                    }
                }
                error_at(path, &key.source(), name,
                         "unknown key; " + suggest(key.str(), known) + "known keys in [" + section +
                             "]: " + join(known));
                continue;
            }
            const std::string once =
                (instance.empty() ? section : instance) + "." + std::string(key.str());
            if (auto seen = set_at_.find(once); seen != set_at_.end()) {
                error_at(path, &key.source(), name, "already set at " + seen->second);
                continue;
            }
            set_at_[once] = where(key.source());
            const auto& v = node.source();
            set_at_values_[once] = {v.path ? *v.path : path, v.begin.line, v.begin.column, name,
                                    ""};
            if (auto why = (*it)->set(node, policy_)) {
                std::string message = *why;
                if (message.starts_with("got ")) {
                    message = "expected " + std::string((*it)->expects) + ", " + message;
                } else if (message.find("expected") == std::string::npos) {
                    message += "; expected " + std::string((*it)->expects);
                }
                error_at(path, member_region(node, message), name, message);
            }
        }
    }

    // Where a setter's message about one member of a table value belongs:
    // '"KEY" = ...' is about its value, '"KEY" ...' about the key itself
    // (config/schema_suppress.cpp's dsn_status); anything else is about the
    // whole value.
    static const toml::source_region* member_region(const toml::node& node,
                                                    const std::string& message) {
        const auto* table = node.as_table();
        const auto close = message.find('"', 1);
        if (table == nullptr || !message.starts_with('"') || close == std::string::npos) {
            return &node.source();
        }
        const std::string_view key(message.data() + 1, close - 1);
        for (auto&& [k, v] : *table) {
            if (k.str() == key) {
                return std::string_view(message).substr(close + 1).starts_with(" = ") ? &v.source()
                                                                                      : &k.source();
            }
        }
        return &node.source();
    }

    EVP_MD_CTX* md_;
    core::Policy policy_;
    std::vector<LoadError> errors_;
    std::vector<std::string> files_;
    std::vector<std::string> stack_;
    std::map<std::string, std::string> set_at_;
    std::map<std::string, LoadError> set_at_values_;  // LoadResult::set_at

  public:
    // Where each [[name]] element began, in policy order.
    std::map<std::string, std::vector<toml::source_region>> element_regions_;
};

}  // namespace

LoadError LoadResult::error_at(const std::string& field, std::string message) const {
    LoadError e;
    if (const auto it = set_at.find(field); it != set_at.end()) {
        e = it->second;
    } else {
        e.file = files.empty() ? std::string() : files.front();
        e.field = field;
    }
    e.message = std::move(message);
    return e;
}

std::string LoadError::to_string() const {
    std::string out = file;
    if (line != 0) {
        out += ":" + std::to_string(line) + ":" + std::to_string(column);
    }
    out += ": error: ";
    if (!field.empty()) {
        out += field + ": ";
    }
    return out + message;
}

LoadResult load_policy(const std::string& path, const KeyLoader& load_key) {
    Loader loader;
    loader.load_file(path, 0, nullptr);
    auto result = loader.finish(path);
    if (!result.policy || !load_key) {
        return result;
    }
    // Keys are read once the policy is valid, so a broken policy does not
    // also report every key it names.
    auto policy = std::make_shared<core::Policy>(*result.policy);
    for (std::size_t i = 0; i < policy->dkim.keys.size(); ++i) {
        auto& k = policy->dkim.keys[i];
        auto key = load_key(k.key_path, k.algorithm);
        if (!key) {
            result.errors.push_back(
                result.error_at("dkim.keys#" + std::to_string(i) + ".key", key.error().message));
            continue;
        }
        k.key = std::move(key).value();
    }
    sort_errors(result);
    result.policy =
        result.errors.empty() ? std::shared_ptr<const core::Policy>(std::move(policy)) : nullptr;
    return result;
}

LoadResult load_policy_text(const std::string& text, const std::string& name) {
    Loader loader;
    loader.load_text(text, name, 0);
    return loader.finish(name);
}

}  // namespace staffel::config
