// dkim_keys.cpp - see dkim_keys.hpp.
#include "adapters/openssl/dkim_keys.hpp"

#include <fcntl.h>
#include <openssl/bio.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <optional>
#include <vector>

#include "core/dkim/sign.hpp"

namespace staffel::adapters {
namespace {

using core::DkimAlgorithm;
using core::make_error;
using KeyResult = core::Result<std::shared_ptr<const core::SigningKey>>;

constexpr std::size_t kMaxKeyFileBytes = std::size_t{64} * 1024;
constexpr int kMinRsaBits = 1024;
constexpr int kMaxRsaBits = 4096;
constexpr std::string_view kSelfTestData = "staffel: DKIM key self-test";

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
    void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
struct BioFree {
    void operator()(BIO* p) const { BIO_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;

// A file descriptor closed on scope exit.
class UniqueFd {
  public:
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    UniqueFd& operator=(UniqueFd&&) = delete;
    ~UniqueFd() {
        if (fd_ >= 0) {
            ::close(fd_);
        }
    }
    [[nodiscard]] int get() const { return fd_; }
    // Closes now, so that the caller can see close()'s result.
    int close_now() {
        const int rc = ::close(fd_);
        fd_ = -1;
        return rc;
    }

  private:
    int fd_;
};

// Bytes that held a private key: allocated once, cleansed before freed.
class SecretBytes {
  public:
    explicit SecretBytes(std::size_t capacity) : bytes_(capacity) {}
    SecretBytes(const SecretBytes&) = delete;
    SecretBytes& operator=(const SecretBytes&) = delete;
    ~SecretBytes() { OPENSSL_cleanse(bytes_.data(), bytes_.size()); }
    char* data() { return bytes_.data(); }
    [[nodiscard]] std::size_t capacity() const { return bytes_.size(); }

  private:
    std::vector<char> bytes_;
};

// Fetched once and shared: EVP_MD objects are immutable. Deliberately never
// freed, so that keys and hashes in static objects can still use it at exit.
const EVP_MD* sha256_md() {
    static EVP_MD* const md = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);
    return md;
}

// The reason of the newest error on this thread's OpenSSL error queue,
// which is then emptied. OpenSSL reasons are fixed strings, never key bytes.
std::string take_openssl_error() {
    const unsigned long code = ERR_peek_last_error();
    ERR_clear_error();
    if (code == 0) {
        return "unknown OpenSSL error";
    }
    const char* reason = ERR_reason_error_string(code);
    return reason != nullptr ? std::string(reason) : "OpenSSL error " + std::to_string(code);
}

const unsigned char* bytes_of(std::string_view s) {
    return reinterpret_cast<const unsigned char*>(s.data());
}

std::string mode_text(mode_t mode) {
    char text[8];
    std::snprintf(text, sizeof text, "%04o", static_cast<unsigned>(mode & 07777));
    return text;
}

class OpenSslKey final : public core::SigningKey {
  public:
    OpenSslKey(DkimAlgorithm algorithm, PkeyPtr pkey, std::string dns_public, std::string origin)
        : algorithm_(algorithm),
          pkey_(std::move(pkey)),
          dns_public_(std::move(dns_public)),
          origin_(std::move(origin)),
          max_signature_size_(static_cast<std::size_t>(EVP_PKEY_get_size(pkey_.get()))) {}

    [[nodiscard]] DkimAlgorithm algorithm() const override { return algorithm_; }
    [[nodiscard]] core::Result<std::string> sign(std::string_view data) const override;

    [[nodiscard]] EVP_PKEY* pkey() const { return pkey_.get(); }
    [[nodiscard]] const std::string& dns_public() const { return dns_public_; }
    [[nodiscard]] const std::string& origin() const { return origin_; }

