#include "tests/api/support/helpers.h"

#include <openssl/evp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstring>
#include <ctime>
#include <memory>
#include <set>
#include <sstream>
#include <stdexcept>

#include "shared/base32.h"
#include "shared/totp.h"

namespace portal::test {
namespace fs = std::filesystem;

namespace {

std::vector<std::uint8_t> decode_secret(const std::string& b32) {
    auto bytes = base32_decode(b32);
    if (!bytes) throw std::runtime_error("secret is not base32: " + b32);
    return *bytes;
}

std::string first_field_after(const std::string& line, int index) {
    std::istringstream in(line);
    std::string f;
    for (int i = 0; i <= index; ++i)
        if (!(in >> f)) return "";
    return f;
}

void put_u32(std::string& b, std::uint32_t v) {
    for (int shift = 24; shift >= 0; shift -= 8) b += static_cast<char>((v >> shift) & 0xff);
}

}  // namespace

std::string shell_quote(const std::string& s) {
    std::string out = "'";
    for (char c : s) {
        if (c == '\'') out += "'\\''";
        else out += c;
    }
    return out + "'";
}

HeaderList account_header(const std::string& account_id) { return {{"X-Account-ID", account_id}}; }

Seed seed_account(const Daemon& d, const std::string& name, const std::string& tag) {
    Seed s;
    auto acc = d.post("/v1/accounts", {{"name", name}});
    INFO(acc.describe());
    REQUIRE(acc.status == 201);
    s.account_id = acc.json.at("id").get<std::string>();
    s.owner = add_member(d, s.account_id, "owner-" + tag + "@example.com", "owner");
    return s;
}

Member add_member(const Daemon& d, const std::string& account_id, const std::string& email, const std::string& role,
                  const std::string& status) {
    auto r = d.post("/v1/account/users", {{"email", email}, {"name", "User " + email}, {"role", role}, {"status", status}},
                    0, account_header(account_id));
    INFO("adding " << email << ": " << r.describe());
    REQUIRE(r.status == 201);
    Member m;
    m.id = r.json.at("id").get<std::string>();
    m.uid = r.json.at("uid").get<uid_t>();
    m.email = email;
    m.json = r.json;
    return m;
}

std::string totp_now(const std::string& secret_base32, int offset_steps) {
    auto secret = decode_secret(secret_base32);
    return totp_code(secret, static_cast<std::int64_t>(std::time(nullptr)) + 30LL * offset_steps, TotpParams{});
}

std::string wrong_totp(const std::string& secret_base32) {
    std::set<std::string> valid;
    for (int off = -2; off <= 2; ++off) valid.insert(totp_now(secret_base32, off));
    for (int n = 123456;; n = (n + 111111) % 1000000) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%06d", n);
        if (!valid.count(buf)) return buf;
    }
}

Enrolled enrol_tfa(const Daemon& d, uid_t uid) {
    Enrolled e;
    auto en = d.post("/v1/profile/tfa/enable", nlohmann::json::object(), uid);
    INFO(en.describe());
    REQUIRE(en.status == 201);
    e.secret = en.json.at("secret").get<std::string>();
    e.spent_code = totp_now(e.secret);
    auto conf = d.post("/v1/profile/tfa/confirm", {{"code", e.spent_code}}, uid);
    INFO(conf.describe());
    REQUIRE(conf.status == 200);
    e.recovery_codes = conf.json.at("recovery_codes").get<std::vector<std::string>>();
    return e;
}

GeneratedKey ssh_keygen(const fs::path& dir, const std::string& name, const std::string& type,
                        const std::string& comment) {
    const fs::path priv = dir / name;
    const std::string q = shell_quote(priv.string());
    int st = 0;
    std::string extra = type == "rsa" ? " -b 3072" : "";
    run_command("ssh-keygen -q -t " + type + extra + " -N '' -C " + shell_quote(comment) + " -f " + q + " </dev/null",
                &st);
    if (st != 0) throw std::runtime_error("ssh-keygen failed for " + priv.string());
    GeneratedKey k;
    k.public_line = read_file(priv.string() + ".pub");
    while (!k.public_line.empty() && (k.public_line.back() == '\n' || k.public_line.back() == '\r'))
        k.public_line.pop_back();
    // "256 SHA256:xxxx comment (ED25519)"
    std::string sha = run_command("ssh-keygen -lf " + q + ".pub", &st);
    if (st != 0) throw std::runtime_error("ssh-keygen -lf failed");
    k.bits = std::stoi(first_field_after(sha, 0));
    k.sha256 = first_field_after(sha, 1);
    std::string md5 = first_field_after(run_command("ssh-keygen -E md5 -lf " + q + ".pub", &st), 1);
    if (st != 0 || md5.rfind("MD5:", 0) != 0) throw std::runtime_error("ssh-keygen -E md5 failed: " + md5);
    k.md5 = md5.substr(4);
    return k;
}

