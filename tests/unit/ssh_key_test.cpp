// parse_ssh_public_key against keys made by ssh-keygen at test time, and the keys and
// lines it must refuse.
#include "shared/ssh_key.h"
#include "tests/unit/support/temp_dir.h"

#include <catch2/catch.hpp>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace ssh_key_test {

namespace {

using portal::parse_ssh_public_key;
using portal::ParsedSshKey;
using portal::SshKeyError;

using TempDir = portal::test::TempDir;

struct PcloseFile {
    void operator()(FILE* f) const { pclose(f); }
};

// Runs a shell command (arguments here are our own temp paths, never user input) and
// returns its stdout; throws if it fails.
std::string run(const std::string& cmd) {
    std::unique_ptr<FILE, PcloseFile> pipe(popen((cmd + " </dev/null").c_str(), "r"));
    if (!pipe) throw std::runtime_error("popen failed: " + cmd);
    std::string out;
    char buf[4096];
    std::size_t n = 0;
    while ((n = fread(buf, 1, sizeof buf, pipe.get())) > 0) out.append(buf, n);
    const int status = pclose(pipe.release());
    if (status != 0) throw std::runtime_error("command failed: " + cmd);
    return out;
}

std::string read_line(const std::string& path) {
    std::ifstream in(path);
    std::string line;
    if (!std::getline(in, line)) throw std::runtime_error("cannot read " + path);
    return line;
}

void write_file(const std::string& path, const std::string& text) {
    std::ofstream out(path);
    out << text << '\n';
}

constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

std::string b64_encode(const std::vector<std::uint8_t>& in) {
    std::string out;
    std::size_t i = 0;
    for (; i + 3 <= in.size(); i += 3) {
        const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8) | in[i + 2];
        for (int s = 18; s >= 0; s -= 6) out.push_back(kB64[(v >> s) & 63]);
    }
    if (in.size() - i == 1) {
        const std::uint32_t v = std::uint32_t{in[i]} << 16;
        out += {kB64[(v >> 18) & 63], kB64[(v >> 12) & 63], '=', '='};
    } else if (in.size() - i == 2) {
        const std::uint32_t v = (std::uint32_t{in[i]} << 16) | (std::uint32_t{in[i + 1]} << 8);
        out += {kB64[(v >> 18) & 63], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], '='};
    }
    return out;
}

std::vector<std::uint8_t> b64_decode(const std::string& in) {
    std::vector<std::uint8_t> out;
    std::uint32_t acc = 0;
    int nbits = 0;
    for (char c : in) {
        if (c == '=') break;
        const char* p = std::char_traits<char>::find(kB64, 64, c);
        if (p == nullptr) throw std::runtime_error("bad base64 in test data");
        acc = (acc << 6) | static_cast<std::uint32_t>(p - kB64);
        nbits += 6;
        if (nbits >= 8) {
            nbits -= 8;
            out.push_back(static_cast<std::uint8_t>(acc >> nbits));
        }
    }
    return out;
}

void put_string(std::vector<std::uint8_t>& out, const std::vector<std::uint8_t>& s) {
    const auto n = static_cast<std::uint32_t>(s.size());
    for (int shift = 24; shift >= 0; shift -= 8) out.push_back(static_cast<std::uint8_t>(n >> shift));
    out.insert(out.end(), s.begin(), s.end());
}

void put_string(std::vector<std::uint8_t>& out, const std::string& s) {
    put_string(out, std::vector<std::uint8_t>(s.begin(), s.end()));
}

// The n-th length-prefixed string of an SSH wire blob.
std::vector<std::uint8_t> get_string(const std::vector<std::uint8_t>& blob, int index) {
    std::size_t pos = 0;
    for (int i = 0;; ++i) {
        const std::size_t len = (std::size_t{blob.at(pos)} << 24) | (std::size_t{blob.at(pos + 1)} << 16) |
                                (std::size_t{blob.at(pos + 2)} << 8) | blob.at(pos + 3);
        pos += 4;
        if (i == index) return {blob.begin() + static_cast<long>(pos), blob.begin() + static_cast<long>(pos + len)};
        pos += len;
    }
}

std::string field(const std::string& line, int index) {
    std::istringstream in(line);
    std::string word;
    for (int i = 0; i <= index; ++i) in >> word;
    return word;
}

// What ssh-keygen says about a public key file.
struct KeygenInfo {
    int bits = 0;
    std::string sha256;  // "SHA256:..."
    std::string md5;     // without "MD5:"
};

KeygenInfo keygen_info(const std::string& pub_path) {
    const std::string sha = run("ssh-keygen -lf " + pub_path);
    const std::string md5 = run("ssh-keygen -E md5 -lf " + pub_path);
    KeygenInfo info;
    info.bits = std::stoi(field(sha, 0));
    info.sha256 = field(sha, 1);
    const std::string md5_field = field(md5, 1);
    REQUIRE(md5_field.rfind("MD5:", 0) == 0);
    info.md5 = md5_field.substr(4);
    return info;
}