  private:
    DkimAlgorithm algorithm_;
    PkeyPtr pkey_;  // read-only after construction; see the header on threads
    std::string dns_public_;
    std::string origin_;  // "DKIM key file /path", for messages
    std::size_t max_signature_size_;
};

// rsa-sha256: PKCS#1 v1.5 (OpenSSL's default RSA padding) with SHA-256 over
// the data. ed25519-sha256: PureEd25519 over SHA-256(data) (RFC 8463 §3).
core::Result<std::string> OpenSslKey::sign(std::string_view data) const {
    const EVP_MD* md = sha256_md();
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (md == nullptr || !ctx) {
        ERR_clear_error();
        return make_error("cannot sign with " + origin_ + ": OpenSSL has no SHA-256 or no memory");
    }
    std::string signature(max_signature_size_, '\0');
    auto* out = reinterpret_cast<unsigned char*>(signature.data());
    std::size_t length = signature.size();
    bool ok = false;
    if (algorithm_ == DkimAlgorithm::RsaSha256) {
        ok = EVP_DigestSignInit(ctx.get(), nullptr, md, nullptr, pkey_.get()) == 1 &&
             EVP_DigestSign(ctx.get(), out, &length, bytes_of(data), data.size()) == 1;
    } else {
        core::Sha256Digest hash{};
        unsigned int hash_length = 0;
        ok = EVP_Digest(data.data(), data.size(), hash.data(), &hash_length, md, nullptr) == 1 &&
             hash_length == hash.size() &&
             EVP_DigestSignInit(ctx.get(), nullptr, nullptr, nullptr, pkey_.get()) == 1 &&
             EVP_DigestSign(ctx.get(), out, &length, hash.data(), hash.size()) == 1;
    }
    if (!ok) {
        return make_error("cannot sign with " + origin_ + ": " + take_openssl_error());
    }
    signature.resize(length);
    return signature;
}

// Checks a signature made by sign(), with the key's own public half.
bool verifies(const OpenSslKey& key, std::string_view data, std::string_view signature) {
    const EVP_MD* md = sha256_md();
    MdCtxPtr ctx(EVP_MD_CTX_new());
    if (md == nullptr || !ctx) {
        return false;
    }
    bool ok = false;
    if (key.algorithm() == DkimAlgorithm::RsaSha256) {
        ok = EVP_DigestVerifyInit(ctx.get(), nullptr, md, nullptr, key.pkey()) == 1 &&
             EVP_DigestVerify(ctx.get(), bytes_of(signature), signature.size(), bytes_of(data),
                              data.size()) == 1;
    } else {
        core::Sha256Digest hash{};
        unsigned int hash_length = 0;
        ok = EVP_Digest(data.data(), data.size(), hash.data(), &hash_length, md, nullptr) == 1 &&
             EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, key.pkey()) == 1 &&
             EVP_DigestVerify(ctx.get(), bytes_of(signature), signature.size(), hash.data(),
                              hash.size()) == 1;
    }
    ERR_clear_error();
    return ok;
}

std::optional<DkimAlgorithm> algorithm_of(const EVP_PKEY* pkey) {
    if (EVP_PKEY_is_a(pkey, "RSA") == 1) {
        return DkimAlgorithm::RsaSha256;
    }
    if (EVP_PKEY_is_a(pkey, "ED25519") == 1) {
        return DkimAlgorithm::Ed25519Sha256;
    }
    return std::nullopt;
}

std::string_view key_kind(DkimAlgorithm algorithm) {
    return algorithm == DkimAlgorithm::RsaSha256 ? "an RSA" : "an Ed25519";
}

// The DNS p= value; empty if OpenSSL cannot encode the public key.
std::string dns_public_value(EVP_PKEY* pkey, DkimAlgorithm algorithm) {
    if (algorithm == DkimAlgorithm::Ed25519Sha256) {
        unsigned char raw[32];
        std::size_t length = sizeof raw;
        if (EVP_PKEY_get_raw_public_key(pkey, raw, &length) != 1 || length != sizeof raw) {
            ERR_clear_error();
            return {};
        }
        return core::base64(std::string_view(reinterpret_cast<const char*>(raw), length));
    }
    const int length = i2d_PUBKEY(pkey, nullptr);
    if (length <= 0) {
        ERR_clear_error();
        return {};
    }
    std::string der(static_cast<std::size_t>(length), '\0');
    auto* out = reinterpret_cast<unsigned char*>(der.data());
    if (i2d_PUBKEY(pkey, &out) != length) {
        ERR_clear_error();
        return {};
    }
    return core::base64(der);
}

// Refuses a key of the wrong kind or size, or one that is inconsistent.
core::Result<bool> check_key(EVP_PKEY* pkey, DkimAlgorithm declared, const std::string& origin) {
    const auto actual = algorithm_of(pkey);
    if (!actual) {
        const char* type = EVP_PKEY_get0_type_name(pkey);
        return make_error(origin + " holds a key of type " + (type != nullptr ? type : "unknown") +
                          "; DKIM keys are RSA (rsa-sha256) or Ed25519 (ed25519-sha256)");
    }
    if (*actual != declared) {
        return make_error(origin + " holds " + std::string(key_kind(*actual)) + " key (" +
                          std::string(core::to_string(*actual)) + "), but it is declared as " +
                          std::string(core::to_string(declared)));
    }
    if (*actual == DkimAlgorithm::RsaSha256) {
        const int bits = EVP_PKEY_get_bits(pkey);
        if (bits < kMinRsaBits || bits > kMaxRsaBits) {
            return make_error(origin + " holds a " + std::to_string(bits) +
                              "-bit RSA key; DKIM RSA keys must have 1024 to 4096 bits (2048 "
                              "recommended)");
        }
    }
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, pkey, nullptr));
    const int pairwise = ctx ? EVP_PKEY_pairwise_check(ctx.get()) : 0;
    ERR_clear_error();
    if (pairwise != 1 && pairwise != -2) {  // -2: the provider cannot check this type
        return make_error(origin +
                          " holds an inconsistent key: its public and private parts "
                          "do not match");
    }
    return true;
}

