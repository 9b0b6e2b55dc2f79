// test_dkim_keys.cpp - DKIM keys on OpenSSL: RFC 8463's example, refusals,
// threads, DNS values, key generation.
//
// Keys are generated (or, for RFC 8463, written from the RFC's published
// test keys) into a fresh mkdtemp directory; no key file is in the tree.
// Signatures are checked with OpenSSL's own verify and the public key taken
// from the DNS p= value, so a wrong p= fails the tests too.
#include <fcntl.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "adapters/openssl/dkim_keys.hpp"
#include "core/dkim/sign.hpp"
#include "core/dkim/signer.hpp"

using namespace staffel;
using core::DkimAlgorithm;

namespace {

// ---------------------------------------------------------------- RFC 8463

// RFC 8463 Appendix A.1: the Ed25519 secret key (the 32-byte seed, base64)
// and A.2: its DNS p= value, the raw public key.
constexpr const char* kRfcEd25519Seed = "nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
constexpr const char* kRfcEd25519Public = "11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";

// RFC 8463 Appendix A.1: the 1024-bit RSA secret key (PKCS#1), and A.2 its
// DNS p= value (selector "test").
constexpr const char* kRfcRsaKey =
    "-----BEGIN RSA PRIVATE KEY-----\n"
    "MIICXQIBAAKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi\n"
    "Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqM\n"
    "KrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB\n"
    "AoGAH0cxOhFZDgzXWhDhnAJDw5s4roOXN4OhjiXa8W7Y3rhX3FJqmJSPuC8N9vQm\n"
    "6SVbaLAE4SG5mLMueHlh4KXffEpuLEiNp9Ss3O4YfLiQpbRqE7Tm5SxKjvvQoZZe\n"
    "zHorimOaChRL2it47iuWxzxSiRMv4c+j70GiWdxXnxe4UoECQQDzJB/0U58W7RZy\n"
    "6enGVj2kWF732CoWFZWzi1FicudrBFoy63QwcowpoCazKtvZGMNlPWnC7x/6o8Gc\n"
    "uSe0ga2xAkEA8C7PipPm1/1fTRQvj1o/dDmZp243044ZNyxjg+/OPN0oWCbXIGxy\n"
    "WvmZbXriOWoSALJTjExEgraHEgnXssuk7QJBALl5ICsYMu6hMxO73gnfNayNgPxd\n"
    "WFV6Z7ULnKyV7HSVYF0hgYOHjeYe9gaMtiJYoo0zGN+L3AAtNP9huqkWlzECQE1a\n"
    "licIeVlo1e+qJ6Mgqr0Q7Aa7falZ448ccbSFYEPD6oFxiOl9Y9se9iYHZKKfIcst\n"
    "o7DUw1/hz2Ck4N5JrgUCQQCyKveNvjzkkd8HjYs0SwM0fPjK16//5qDZ2UiDGnOe\n"
    "uEzxBDAr518Z8VFbR41in3W4Y3yCDgQlLlcETrS+zYcL\n"
    "-----END RSA PRIVATE KEY-----\n";
constexpr const char* kRfcRsaPublic =
    "MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQi"
    "Y/J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZy"
    "VYLzBfO2EeC3Ip3G+2kryOTIKT+l/K4w3QIDAQAB";

// The header fields of the A.3 message signed by both signatures
// (h=from : to : subject : date : message-id : from : subject : date),
// canonicalised "relaxed" (RFC 6376 §3.4.2): names lower-cased, no space
// around the colon. The second from, subject and date over-sign fields
// that do not exist and contribute nothing.
constexpr const char* kRfcSignedFields =
    "from:Joe SixPack <joe@football.example.com>\r\n"
    "to:Suzie Q <suzie@shopping.example.net>\r\n"
    "subject:Is dinner ready?\r\n"
    "date:Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "message-id:<20030712040037.46341.5F8J@football.example.com>\r\n";

// Then each DKIM-Signature field itself, relaxed (unfolded), with b= empty
// and no CRLF at the end (RFC 6376 §3.7).
constexpr const char* kRfcEd25519Field =
    "dkim-signature:v=1; a=ed25519-sha256; c=relaxed/relaxed; d=football.example.com; "
    "i=@football.example.com; q=dns/txt; s=brisbane; t=1528637909; h=from : to : subject : "
    "date : message-id : from : subject : date; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; "
    "b=";
constexpr const char* kRfcRsaField =
    "dkim-signature:v=1; a=rsa-sha256; c=relaxed/relaxed; d=football.example.com; "
    "i=@football.example.com; q=dns/txt; s=test; t=1528637909; h=from : to : subject : "
    "date : message-id : from : subject : date; bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=; "
    "b=";

// The b= values of A.3, unfolded.
constexpr const char* kRfcEd25519B =
    "/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11BusFa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==";
constexpr const char* kRfcRsaB =
    "F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9"
    "mPYQTnGdaSGsgeefOsk2JzdA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=";

// The A.3 body, canonicalised "relaxed" (runs of white space become one
// space), and its published bh=.
constexpr const char* kRfcRelaxedBody =
    "Hi.\r\n\r\nWe lost the game. Are you hungry yet?\r\n\r\nJoe.\r\n";
constexpr const char* kRfcBodyHash = "2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=";

// ---------------------------------------------------------------- helpers

struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct PkeyCtxFree {
    void operator()(EVP_PKEY_CTX* p) const { EVP_PKEY_CTX_free(p); }
};
struct BioFree {
    void operator()(BIO* p) const { BIO_free(p); }
};
struct MdCtxFree {
    void operator()(EVP_MD_CTX* p) const { EVP_MD_CTX_free(p); }
};
using PkeyPtr = std::unique_ptr<EVP_PKEY, PkeyFree>;
using PkeyCtxPtr = std::unique_ptr<EVP_PKEY_CTX, PkeyCtxFree>;
using BioPtr = std::unique_ptr<BIO, BioFree>;
using MdCtxPtr = std::unique_ptr<EVP_MD_CTX, MdCtxFree>;

struct TempDir {
    std::filesystem::path path;
    TempDir() {
        char tmpl[] = "/tmp/staffel-dkim-XXXXXX";
        const char* made = ::mkdtemp(tmpl);
        REQUIRE(made != nullptr);
        path = made;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    [[nodiscard]] std::string file(const std::string& name) const { return (path / name).string(); }
};

// Writes `content` to a new file and sets `mode` exactly (umask aside).
std::string write_file(const std::string& path, const std::string& content, mode_t mode) {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
    REQUIRE(fd >= 0);
    REQUIRE(::write(fd, content.data(), content.size()) == static_cast<ssize_t>(content.size()));
    REQUIRE(::fchmod(fd, mode) == 0);
    REQUIRE(::close(fd) == 0);
    return path;
}

std::string base64_decode(const std::string& text) {
    std::string out(text.size() / 4 * 3, '\0');
    const int n = EVP_DecodeBlock(reinterpret_cast<unsigned char*>(out.data()),
                                  reinterpret_cast<const unsigned char*>(text.data()),
                                  static_cast<int>(text.size()));
    REQUIRE(n >= 0);
    std::size_t length = static_cast<std::size_t>(n);
    for (auto it = text.rbegin(); it != text.rend() && *it == '='; ++it) {
        --length;  // EVP_DecodeBlock counts padding as zero bytes
    }
    out.resize(length);
    return out;
}

// A key straight from OpenSSL, bypassing the adapter's checks.
PkeyPtr openssl_keygen(const char* type, int rsa_bits = 0, int rsa_primes = 2) {
    PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, type, nullptr));
    REQUIRE(ctx);
    REQUIRE(EVP_PKEY_keygen_init(ctx.get()) == 1);
    if (rsa_bits > 0) {
        REQUIRE(EVP_PKEY_CTX_set_rsa_keygen_bits(ctx.get(), rsa_bits) == 1);
        REQUIRE(EVP_PKEY_CTX_set_rsa_keygen_primes(ctx.get(), rsa_primes) == 1);
    }
    if (std::string(type) == "EC") {
        REQUIRE(EVP_PKEY_CTX_set_group_name(ctx.get(), "P-256") == 1);
    }
    EVP_PKEY* raw = nullptr;
    REQUIRE(EVP_PKEY_generate(ctx.get(), &raw) == 1);
    return PkeyPtr(raw);
}