std::string fresh_ed25519_line(const std::string& comment) {
    std::unique_ptr<EVP_PKEY_CTX, decltype(&EVP_PKEY_CTX_free)> ctx(EVP_PKEY_CTX_new_id(EVP_PKEY_ED25519, nullptr),
                                                                    &EVP_PKEY_CTX_free);
    EVP_PKEY* raw = nullptr;
    if (!ctx || EVP_PKEY_keygen_init(ctx.get()) != 1 || EVP_PKEY_keygen(ctx.get(), &raw) != 1)
        throw std::runtime_error("ed25519 keygen failed");
    std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(raw, &EVP_PKEY_free);
    unsigned char pub[32];
    size_t len = sizeof pub;
    if (EVP_PKEY_get_raw_public_key(key.get(), pub, &len) != 1 || len != 32)
        throw std::runtime_error("ed25519 public key export failed");
    // The SSH wire blob: string "ssh-ed25519", string <32 bytes>.
    std::string blob;
    const std::string type = "ssh-ed25519";
    put_u32(blob, static_cast<std::uint32_t>(type.size()));
    blob += type;
    put_u32(blob, 32);
    blob.append(reinterpret_cast<const char*>(pub), 32);
    std::string b64(4 * ((blob.size() + 2) / 3) + 1, '\0');
    int n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(b64.data()),
                            reinterpret_cast<const unsigned char*>(blob.data()), static_cast<int>(blob.size()));
    b64.resize(static_cast<std::size_t>(n));
    return type + " " + b64 + " " + comment;
}

long header_long(const HttpResult& r, const std::string& name) {
    auto v = r.header(name);
    if (v.empty()) return -1;
    try {
        std::size_t used = 0;
        long n = std::stol(v, &used);
        return used == v.size() ? n : -1;
    } catch (const std::exception&) {
        return -1;
    }
}

Listing list_all(const Daemon& d, const std::string& path, uid_t uid, const HeaderList& headers) {
    Listing out;
    const char sep = path.find('?') == std::string::npos ? '?' : '&';
    for (int page = 1; page <= 1000; ++page) {
        auto r = d.get(path + sep + "per_page=100&page=" + std::to_string(page), uid, headers);
        if (r.status != 200 || !r.json.is_array()) {
            out.consistent = false;
            out.problem = "page " + std::to_string(page) + ": " + r.describe();
            return out;
        }
        long total = header_long(r, "x-total");
        if (page == 1) out.total = total;
        else if (total != out.total) {
            out.consistent = false;
            out.problem = "X-Total changed between pages";
        }
        for (auto& item : r.json) out.items.push_back(item);
        if (r.json.size() < 100) break;
    }
    return out;
}

}  // namespace portal::test

namespace portal::test {

bool provider_has_user(const Daemon& d, const std::string& unix_name) {
    const auto path = d.runtime_dir() / "userdb-provider" / "io.portal.keyd";
    const int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd >= 0);
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    REQUIRE(path.string().size() < sizeof addr.sun_path);
    std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
    std::string reply;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        const nlohmann::json q{{"method", "io.systemd.UserDatabase.GetUserRecord"},
                               {"parameters", {{"userName", unix_name}, {"service", "io.portal.keyd"}}}};
        std::string out = q.dump();
        out.push_back('\0');
        if (::send(fd, out.data(), out.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(out.size())) {
            char buf[4096];
            for (;;) {
                const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
                if (n <= 0) break;
                reply.append(buf, static_cast<std::size_t>(n));
                if (reply.find('\0') != std::string::npos) break;
            }
        }
    }
    ::close(fd);
    INFO("provider reply for " << unix_name << ": " << reply);
    REQUIRE(reply.find('\0') != std::string::npos);
    const auto j = nlohmann::json::parse(reply.substr(0, reply.find('\0')));
    return j.contains("parameters") && j["parameters"].contains("record");
}

HttpsTarget https_listener(const Daemon& d) {
    auto accounts = d.get("/v1/accounts");
    REQUIRE(accounts.status == 200);
    const std::string account_id = accounts.json.empty() ? seed_account(d).account_id
                                                         : accounts.json.at(0)["id"].get<std::string>();
    auto r = d.get("/v1/server", 0, account_header(account_id));
    REQUIRE(r.status == 200);
    REQUIRE(r.json["https"].is_object());
    HttpsTarget t;
    t.address = r.json["https"]["listening"].at(0).get<std::string>();
    t.pin = r.json["https"]["pin"].get<std::string>();
    return t;
}

CreatedToken create_api_token(const Daemon& d, uid_t uid, const std::string& name, const std::string& access) {
    auto r = d.post("/v1/api_tokens", {{"name", name}, {"access_level", access}}, uid);
    INFO(r.describe());
    REQUIRE(r.status == 201);
    return {r.json.at("id").get<std::string>(), r.json.at("token").get<std::string>()};
}

HttpResult https_request(const HttpsTarget& t, const std::string& token, const std::string& method,
                         const std::string& path, const std::optional<std::string>& body, HeaderList headers) {
    HttpRequest req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.headers = std::move(headers);
    if (!token.empty()) req.headers.emplace_back("Authorization", "Bearer " + token);
    req.https = t;
    return http_request("", req);
}

}  // namespace portal::test