// Checks a parsed key and wraps it; the one way keys come into existence.
KeyResult adopt(PkeyPtr pkey, DkimAlgorithm declared, const std::string& origin) {
    auto checked = check_key(pkey.get(), declared, origin);
    if (!checked) {
        return checked.error();
    }
    std::string dns = dns_public_value(pkey.get(), declared);
    if (dns.empty()) {
        return make_error("cannot encode the public key of " + origin);
    }
    auto key =
        std::make_shared<const OpenSslKey>(declared, std::move(pkey), std::move(dns), origin);
    // One signature before sharing: it proves the key works and lets OpenSSL
    // fill its lazy per-key caches while only this thread sees the key.
    auto signature = key->sign(kSelfTestData);
    if (!signature) {
        return signature.error();
    }
    if (!verifies(*key, kSelfTestData, *signature)) {
        return make_error(origin +
                          " failed its self-test: a signature made with it does not "
                          "verify");
    }
    return KeyResult(std::shared_ptr<const core::SigningKey>(std::move(key)));
}

// Opens a key file and checks what it is before anything is read from it.
core::Result<UniqueFd> open_key_file(const std::string& path, const std::string& origin) {
    // O_NONBLOCK: a FIFO planted at the path must not hang start-up.
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
    if (fd < 0) {
        return make_error("cannot open " + origin + ": " + std::strerror(errno));
    }
    UniqueFd guard(fd);
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        return make_error("cannot inspect " + origin + ": " + std::strerror(errno));
    }
    if (!S_ISREG(st.st_mode)) {
        return make_error(origin + " is not a regular file");
    }
    if ((st.st_mode & 077) != 0) {
        return make_error(origin + " has mode " + mode_text(st.st_mode) +
                          ": group and others must have no access to a private key "
                          "(chmod 600 " +
                          path + ")");
    }
    if (static_cast<std::uintmax_t>(st.st_size) > kMaxKeyFileBytes) {
        return make_error(origin + " is larger than 64 KiB; that is no DKIM key");
    }
    return guard;
}

// Reads all of fd into `buffer`; returns the length.
core::Result<std::size_t> read_key_bytes(int fd, SecretBytes& buffer, const std::string& origin) {
    std::size_t length = 0;
    while (length < buffer.capacity()) {
        const ssize_t n = ::read(fd, buffer.data() + length, buffer.capacity() - length);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n < 0) {
            return make_error("cannot read " + origin + ": " + std::strerror(errno));
        }
        if (n == 0) {
            return length;
        }
        length += static_cast<std::size_t>(n);
    }
    return make_error(origin + " is larger than 64 KiB; that is no DKIM key");
}

// Called by OpenSSL when the PEM is encrypted: there is no passphrase to
// give (and no terminal to ask on), so note it and fail the decryption.
extern "C" int refuse_passphrase(char* /*buf*/, int /*size*/, int /*rwflag*/, void* asked) {
    *static_cast<bool*>(asked) = true;
    return -1;
}

core::Result<PkeyPtr> parse_private_key(const char* data, std::size_t length,
                                        const std::string& origin) {
    BioPtr bio(BIO_new_mem_buf(data, static_cast<int>(length)));
    if (!bio) {
        ERR_clear_error();
        return make_error("cannot parse " + origin + ": out of memory");
    }
    bool passphrase_asked = false;
    PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, &passphrase_asked));
    ERR_clear_error();
    if (passphrase_asked) {
        return make_error(origin +
                          " is encrypted; Staffel needs an unencrypted key, protected "
                          "by its file mode 0600");
    }
    if (!pkey) {
        return make_error(origin +
                          " holds no usable PEM private key (expected \"BEGIN PRIVATE "
                          "KEY\" or \"BEGIN RSA PRIVATE KEY\")");
    }
    return pkey;
}

}  // namespace

KeyResult load_signing_key(const std::string& path, core::DkimAlgorithm declared) {
    const std::string origin = "DKIM key file " + path;
    auto opened = open_key_file(path, origin);
    if (!opened) {
        return opened.error();
    }
    SecretBytes buffer(kMaxKeyFileBytes + 1);
    auto length = read_key_bytes(opened->get(), buffer, origin);
    if (!length) {
        return length.error();
    }
    auto pkey = parse_private_key(buffer.data(), *length, origin);
    if (!pkey) {
        return pkey.error();
    }
    return adopt(std::move(pkey).value(), declared, origin);
}

std::string public_key_dns_base64(const core::SigningKey& key) {
    const auto* own = dynamic_cast<const OpenSslKey*>(&key);
    return own != nullptr ? own->dns_public() : std::string();
}