enum class Pem { Pkcs8, Traditional, EncryptedPkcs8, Public };

std::string pem_of(EVP_PKEY* pkey, Pem format) {
    BioPtr bio(BIO_new(BIO_s_mem()));
    REQUIRE(bio);
    int ok = 0;
    switch (format) {
        case Pem::Pkcs8:
            ok = PEM_write_bio_PrivateKey(bio.get(), pkey, nullptr, nullptr, 0, nullptr, nullptr);
            break;
        case Pem::Traditional:
            ok = PEM_write_bio_PrivateKey_traditional(bio.get(), pkey, nullptr, nullptr, 0, nullptr,
                                                      nullptr);
            break;
        case Pem::EncryptedPkcs8:
            ok = PEM_write_bio_PKCS8PrivateKey(bio.get(), pkey, EVP_aes_256_cbc(), "secret", 6,
                                               nullptr, nullptr);
            break;
        case Pem::Public:
            ok = PEM_write_bio_PUBKEY(bio.get(), pkey);
            break;
    }
    REQUIRE(ok == 1);
    char* data = nullptr;
    const long n = BIO_ctrl(bio.get(), BIO_CTRL_INFO, 0, &data);  // BIO_get_mem_data
    return std::string(data, static_cast<std::size_t>(n));
}

