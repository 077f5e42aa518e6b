// The HTTPS listener's certificate and key: files the sysadmin configured, or a self-signed
// ECDSA P-256 pair made on first start and kept in the state directory, so that a fresh
// authority can be pinned (curl --pinnedpubkey, portalctl --pin) without a CA.
#pragma once
#include <filesystem>
#include <string>

namespace portal::net {

struct TlsIdentity {
    std::filesystem::path certificate;  // PEM, the leaf first (a chain may follow)
    std::filesystem::path private_key;  // PEM, 0600
    std::string pin;                    // "sha256//" + base64(SHA-256(SubjectPublicKeyInfo)) of the leaf
    bool self_signed = false;           // made by us (configured files are never rewritten)
};

// Checks configured files: both parse, the key belongs to the certificate. Throws
// std::runtime_error naming the file and what is wrong.
TlsIdentity configured_tls_identity(const std::filesystem::path& certificate, const std::filesystem::path& key);

// <directory>/cert.pem and key.pem: loaded when both exist and match; otherwise a new pair
// is generated (key 0600 written first, both atomically, directory 0700). `host_name` goes
// into the subject and the subjectAltName (with localhost, 127.0.0.1 and ::1).
TlsIdentity self_signed_tls_identity(const std::filesystem::path& directory, const std::string& host_name);

// The pin of the first certificate in a PEM file. Throws naming the file.
std::string spki_pin_of_file(const std::filesystem::path& certificate);

}  // namespace portal::net