KeyResult generate_key(core::DkimAlgorithm algorithm, int bits) {
    const bool rsa = algorithm == DkimAlgorithm::RsaSha256;
    if (rsa && (bits < kMinRsaBits || bits > kMaxRsaBits)) {
        return make_error("cannot generate a " + std::to_string(bits) +
                          "-bit RSA key: DKIM RSA keys must have 1024 to 4096 bits");
    }
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, rsa ? "RSA" : "ED25519", nullptr));
    EVP_PKEY* raw = nullptr;
    const bool ok = ctx && EVP_PKEY_keygen_init(ctx.get()) == 1 &&
                    (!rsa || EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), bits) == 1) &&
                    EVP_PKEY_generate(ctx.get(), &raw) == 1;
    PkeyPtr pkey(raw);
    if (!ok || !pkey) {
        return make_error("cannot generate " + std::string(rsa ? "an RSA" : "an Ed25519") +
                          " key: " + take_openssl_error());
    }
    return adopt(std::move(pkey), algorithm,
                 "the generated " + std::string(core::to_string(algorithm)) + " key");
}

namespace {

core::Result<bool> write_all(int fd, const char* data, std::size_t length,
                             const std::string& path) {
    std::size_t done = 0;
    while (done < length) {
        const ssize_t n = ::write(fd, data + done, length - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return make_error("cannot write " + path + ": " + std::strerror(errno));
        }
        done += static_cast<std::size_t>(n);
    }
    if (::fsync(fd) != 0) {
        return make_error("cannot write " + path + ": " + std::strerror(errno));
    }
    return true;
}

}  // namespace

core::Result<bool> write_private_key_file(const core::SigningKey& key, const std::string& path) {
    const auto* own = dynamic_cast<const OpenSslKey*>(&key);
    if (own == nullptr) {
        return make_error("cannot write " + path + ": the key was not made by the OpenSSL adapter");
    }
    // A secure-memory BIO: its buffer is cleansed when freed.
    BioPtr bio(BIO_new(BIO_s_secmem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), own->pkey(), nullptr, nullptr, 0, nullptr,
                                         nullptr) != 1) {
        return make_error("cannot encode the private key for " + path + ": " +
                          take_openssl_error());
    }
    char* pem = nullptr;
    const long pem_length = BIO_ctrl(bio.get(), BIO_CTRL_INFO, 0, &pem);  // BIO_get_mem_data
    if (pem == nullptr || pem_length <= 0) {
        ERR_clear_error();
        return make_error("cannot encode the private key for " + path);
    }
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
    if (fd < 0) {
        return make_error(errno == EEXIST ? "refusing to overwrite " + path + ": it exists"
                                          : "cannot create " + path + ": " + std::strerror(errno));
    }
    UniqueFd file(fd);
    // The umask can only narrow 0600; fchmod makes it exactly 0600.
    core::Result<bool> written =
        ::fchmod(fd, 0600) != 0
            ? core::Result<bool>(make_error("cannot chmod " + path + ": " + std::strerror(errno)))
            : write_all(fd, pem, static_cast<std::size_t>(pem_length), path);
    if (written && file.close_now() != 0) {
        written = make_error("cannot write " + path + ": " + std::strerror(errno));
    }
    if (!written) {
        ::unlink(path.c_str());  // ours: O_EXCL created it
    }
    return written;
}

namespace {

class OpenSslSha256 final : public core::Sha256 {
  public:
    OpenSslSha256() : ctx_(EVP_MD_CTX_new()) { failed_ = !restart(); }

    void update(std::string_view data) override {
        if (!failed_ && EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) != 1) {
            failed_ = true;
        }
    }

    core::Result<core::Sha256Digest> finish() override {
        core::Sha256Digest digest{};
        unsigned int length = 0;
        const bool ok = !failed_ && EVP_DigestFinal_ex(ctx_.get(), digest.data(), &length) == 1 &&
                        length == digest.size();
        if (!ok) {
            std::string why = take_openssl_error();
            failed_ = !restart();
            return make_error("SHA-256 failed: " + why);
        }
        failed_ = !restart();
        return digest;
    }

  private:
    bool restart() {
        const EVP_MD* md = sha256_md();
        return ctx_ && md != nullptr && EVP_DigestInit_ex2(ctx_.get(), md, nullptr) == 1;
    }

    MdCtxPtr ctx_;
    bool failed_ = false;
};

class OpenSslSha256Factory final : public core::Sha256Factory {
  public:
    [[nodiscard]] std::unique_ptr<core::Sha256> make() const override {
        return std::make_unique<OpenSslSha256>();
    }
};

}  // namespace

const core::Sha256Factory& sha256_factory() {
    static const OpenSslSha256Factory factory;
    return factory;
}

}  // namespace staffel::adapters