PkeyPtr read_pem(const std::string& pem) {
    BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    REQUIRE(pkey);
    return pkey;
}

// The public key a verifier would build from the DNS p= value.
PkeyPtr public_key_from_dns(DkimAlgorithm algorithm, const std::string& p) {
    const std::string bytes = base64_decode(p);
    const auto* in = reinterpret_cast<const unsigned char*>(bytes.data());
    if (algorithm == DkimAlgorithm::Ed25519Sha256) {
        return PkeyPtr(EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, nullptr, in, bytes.size()));
    }
    return PkeyPtr(d2i_PUBKEY(nullptr, &in, static_cast<long>(bytes.size())));
}

// An independent check with OpenSSL's verify: RSASSA-PKCS1-v1_5/SHA-256 over
// the data, or Ed25519 over SHA-256(data).
bool openssl_verifies(EVP_PKEY* pub, DkimAlgorithm algorithm, const std::string& data,
                      const std::string& signature) {
    MdCtxPtr ctx(EVP_MD_CTX_new());
    const auto* sig = reinterpret_cast<const unsigned char*>(signature.data());
    bool ok = false;
    if (algorithm == DkimAlgorithm::RsaSha256) {
        ok =
            EVP_DigestVerifyInit(ctx.get(), nullptr, EVP_sha256(), nullptr, pub) == 1 &&
            EVP_DigestVerify(ctx.get(), sig, signature.size(),
                             reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    } else {
        unsigned char hash[32];
        unsigned int n = 0;
        ok = EVP_Digest(data.data(), data.size(), hash, &n, EVP_sha256(), nullptr) == 1 &&
             EVP_DigestVerifyInit(ctx.get(), nullptr, nullptr, nullptr, pub) == 1 &&
             EVP_DigestVerify(ctx.get(), sig, signature.size(), hash, n) == 1;
    }
    ERR_clear_error();
    return ok;
}

// RFC 8463's Ed25519 seed as an unencrypted PKCS#8 PEM: the fixed DER
// prefix of an Ed25519 PrivateKeyInfo (RFC 8410 §7), then the seed.
std::string rfc_ed25519_pem() {
    const std::string der =
        std::string("\x30\x2e\x02\x01\x00\x30\x05\x06\x03\x2b\x65\x70\x04\x22\x04\x20", 16) +
        base64_decode(kRfcEd25519Seed);
    return "-----BEGIN PRIVATE KEY-----\n" + core::base64(der) +
           "\n-----END PRIVATE KEY-----\n";
}

std::string hex(const core::Sha256Digest& d) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out;
    for (const auto b : d) {
        out += kHex[b >> 4];
        out += kHex[b & 0xf];
    }
    return out;
}

bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

// A SigningKey that did not come from the OpenSSL adapter.
class FakeKey final : public core::SigningKey {
  public:
    [[nodiscard]] DkimAlgorithm algorithm() const override { return DkimAlgorithm::RsaSha256; }
    [[nodiscard]] core::Result<std::string> sign(std::string_view) const override {
        return std::string("fake");
    }
};

}  // namespace

// ---------------------------------------------------------------- the port

TEST_CASE("DKIM algorithm names parse and print", "[dkim][keys]") {
    struct Case {
        const char* text;
        DkimAlgorithm want;
    };
    const Case cases[] = {
        {"rsa-sha256", DkimAlgorithm::RsaSha256},
        {"ed25519-sha256", DkimAlgorithm::Ed25519Sha256},
    };
    for (const auto& c : cases) {
        auto got = core::parse_dkim_algorithm(c.text);
        INFO("input " << c.text);
        REQUIRE(got.ok());
        CHECK(*got == c.want);
        CHECK(core::to_string(*got) == c.text);
    }
    for (const char* text :
         {"", "rsa-sha1", "RSA-SHA256", "ed25519", "rsa-sha256 ", "ed448-sha256"}) {
        auto got = core::parse_dkim_algorithm(text);
        INFO("input \"" << text << "\"");
        REQUIRE_FALSE(got.ok());
        CHECK(contains(got.error().message, "\"rsa-sha256\" or \"ed25519-sha256\""));
    }
}

TEST_CASE("base64 follows RFC 4648", "[dkim][keys]") {
    struct Case {
        std::string in;
        std::string want;
    };
    const Case cases[] = {
        {"", ""},
        {"f", "Zg=="},
        {"fo", "Zm8="},
        {"foo", "Zm9v"},
        {"foob", "Zm9vYg=="},
        {"fooba", "Zm9vYmE="},
        {"foobar", "Zm9vYmFy"},
        {std::string("\x00\xff\xfe\x80", 4), "AP/+gA=="},
    };
    for (const auto& c : cases) {
        const std::string got = core::base64(c.in);
        INFO("input \"" << c.in << "\": got " << got << ", want " << c.want);
        CHECK(got == c.want);
    }
}