// Keys generated once per run (RSA 3072 takes a moment).
struct GeneratedKeys {
    TempDir dir;
    std::map<std::string, std::string> pub_path;  // name -> path of the .pub file

    GeneratedKeys() {
        const std::vector<std::pair<std::string, std::string>> specs = {
            {"ed25519", "-t ed25519"},      {"ecdsa256", "-t ecdsa -b 256"}, {"ecdsa384", "-t ecdsa -b 384"},
            {"ecdsa521", "-t ecdsa -b 521"}, {"rsa2048", "-t rsa -b 2048"},   {"rsa3072", "-t rsa -b 3072"},
            {"rsa1024", "-t rsa -b 1024"},   {"dsa", "-t dsa"},                {"ca", "-t ed25519"},
        };
        for (const auto& [name, args] : specs) {
            const std::string key = dir.path().string() + "/" + name;
            run("ssh-keygen -q " + args + " -N '' -C 'test key " + name + "' -f " + key);
            pub_path[name] = key + ".pub";
        }
        // A user certificate of the ed25519 key (written as ed25519-cert.pub).
        run("ssh-keygen -q -s " + dir.path().string() + "/ca -I test -n user " + dir.path().string() + "/ed25519.pub");
        pub_path["cert"] = dir.path().string() + "/ed25519-cert.pub";
    }

    std::string line(const std::string& name) const { return read_line(pub_path.at(name)); }
    std::string blob(const std::string& name) const { return field(line(name), 1); }
};

const GeneratedKeys& keys() {
    static const GeneratedKeys k;
    return k;
}

// By value: callers pass the temporary result straight in.
ParsedSshKey require_ok(const std::variant<ParsedSshKey, SshKeyError>& r) {
    if (const auto* err = std::get_if<SshKeyError>(&r)) FAIL("unexpected error: " << err->message);
    return std::get<ParsedSshKey>(r);
}

std::string require_error(const std::variant<ParsedSshKey, SshKeyError>& r) {
    if (std::holds_alternative<ParsedSshKey>(r)) FAIL("accepted a key that must be refused");
    const auto& msg = std::get<SshKeyError>(r).message;
    CHECK_FALSE(msg.empty());
    return msg;
}

void check_against_keygen(const ParsedSshKey& k, const std::string& pub_path) {
    const KeygenInfo info = keygen_info(pub_path);
    CHECK(k.bits == info.bits);
    CHECK(k.fingerprint_sha256 == info.sha256);
    CHECK(k.fingerprint_md5 == info.md5);
}

// sk-ssh-ed25519: string type, string 32-byte key, string application.
std::string sk_ed25519_line() {
    std::vector<std::uint8_t> pk;
    for (std::uint8_t i = 1; i <= 32; ++i) pk.push_back(static_cast<std::uint8_t>(i * 7));
    std::vector<std::uint8_t> blob;
    put_string(blob, "sk-ssh-ed25519@openssh.com");
    put_string(blob, pk);
    put_string(blob, "ssh:");
    return "sk-ssh-ed25519@openssh.com " + b64_encode(blob) + " yubikey";
}

}  // namespace

TEST_CASE("ssh_key: generated keys parse and match ssh-keygen", "[ssh_key]") {
    const auto& k = keys();
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"ed25519", "ssh-ed25519"},          {"ecdsa256", "ecdsa-sha2-nistp256"},
        {"ecdsa384", "ecdsa-sha2-nistp384"}, {"ecdsa521", "ecdsa-sha2-nistp521"},
        {"rsa2048", "ssh-rsa"},              {"rsa3072", "ssh-rsa"},
    };
    for (const auto& [name, type] : cases) {
        INFO("key " << name);
        const std::string line = k.line(name);
        const ParsedSshKey parsed = require_ok(parse_ssh_public_key(line));
        CHECK(parsed.type == type);
        CHECK(parsed.base64 == k.blob(name));
        CHECK(parsed.comment == "test key " + name);
        CHECK(parsed.normalized() == type + " " + k.blob(name));
        check_against_keygen(parsed, k.pub_path.at(name));
    }
    CHECK(require_ok(parse_ssh_public_key(k.line("rsa2048"))).bits == 2048);
    CHECK(require_ok(parse_ssh_public_key(k.line("rsa3072"))).bits == 3072);
    CHECK(require_ok(parse_ssh_public_key(k.line("ecdsa521"))).bits == 521);
}

