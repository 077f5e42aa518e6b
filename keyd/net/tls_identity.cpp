#include "keyd/net/tls_identity.h"

#include <sys/stat.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <system_error>

#include "shared/ipc/state_file.h"

namespace portal::net {
namespace {

namespace fs = std::filesystem;

struct BioFree {
    void operator()(BIO* p) const { BIO_free(p); }
};
struct X509Free {
    void operator()(X509* p) const { X509_free(p); }
};
struct PkeyFree {
    void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
};
struct ExtFree {
    void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;
using Pkey = std::unique_ptr<EVP_PKEY, PkeyFree>;

// The newest OpenSSL error, for messages ("no start line", "key values mismatch").
std::string ssl_error() {
    const unsigned long e = ERR_get_error();
    ERR_clear_error();
    if (e == 0) return "unknown OpenSSL error";
    std::array<char, 256> buf{};
    ERR_error_string_n(e, buf.data(), buf.size());
    return buf.data();
}

[[noreturn]] void fail(const fs::path& file, const std::string& why) {
    throw std::runtime_error(file.string() + ": " + why);
}

std::string read_file(const fs::path& file) {
    std::ifstream in(file, std::ios::binary);
    if (!in) fail(file, std::string("cannot read: ") + std::strerror(errno));
    std::ostringstream s;
    s << in.rdbuf();
    if (s.str().size() > 1024 * 1024) fail(file, "larger than 1 MiB, not a PEM file");
    return s.str();
}

Cert read_certificate(const fs::path& file) {
    const std::string pem = read_file(file);
    Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) throw std::bad_alloc();
    Cert cert(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr));
    if (!cert) fail(file, "no PEM certificate (" + ssl_error() + ")");
    return cert;
}

Pkey read_private_key(const fs::path& file) {
    std::string pem = read_file(file);
    Bio bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
    if (!bio) throw std::bad_alloc();
    Pkey key(PEM_read_bio_PrivateKey(bio.get(), nullptr, nullptr, nullptr));
    OPENSSL_cleanse(pem.data(), pem.size());
    if (!key) fail(file, "no PEM private key, or one protected by a passphrase (" + ssl_error() + ")");
    return key;
}

std::string pin_of(X509* cert) {
    unsigned char* der = nullptr;
    const int len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
    if (len <= 0) throw std::runtime_error("cannot encode the certificate's public key: " + ssl_error());
    std::array<unsigned char, SHA256_DIGEST_LENGTH> digest{};
    SHA256(der, static_cast<std::size_t>(len), digest.data());
    OPENSSL_free(der);
    std::array<unsigned char, 4 * ((SHA256_DIGEST_LENGTH + 2) / 3) + 1> b64{};
    EVP_EncodeBlock(b64.data(), digest.data(), static_cast<int>(digest.size()));
    return "sha256//" + std::string(reinterpret_cast<const char*>(b64.data()));
}

void check_pair(const fs::path& cert_file, X509* cert, const fs::path& key_file, EVP_PKEY* key) {
    if (X509_check_private_key(cert, key) != 1)
        fail(key_file, "is not the private key of " + cert_file.string() + " (" + ssl_error() + ")");
}

std::string to_pem(X509* cert) {
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_X509(bio.get(), cert) != 1) throw std::runtime_error("cannot encode the certificate");
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    return std::string(data, static_cast<std::size_t>(n));
}

std::string to_pem(EVP_PKEY* key) {
    Bio bio(BIO_new(BIO_s_mem()));
    if (!bio || PEM_write_bio_PrivateKey(bio.get(), key, nullptr, nullptr, 0, nullptr, nullptr) != 1)
        throw std::runtime_error("cannot encode the private key");
    char* data = nullptr;
    const long n = BIO_get_mem_data(bio.get(), &data);
    std::string out(data, static_cast<std::size_t>(n));
    OPENSSL_cleanse(data, static_cast<std::size_t>(n));
    return out;
}

void add_extension(X509* cert, int nid, const std::string& value) {
    X509V3_CTX ctx;
    X509V3_set_ctx_nodb(&ctx);
    X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
    std::unique_ptr<X509_EXTENSION, ExtFree> ext(X509V3_EXT_conf_nid(nullptr, &ctx, nid, value.c_str()));
    if (!ext || X509_add_ext(cert, ext.get(), -1) != 1)
        throw std::runtime_error("cannot add a certificate extension: " + ssl_error());
}