TEST_CASE("SHA-256 matches FIPS 180 and the RFC 8463 body hash", "[dkim][keys]") {
    struct Case {
        std::string in;
        std::string want;
    };
    const Case cases[] = {
        {"", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"},
        {"abc", "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"},
        {"abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq",
         "248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1"},
    };
    auto hash = adapters::sha256_factory().make();
    REQUIRE(hash != nullptr);
    for (const auto& c : cases) {
        INFO("input \"" << c.in << "\"");
        hash->update(c.in);  // whole
        auto whole = hash->finish();
        REQUIRE(whole.ok());
        CHECK(hex(*whole) == c.want);
        for (const char ch : c.in) {  // byte by byte, same object reused after finish()
            hash->update(std::string_view(&ch, 1));
        }
        auto pieces = hash->finish();
        REQUIRE(pieces.ok());
        CHECK(hex(*pieces) == c.want);
    }

    hash->update(kRfcRelaxedBody);
    auto body = hash->finish();
    REQUIRE(body.ok());
    const std::string got = core::base64(
        std::string_view(reinterpret_cast<const char*>(body->data()), body->size()));
    CHECK(got == kRfcBodyHash);
}

// ---------------------------------------------------------------- RFC 8463

TEST_CASE("RFC 8463 Appendix A: both published signatures, byte for byte",
          "[dkim][keys][rfc8463]") {
    TempDir dir;
    struct Case {
        const char* name;
        DkimAlgorithm algorithm;
        std::string pem;
        const char* want_p;
        const char* signature_field;
        const char* want_b;
    };
    const Case cases[] = {
        {"brisbane (Ed25519, PKCS#8 from the A.1 seed)", DkimAlgorithm::Ed25519Sha256,
         rfc_ed25519_pem(), kRfcEd25519Public, kRfcEd25519Field, kRfcEd25519B},
        {"test (RSA, the A.1 PKCS#1 key)", DkimAlgorithm::RsaSha256, kRfcRsaKey, kRfcRsaPublic,
         kRfcRsaField, kRfcRsaB},
    };
    for (const auto& c : cases) {
        INFO("selector " << c.name);
        const std::string path = write_file(dir.file("rfc.pem"), c.pem, 0600);
        auto key = adapters::load_signing_key(path, c.algorithm);
        REQUIRE(key.ok());
        CHECK((*key)->algorithm() == c.algorithm);

        const std::string got_p = adapters::public_key_dns_base64(**key);
        INFO("p=: got " << got_p << ", want " << c.want_p);
        CHECK(got_p == c.want_p);

        const std::string data = std::string(kRfcSignedFields) + c.signature_field;
        auto signature = (*key)->sign(data);
        REQUIRE(signature.ok());
        const std::string got_b = core::base64(*signature);
        INFO("b=: got " << got_b << ", want " << c.want_b);
        CHECK(got_b == c.want_b);

        // And a verifier holding only the published DNS record accepts it.
        auto pub = public_key_from_dns(c.algorithm, c.want_p);
        REQUIRE(pub);
        CHECK(openssl_verifies(pub.get(), c.algorithm, data, *signature));
        std::filesystem::remove(path);
    }
}

// ---------------------------------------------------------------- RSA

TEST_CASE("RSA keys load from PKCS#1 and PKCS#8 and sign the same", "[dkim][keys]") {
    TempDir dir;
    auto pkey = read_pem(kRfcRsaKey);
    struct Case {
        const char* name;
        std::string pem;
        const char* want_header;
    };
    const Case cases[] = {
        {"pkcs1", pem_of(pkey.get(), Pem::Traditional), "-----BEGIN RSA PRIVATE KEY-----"},
        {"pkcs8", pem_of(pkey.get(), Pem::Pkcs8), "-----BEGIN PRIVATE KEY-----"},
    };
    const std::string data = std::string(kRfcSignedFields) + kRfcRsaField;
    for (const auto& c : cases) {
        INFO("format " << c.name);
        REQUIRE(c.pem.rfind(c.want_header, 0) == 0);
        auto key = adapters::load_signing_key(write_file(dir.file(c.name), c.pem, 0600),
                                              DkimAlgorithm::RsaSha256);
        REQUIRE(key.ok());
        auto signature = (*key)->sign(data);
        REQUIRE(signature.ok());
        CHECK(core::base64(*signature) == kRfcRsaB);  // PKCS#1 v1.5 is deterministic
    }
}

TEST_CASE("an RSA signature verifies with OpenSSL and the DNS public key", "[dkim][keys]") {
    TempDir dir;
    auto pkey = openssl_keygen("RSA", 2048);
    auto key = adapters::load_signing_key(
        write_file(dir.file("rsa.pem"), pem_of(pkey.get(), Pem::Pkcs8), 0600),
        DkimAlgorithm::RsaSha256);
    REQUIRE(key.ok());

    const std::string p = adapters::public_key_dns_base64(**key);
    CHECK(p.rfind("MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8A", 0) == 0);  // SPKI, rsaEncryption, 2048
    auto pub = public_key_from_dns(DkimAlgorithm::RsaSha256, p);
    REQUIRE(pub);
    CHECK(EVP_PKEY_eq(pub.get(), pkey.get()) == 1);

    const std::string data = std::string(kRfcSignedFields) + kRfcRsaField;
    auto signature = (*key)->sign(data);
    REQUIRE(signature.ok());
    CHECK(signature->size() == 256);
    CHECK(openssl_verifies(pub.get(), DkimAlgorithm::RsaSha256, data, *signature));
    CHECK_FALSE(openssl_verifies(pub.get(), DkimAlgorithm::RsaSha256, data + "x", *signature));
}

// ---------------------------------------------------------------- Ed25519

TEST_CASE("an Ed25519 key's p= is its raw public key and its signatures verify", "[dkim][keys]") {
    TempDir dir;
    auto pkey = openssl_keygen("ED25519");
    auto key = adapters::load_signing_key(
        write_file(dir.file("ed.pem"), pem_of(pkey.get(), Pem::Pkcs8), 0600),
        DkimAlgorithm::Ed25519Sha256);
    REQUIRE(key.ok());

    unsigned char raw[32];
    std::size_t raw_length = sizeof raw;
    REQUIRE(EVP_PKEY_get_raw_public_key(pkey.get(), raw, &raw_length) == 1);
    const std::string want_p =
        core::base64(std::string(reinterpret_cast<const char*>(raw), raw_length));
    CHECK(adapters::public_key_dns_base64(**key) == want_p);
    CHECK(want_p.size() == 44);

    const std::string data = std::string(kRfcSignedFields) + kRfcEd25519Field;
    auto signature = (*key)->sign(data);
    REQUIRE(signature.ok());
    CHECK(signature->size() == 64);
    auto pub = public_key_from_dns(DkimAlgorithm::Ed25519Sha256, want_p);
    REQUIRE(pub);
    CHECK(openssl_verifies(pub.get(), DkimAlgorithm::Ed25519Sha256, data, *signature));
    CHECK_FALSE(openssl_verifies(pub.get(), DkimAlgorithm::Ed25519Sha256, data + "x", *signature));
}

// ---------------------------------------------------------------- refusals

TEST_CASE("key files that group or others can access are refused", "[dkim][keys]") {
    TempDir dir;
    const std::string pem = rfc_ed25519_pem();
    struct Case {
        mode_t mode;
        bool want_ok;
    };
    const Case cases[] = {
        {0600, true},  {0400, true},  {0700, true},  {0644, false}, {0640, false},
        {0604, false}, {0660, false}, {0610, false}, {0601, false}, {0666, false},
    };
    for (const auto& c : cases) {
        const std::string path =
            write_file(dir.file("key-" + std::to_string(c.mode) + ".pem"), pem, c.mode);
        auto got = adapters::load_signing_key(path, DkimAlgorithm::Ed25519Sha256);
        INFO("mode 0" << std::oct << c.mode << ": got "
                      << (got.ok() ? "accepted" : got.error().message));
        REQUIRE(got.ok() == c.want_ok);
        if (!c.want_ok) {
            CHECK(contains(got.error().message, path));
            CHECK(contains(got.error().message, "chmod 600"));
        }
    }
}

TEST_CASE("bad key files are refused with a message naming the file", "[dkim][keys]") {
    TempDir dir;
    auto rsa = openssl_keygen("RSA", 2048);
    auto ed = openssl_keygen("ED25519");
    struct Case {
        const char* name;
        std::string content;
        DkimAlgorithm declared;
        const char* want;
    };
    const Case cases[] = {
        {"empty", "", DkimAlgorithm::RsaSha256, "no usable PEM private key"},
        {"garbage", "SECRET-LOOKING garbage\n", DkimAlgorithm::RsaSha256,
         "no usable PEM private key"},
        {"truncated", pem_of(rsa.get(), Pem::Pkcs8).substr(0, 200), DkimAlgorithm::RsaSha256,
         "no usable PEM private key"},
        {"public", pem_of(rsa.get(), Pem::Public), DkimAlgorithm::RsaSha256,
         "no usable PEM private key"},
        {"encrypted", pem_of(rsa.get(), Pem::EncryptedPkcs8), DkimAlgorithm::RsaSha256,
         "encrypted"},
        {"ec", pem_of(openssl_keygen("EC").get(), Pem::Pkcs8), DkimAlgorithm::RsaSha256,
         "key of type EC"},
        {"ed448", pem_of(openssl_keygen("ED448").get(), Pem::Pkcs8), DkimAlgorithm::Ed25519Sha256,
         "key of type ED448"},
        {"rsa-declared-ed", pem_of(rsa.get(), Pem::Pkcs8), DkimAlgorithm::Ed25519Sha256,
         "holds an RSA key (rsa-sha256), but it is declared as ed25519-sha256"},
        {"ed-declared-rsa", pem_of(ed.get(), Pem::Pkcs8), DkimAlgorithm::RsaSha256,
         "holds an Ed25519 key (ed25519-sha256), but it is declared as rsa-sha256"},
        {"rsa-512", pem_of(openssl_keygen("RSA", 512).get(), Pem::Traditional),
         DkimAlgorithm::RsaSha256, "512-bit RSA key; DKIM RSA keys must have 1024 to 4096 bits"},
        {"rsa-4104", pem_of(openssl_keygen("RSA", 4104, 4).get(), Pem::Pkcs8),
         DkimAlgorithm::RsaSha256, "4104-bit RSA key"},
        {"huge", std::string(std::size_t{70} * 1024, 'A'), DkimAlgorithm::RsaSha256,
         "larger than 64 KiB"},
    };
    for (const auto& c : cases) {
        const std::string path = write_file(dir.file(c.name), c.content, 0600);
        auto got = adapters::load_signing_key(path, c.declared);
        INFO("case " << c.name << ": got " << (got.ok() ? "accepted" : got.error().message)
                     << ", want \"" << c.want << "\"");
        REQUIRE_FALSE(got.ok());
        CHECK(contains(got.error().message, "DKIM key file " + path));
        CHECK(contains(got.error().message, c.want));
        // Nothing of the file's content is quoted back.
        CHECK_FALSE(contains(got.error().message, "SECRET-LOOKING"));
        if (c.content.size() >= 80) {
            CHECK_FALSE(contains(got.error().message, c.content.substr(40, 24)));
        }
    }

    auto missing = adapters::load_signing_key(dir.file("missing.pem"), DkimAlgorithm::RsaSha256);
    REQUIRE_FALSE(missing.ok());
    CHECK(
        contains(missing.error().message, "cannot open DKIM key file " + dir.file("missing.pem")));
    CHECK(contains(missing.error().message, "No such file"));

    auto directory = adapters::load_signing_key(dir.path.string(), DkimAlgorithm::RsaSha256);
    REQUIRE_FALSE(directory.ok());
    CHECK(contains(directory.error().message, dir.path.string() + " is not a regular file"));

    const std::string fifo = dir.file("fifo");
    REQUIRE(::mkfifo(fifo.c_str(), 0600) == 0);
    auto from_fifo = adapters::load_signing_key(fifo, DkimAlgorithm::RsaSha256);
    REQUIRE_FALSE(from_fifo.ok());  // and it did not hang
    CHECK(contains(from_fifo.error().message, "is not a regular file"));

    if (::geteuid() != 0) {  // root reads anything
        const std::string unreadable = write_file(dir.file("unreadable"), rfc_ed25519_pem(), 0);
        auto got = adapters::load_signing_key(unreadable, DkimAlgorithm::Ed25519Sha256);
        REQUIRE_FALSE(got.ok());
        CHECK(contains(got.error().message, "cannot open DKIM key file " + unreadable));
    }
}

// ---------------------------------------------------------------- threads

TEST_CASE("one loaded key signs from 8 threads at once", "[dkim][keys][threads]") {
    TempDir dir;
    struct Case {
        DkimAlgorithm algorithm;
        PkeyPtr pkey;
    };
    Case cases[] = {
        {DkimAlgorithm::RsaSha256, openssl_keygen("RSA", 2048)},
        {DkimAlgorithm::Ed25519Sha256, openssl_keygen("ED25519")},
    };
    constexpr int kThreads = 8;
    constexpr int kPerThread = 40;
    for (auto& c : cases) {
        INFO("algorithm " << core::to_string(c.algorithm));
        auto key = adapters::load_signing_key(
            write_file(dir.file("shared.pem"), pem_of(c.pkey.get(), Pem::Pkcs8), 0600),
            c.algorithm);
        REQUIRE(key.ok());
        const std::shared_ptr<const core::SigningKey>& shared = *key;

        // Catch2 assertions are not thread-safe: collect, then check here.
        std::vector<std::vector<std::string>> signatures(kThreads);
        std::vector<int> failures(kThreads, 0);
        std::vector<std::thread> threads;
        threads.reserve(kThreads);
        for (int t = 0; t < kThreads; ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < kPerThread; ++i) {
                    auto s = shared->sign("message " + std::to_string(t) + "/" + std::to_string(i));
                    if (s.ok()) {
                        signatures[t].push_back(*s);
                    } else {
                        ++failures[t];
                    }
                }
            });
        }
        for (auto& th : threads) {
            th.join();
        }
        auto pub = public_key_from_dns(c.algorithm, adapters::public_key_dns_base64(*shared));
        REQUIRE(pub);
        int verified = 0;
        for (int t = 0; t < kThreads; ++t) {
            CHECK(failures[t] == 0);
            REQUIRE(signatures[t].size() == static_cast<std::size_t>(kPerThread));
            for (int i = 0; i < kPerThread; ++i) {
                const std::string data = "message " + std::to_string(t) + "/" + std::to_string(i);
                verified +=
                    openssl_verifies(pub.get(), c.algorithm, data, signatures[t][i]) ? 1 : 0;
            }
        }
        CHECK(verified == kThreads * kPerThread);
        std::filesystem::remove(dir.file("shared.pem"));
    }
}