TEST_CASE("ssh_key: security-key (sk) keys parse and match ssh-keygen", "[ssh_key]") {
    const auto& k = keys();
    SECTION("sk-ssh-ed25519@openssh.com") {
        const std::string line = sk_ed25519_line();
        const std::string path = k.dir.path().string() + "/sk_ed25519.pub";
        write_file(path, line);
        const ParsedSshKey parsed = require_ok(parse_ssh_public_key(line));
        CHECK(parsed.type == "sk-ssh-ed25519@openssh.com");
        CHECK(parsed.comment == "yubikey");
        CHECK(parsed.bits == 256);
        check_against_keygen(parsed, path);
    }
    SECTION("sk-ecdsa-sha2-nistp256@openssh.com") {
        // The curve point of a real P-256 key, wrapped as an sk key.
        const auto p256 = b64_decode(k.blob("ecdsa256"));
        std::vector<std::uint8_t> blob;
        put_string(blob, "sk-ecdsa-sha2-nistp256@openssh.com");
        put_string(blob, "nistp256");
        put_string(blob, get_string(p256, 2));
        put_string(blob, "ssh:");
        const std::string line = "sk-ecdsa-sha2-nistp256@openssh.com " + b64_encode(blob);
        const std::string path = k.dir.path().string() + "/sk_ecdsa.pub";
        write_file(path, line);
        const ParsedSshKey parsed = require_ok(parse_ssh_public_key(line));
        CHECK(parsed.type == "sk-ecdsa-sha2-nistp256@openssh.com");
        CHECK(parsed.comment.empty());
        CHECK(parsed.bits == 256);
        check_against_keygen(parsed, path);
    }
}

TEST_CASE("ssh_key: field separators and comments", "[ssh_key]") {
    const std::string blob = keys().blob("ed25519");
    const std::string type = "ssh-ed25519";

    CHECK(require_ok(parse_ssh_public_key(type + " " + blob)).comment.empty());
    CHECK(require_ok(parse_ssh_public_key(type + "\t" + blob + "\tme@laptop")).comment == "me@laptop");
    CHECK(require_ok(parse_ssh_public_key(type + "  \t " + blob + "   work laptop  ")).comment == "work laptop");
    CHECK(require_ok(parse_ssh_public_key(type + " " + blob + " ")).comment.empty());
    CHECK(require_ok(parse_ssh_public_key(type + " " + blob + " " + std::string(256, 'c'))).comment.size() == 256);
    CHECK(require_error(parse_ssh_public_key(type + " " + blob + " " + std::string(257, 'c'))).find("comment") !=
          std::string::npos);
    // The normalized form never carries the comment.
    CHECK(require_ok(parse_ssh_public_key(type + " " + blob + " x")).normalized() == type + " " + blob);
}

TEST_CASE("ssh_key: weak, unsupported and certificate keys are refused", "[ssh_key]") {
    const auto& k = keys();
    CHECK(require_error(parse_ssh_public_key(k.line("rsa1024"))) == "RSA keys must be at least 2048 bits");
    CHECK(require_error(parse_ssh_public_key(k.line("dsa"))).find("DSA") != std::string::npos);

    const std::string cert = k.line("cert");
    REQUIRE(field(cert, 0) == "ssh-ed25519-cert-v01@openssh.com");
    CHECK(require_error(parse_ssh_public_key(cert)).find("certificate") != std::string::npos);
    // The certificate blob under a plain type word.
    CHECK(require_error(parse_ssh_public_key("ssh-ed25519 " + field(cert, 1))).find("certificate") !=
          std::string::npos);

    CHECK_FALSE(require_error(parse_ssh_public_key("rsa-sha2-256 " + k.blob("rsa2048"))).empty());
    CHECK_FALSE(require_error(parse_ssh_public_key("ssh-foo " + k.blob("ed25519"))).empty());
}