// A DNS name goes into the subjectAltName only when it is one (a host name with odd bytes
// would break the extension's syntax).
bool plain_dns_name(const std::string& s) {
    if (s.empty() || s.size() > 253) return false;
    for (char c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '.') return false;
    return true;
}

std::pair<Cert, Pkey> generate(const std::string& host_name) {
    Pkey key(EVP_EC_gen("P-256"));
    if (!key) throw std::runtime_error("cannot generate an ECDSA P-256 key: " + ssl_error());
    Cert cert(X509_new());
    if (!cert) throw std::bad_alloc();
    std::array<unsigned char, 16> serial{};
    if (RAND_bytes(serial.data(), static_cast<int>(serial.size())) != 1)
        throw std::runtime_error("no randomness for the certificate serial");
    serial[0] &= 0x7f;  // a positive INTEGER
    BIGNUM* bn = BN_bin2bn(serial.data(), static_cast<int>(serial.size()), nullptr);
    const bool serial_set = bn && BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert.get()));
    BN_free(bn);
    if (!serial_set) throw std::runtime_error("cannot set the certificate serial");
    X509_set_version(cert.get(), 2);  // v3
    // Valid from an hour ago (clients with a slightly late clock) for ten years: clients
    // trust it by its pin, and a silent expiry would cut a fleet off.
    X509_gmtime_adj(X509_getm_notBefore(cert.get()), -3600);
    X509_gmtime_adj(X509_getm_notAfter(cert.get()), 10L * 365 * 86400);
    X509_set_pubkey(cert.get(), key.get());
    const std::string cn = plain_dns_name(host_name) ? host_name : std::string("portal-keyd");
    X509_NAME* name = X509_get_subject_name(cert.get());
    X509_NAME_add_entry_by_txt(name, "O", MBSTRING_ASC, reinterpret_cast<const unsigned char*>("portal-keyd"), -1, -1, 0);
    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC, reinterpret_cast<const unsigned char*>(cn.c_str()), -1, -1, 0);
    X509_set_issuer_name(cert.get(), name);
    add_extension(cert.get(), NID_basic_constraints, "critical,CA:FALSE");
    add_extension(cert.get(), NID_key_usage, "critical,digitalSignature");
    add_extension(cert.get(), NID_ext_key_usage, "serverAuth");
    std::string san = "DNS:localhost,IP:127.0.0.1,IP:::1";
    if (plain_dns_name(host_name) && host_name != "localhost") san = "DNS:" + host_name + "," + san;
    add_extension(cert.get(), NID_subject_alt_name, san);
    if (X509_sign(cert.get(), key.get(), EVP_sha256()) == 0)
        throw std::runtime_error("cannot sign the certificate: " + ssl_error());
    return {std::move(cert), std::move(key)};
}

void write_private(const fs::path& file, std::string content, mode_t mode) {
    std::string error;
    const bool ok = ipc::write_file_atomically(file.string(), content, ipc::StateFileMode{mode, {}, {}}, error);
    OPENSSL_cleanse(content.data(), content.size());
    if (!ok) fail(file, error);
}

}  // namespace

TlsIdentity configured_tls_identity(const fs::path& certificate, const fs::path& key) {
    Cert cert = read_certificate(certificate);
    Pkey pkey = read_private_key(key);
    check_pair(certificate, cert.get(), key, pkey.get());
    return TlsIdentity{certificate, key, pin_of(cert.get()), false};
}

TlsIdentity self_signed_tls_identity(const fs::path& directory, const std::string& host_name) {
    const fs::path cert_file = directory / "cert.pem";
    const fs::path key_file = directory / "key.pem";
    std::error_code ec;
    if (fs::exists(cert_file, ec) && fs::exists(key_file, ec)) {
        // Made by an earlier start: keep it (clients pinned it). A broken pair is replaced.
        try {
            TlsIdentity id = configured_tls_identity(cert_file, key_file);
            id.self_signed = true;
            return id;
        } catch (const std::exception&) {
        }
    }
    fs::create_directories(directory, ec);
    if (ec) fail(directory, "cannot create: " + ec.message());
    if (::chmod(directory.c_str(), 0700) != 0) fail(directory, std::string("chmod: ") + std::strerror(errno));
    auto [cert, key] = generate(host_name);
    write_private(key_file, to_pem(key.get()), 0600);
    write_private(cert_file, to_pem(cert.get()), 0644);
    return TlsIdentity{cert_file, key_file, pin_of(cert.get()), true};
}

std::string spki_pin_of_file(const fs::path& certificate) { return pin_of(read_certificate(certificate).get()); }

}  // namespace portal::net