// ---------------------------------------------------------------- keygen

TEST_CASE("generated keys are written 0600, never over a file, and load back", "[dkim][keys]") {
    TempDir dir;
    struct Case {
        DkimAlgorithm algorithm;
        int bits;
        const char* file;
    };
    const Case cases[] = {
        {DkimAlgorithm::RsaSha256, 2048, "rsa.pem"},
        {DkimAlgorithm::Ed25519Sha256, 0, "ed.pem"},
    };
    const mode_t old_umask = ::umask(0);  // even a permissive umask gives 0600
    for (const auto& c : cases) {
        INFO("algorithm " << core::to_string(c.algorithm));
        auto key = adapters::generate_key(c.algorithm, c.bits);
        REQUIRE(key.ok());
        CHECK((*key)->algorithm() == c.algorithm);
        const std::string path = dir.file(c.file);
        auto written = adapters::write_private_key_file(**key, path);
        REQUIRE(written.ok());
        struct stat st {};
        REQUIRE(::stat(path.c_str(), &st) == 0);
        CHECK((st.st_mode & 07777) == 0600);

        auto loaded = adapters::load_signing_key(path, c.algorithm);
        REQUIRE(loaded.ok());
        CHECK(adapters::public_key_dns_base64(**loaded) == adapters::public_key_dns_base64(**key));

        // A second write must not replace the key that is perhaps in DNS already.
        const auto before = std::filesystem::file_size(path);
        auto again = adapters::write_private_key_file(**key, path);
        REQUIRE_FALSE(again.ok());
        CHECK(contains(again.error().message, "refusing to overwrite " + path));
        CHECK(std::filesystem::file_size(path) == before);
    }
    ::umask(old_umask);

    // Nor through a symlink, even a dangling one.
    const std::string link = dir.file("link.pem");
    std::filesystem::create_symlink(dir.file("elsewhere.pem"), link);
    auto ed = adapters::generate_key(DkimAlgorithm::Ed25519Sha256, 0);
    REQUIRE(ed.ok());
    CHECK_FALSE(adapters::write_private_key_file(**ed, link).ok());
    CHECK_FALSE(std::filesystem::exists(dir.file("elsewhere.pem")));

    auto no_dir = adapters::write_private_key_file(**ed, dir.file("no/such/dir.pem"));
    REQUIRE_FALSE(no_dir.ok());
    CHECK(contains(no_dir.error().message, dir.file("no/such/dir.pem")));
}

TEST_CASE("key generation refuses RSA sizes outside 1024..4096", "[dkim][keys]") {
    for (const int bits : {0, 512, 1023, 4097, 8192}) {
        auto got = adapters::generate_key(DkimAlgorithm::RsaSha256, bits);
        INFO("bits " << bits);
        REQUIRE_FALSE(got.ok());
        CHECK(contains(got.error().message, "1024 to 4096 bits"));
    }
}

TEST_CASE("keys from elsewhere have no p= and cannot be written", "[dkim][keys]") {
    TempDir dir;
    const FakeKey fake;
    CHECK(adapters::public_key_dns_base64(fake).empty());
    auto got = adapters::write_private_key_file(fake, dir.file("fake.pem"));
    REQUIRE_FALSE(got.ok());
    CHECK_FALSE(std::filesystem::exists(dir.file("fake.pem")));
}