TEST_CASE("ssh_key: malformed and malicious lines are refused", "[ssh_key]") {
    const auto& k = keys();
    const std::string good = k.line("ed25519");
    const std::string blob = k.blob("ed25519");
    const std::string ed = "ssh-ed25519 ";

    SECTION("options before the type") {
        for (const std::string prefix : {"command=\"/bin/sh\" ", "no-pty ", "restrict,command=\"x\" ",
                                         "from=\"10.0.0.0/8\" ", "environment=\"A=b\" "}) {
            INFO(prefix);
            CHECK(require_error(parse_ssh_public_key(prefix + good)).find("options") != std::string::npos);
        }
    }
    SECTION("control characters, line breaks and NUL") {
        CHECK(require_error(parse_ssh_public_key(good + "\n")).find("line") != std::string::npos);
        CHECK_FALSE(require_error(parse_ssh_public_key(good + "\n" + k.line("rsa2048"))).empty());
        CHECK_FALSE(require_error(parse_ssh_public_key(ed + blob + " a\rb")).empty());
        CHECK_FALSE(require_error(parse_ssh_public_key(ed + blob + "\r")).empty());
        const std::string with_nul = ed + blob + std::string(" a\0b", 4);
        CHECK(require_error(parse_ssh_public_key(with_nul)).find("NUL") != std::string::npos);
        const std::string nul_in_blob = ed + blob.substr(0, 10) + std::string(1, '\0') + blob.substr(10);
        CHECK_FALSE(require_error(parse_ssh_public_key(nul_in_blob)).empty());
        CHECK(require_error(parse_ssh_public_key(ed + blob + " \x1b[31mred")).find("control") != std::string::npos);
        CHECK_FALSE(require_error(parse_ssh_public_key(ed + blob + " a\x7f")).empty());
        CHECK_FALSE(require_error(parse_ssh_public_key(ed + blob + " a\x01")).empty());
    }
    SECTION("junk inside the blob") {
        // Extra bytes appended to the decoded key, re-encoded as clean base64.
        auto bytes = b64_decode(blob);
        bytes.insert(bytes.end(), {'j', 'u', 'n', 'k', 0, 0, 0, 0});
        CHECK(require_error(parse_ssh_public_key(ed + b64_encode(bytes))).find("trailing") != std::string::npos);
        // Extra base64 characters at the end.
        CHECK(require_error(parse_ssh_public_key(ed + blob + "AAAA")).find("trailing") != std::string::npos);
        CHECK(require_error(parse_ssh_public_key(ed + blob + "x")).find("base64") != std::string::npos);
        CHECK(require_error(parse_ssh_public_key(ed + blob + "==")).find("base64") != std::string::npos);
        const std::string rsa = k.blob("rsa2048");
        CHECK(require_error(parse_ssh_public_key("ssh-rsa " + rsa + "QUFB")).find("trailing") != std::string::npos);
        CHECK(require_error(parse_ssh_public_key(ed + "!" + blob.substr(1))).find("base64") != std::string::npos);
    }
    SECTION("truncated blob") {
        CHECK_FALSE(require_error(parse_ssh_public_key(ed + blob.substr(0, blob.size() - 8))).empty());
        CHECK_FALSE(require_error(parse_ssh_public_key(ed + blob.substr(0, blob.size() - 1))).empty());
        CHECK_FALSE(require_error(parse_ssh_public_key(ed + blob.substr(0, 8))).empty());
        const std::string rsa = k.blob("rsa2048");
        CHECK_FALSE(require_error(parse_ssh_public_key("ssh-rsa " + rsa.substr(0, rsa.size() / 2 / 4 * 4))).empty());
    }
    SECTION("type word not matching the blob") {
        CHECK(require_error(parse_ssh_public_key("ssh-rsa " + blob)).find("does not match") != std::string::npos);
        CHECK(require_error(parse_ssh_public_key("ecdsa-sha2-nistp384 " + k.blob("ecdsa256"))).find("does not match") !=
              std::string::npos);
        CHECK(require_error(parse_ssh_public_key(ed + k.blob("rsa2048"))).find("does not match") != std::string::npos);
        CHECK_FALSE(require_error(parse_ssh_public_key("sk-ssh-ed25519@openssh.com " + blob)).empty());
        // A blob whose inner type names ed25519 but carries junk is still refused.
        auto bytes = b64_decode(k.blob("ecdsa256"));
        std::vector<std::uint8_t> forged;
        put_string(forged, "ssh-ed25519");
        forged.insert(forged.end(), bytes.begin() + 4 + 19, bytes.end());
        CHECK_FALSE(require_error(parse_ssh_public_key(ed + b64_encode(forged))).empty());
    }
    SECTION("empty, type only, oversized") {
        CHECK(require_error(parse_ssh_public_key("")).find("empty") != std::string::npos);
        CHECK_FALSE(require_error(parse_ssh_public_key("ssh-ed25519")).empty());
        CHECK_FALSE(require_error(parse_ssh_public_key("ssh-ed25519 ")).empty());
        CHECK_FALSE(require_error(parse_ssh_public_key(" ")).empty());
        CHECK(require_error(parse_ssh_public_key(ed + std::string(20 * 1024, 'A'))).find("too long") !=
              std::string::npos);
    }
    SECTION("non-ASCII and leading whitespace") {
        CHECK(require_error(parse_ssh_public_key(ed + blob + " Jos\xc3\xa9@laptop")).find("ASCII") !=
              std::string::npos);
        CHECK(require_error(parse_ssh_public_key(ed + blob + " \xe2\x80\xae" "evil")).find("ASCII") !=
              std::string::npos);
        CHECK(require_error(parse_ssh_public_key(" " + good)).find("whitespace") != std::string::npos);
        CHECK(require_error(parse_ssh_public_key("\t" + good)).find("whitespace") != std::string::npos);
    }
}

}  // namespace ssh_key_test
