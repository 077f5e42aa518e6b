// Building blocks the API tests share: seeding an account, members, TOTP codes as an
// authenticator app computes them, SSH keys from ssh-keygen, page walking.
#pragma once
#include <sys/types.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "tests/api/support/daemon_fixture.h"

namespace portal::test {

inline constexpr uid_t kNobody = 65534;
inline constexpr uid_t kUnknownUid = 4242;  // no portal user has it (portal uids start at 200000)

struct Member {
    std::string id;
    uid_t uid = 0;
    std::string email;
    nlohmann::json json;  // the user object as created
};

struct Seed {
    std::string account_id;
    Member owner;
};

// Root creates an account and its first owner (owner-<tag>@example.com).
Seed seed_account(const Daemon& d, const std::string& name = "Acme", const std::string& tag = "acme");
// Root adds a member to the account (the account header is always sent).
Member add_member(const Daemon& d, const std::string& account_id, const std::string& email, const std::string& role,
                  const std::string& status = "active");
HeaderList account_header(const std::string& account_id);

// The TOTP code (SHA1, 6 digits, 30 s) for `secret_base32` at now + offset_steps * 30 s.
std::string totp_now(const std::string& secret_base32, int offset_steps = 0);
// A 6-digit code that is valid for none of the steps now-1, now, now+1.
std::string wrong_totp(const std::string& secret_base32);

// Enables and confirms 2FA for `uid`; returns the secret, and the code used (spent).
struct Enrolled {
    std::string secret;
    std::string spent_code;
    std::vector<std::string> recovery_codes;
};
Enrolled enrol_tfa(const Daemon& d, uid_t uid);

struct GeneratedKey {
    std::string public_line;     // the .pub file's line, newline stripped (with comment)
    std::string md5;             // "aa:bb:..." from ssh-keygen -E md5 -lf, "MD5:" removed
    std::string sha256;          // "SHA256:..." from ssh-keygen -lf
    int bits = 0;
};
// ssh-keygen -t <type> into `dir`.
GeneratedKey ssh_keygen(const std::filesystem::path& dir, const std::string& name, const std::string& type = "ed25519",
                        const std::string& comment = "test@portal");
// An ed25519 public key line made in-process (OpenSSL), for tests that need many keys fast.
std::string fresh_ed25519_line(const std::string& comment = "gen@portal");

// Follows pages (per_page 100) of a list endpoint; checks every page's X-Total agrees.
struct Listing {
    std::vector<nlohmann::json> items;
    long total = -1;        // X-Total of the first page
    bool consistent = true; // every page answered 200 with the same X-Total
    std::string problem;
};
Listing list_all(const Daemon& d, const std::string& path, uid_t uid = 0, const HeaderList& headers = {});

long header_long(const HttpResult& r, const std::string& name);  // -1 if absent or not a number

// Whether the daemon's userdb provider (Varlink, in its runtime directory) publishes a user
// of that name: its GetUserRecord answers with a record rather than an error.
bool provider_has_user(const Daemon& d, const std::string& unix_name);

// Where the daemon's HTTPS listener is and its pin, as root reads them from /v1/server in the
// account its logins follow (the oldest; one is made when there is none). REQUIREs that the
// listener is on ([listen] https in DaemonOptions::extra_toml).
HttpsTarget https_listener(const Daemon& d);

// The member `uid` creates an API token over the socket; returns the secret ("pk_tok_...").
struct CreatedToken {
    std::string id;
    std::string secret;
};
CreatedToken create_api_token(const Daemon& d, uid_t uid, const std::string& name, const std::string& access);

// One request over HTTPS with "Authorization: Bearer <token>" (none when token is empty).
HttpResult https_request(const HttpsTarget& t, const std::string& token, const std::string& method,
                         const std::string& path, const std::optional<std::string>& body = std::nullopt,
                         HeaderList headers = {});

}  // namespace portal::test
