// The login state: everything the login path (keys helper, pam_portal.so) needs to decide
// about a user, as the daemon serves it and writes it to <runtime_directory>/login-state.json.
// See docs/LOGIN_PROTOCOL.md ("On-disk state").
#pragma once
#include <atomic>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/model.h"

namespace portal::ipc {

inline constexpr int kLoginStateVersion = 1;

struct LoginKey {
    std::string line;                // "type base64 comment", as printed to sshd
    std::string fingerprint_sha256;  // "SHA256:..." as ssh-keygen -l / sshd's %f
    bool operator==(const LoginKey&) const = default;
};

// A member's keys, shared by the copies of a login state until one of them changes them
// (copy on write): the daemon copies a 10,000-member state at every change it publishes, and
// the keys are most of its bytes. Reads as a const vector; writes copy first when shared.
class KeyList {
public:
    using value_type = LoginKey;
    using const_iterator = std::vector<LoginKey>::const_iterator;
    KeyList() = default;
    KeyList(std::vector<LoginKey> keys)  // NOLINT: a vector of keys is a key list
        : keys_(keys.empty() ? nullptr : std::make_shared<std::vector<LoginKey>>(std::move(keys))) {}
    KeyList(std::initializer_list<LoginKey> keys) : KeyList(std::vector<LoginKey>(keys)) {}

    std::size_t size() const { return all().size(); }
    bool empty() const { return all().empty(); }
    const_iterator begin() const { return all().begin(); }
    const_iterator end() const { return all().end(); }
    const LoginKey& operator[](std::size_t i) const { return all()[i]; }
    const LoginKey& front() const { return all().front(); }
    const LoginKey& back() const { return all().back(); }
    LoginKey& operator[](std::size_t i) { return own()[i]; }
    void push_back(LoginKey k) { own().push_back(std::move(k)); }
    void reserve(std::size_t n) { own().reserve(n); }
    void clear() { keys_.reset(); }
    bool operator==(const KeyList& o) const { return keys_ == o.keys_ || all() == o.all(); }

private:
    const std::vector<LoginKey>& all() const {
        static const std::vector<LoginKey> none;
        return keys_ ? *keys_ : none;
    }
    std::vector<LoginKey>& own() {
        if (!keys_) keys_ = std::make_shared<std::vector<LoginKey>>();
        else if (keys_.use_count() > 1) keys_ = std::make_shared<std::vector<LoginKey>>(*keys_);
        // use_count() is a relaxed load: seeing 1 must also mean seeing everything the last
        // other owner (another thread's snapshot) did before it let go.
        std::atomic_thread_fence(std::memory_order_acquire);
        return *keys_;
    }
    std::shared_ptr<std::vector<LoginKey>> keys_;
};

struct LoginMember {
    std::string unix_name;
    std::uint32_t uid = 0;
    std::string user_id;
    Role role = Role::manager;
    MemberStatus status = MemberStatus::active;
    bool tfa_enabled = false;
    bool published = true;  // false: the name collides with a local or reserved account
    // Support memberships only: when the account's grant ends (unix seconds). The authority
    // deactivates the membership then; this lets a server that cannot hear it (an agent cut
    // off from its portal, the fallback file) refuse the member at that time all the same.
    std::optional<std::int64_t> access_until;
    KeyList keys;
    // Only in the IAM feed's answers to an agent that asked (?profiles=1), and in the agent's
    // synced copy; never on the login path. The member's "profile" object as compact JSON,
    // checked when it was parsed (read_profile() in login_member_json.h gives it back as a
    // MemberProfile): as text it takes a third of the memory, and only reads need it.
    std::shared_ptr<const std::string> profile;
    bool operator==(const LoginMember& o) const {
        return unix_name == o.unix_name && uid == o.uid && user_id == o.user_id && role == o.role &&
               status == o.status && tfa_enabled == o.tfa_enabled && published == o.published &&
               access_until == o.access_until && keys == o.keys &&
               (profile == o.profile || (profile && o.profile && *profile == *o.profile));
    }
};

struct LoginState {
    int version = kLoginStateVersion;
    std::uint64_t revision = 0;
    std::int64_t generated_at = 0;  // unix seconds
    std::int64_t grace_seconds = 3600;
    std::string account_id;
    bool enforce_2fa = false;
    // Roles that may log in (the daemon's configuration), so that a reader of the fallback
    // file decides as the daemon would. Optional in JSON; defaults to owner, manager.
    std::vector<Role> login_roles{Role::owner, Role::manager};
    // Set while this server applies the account's active IP allowlist to SSH logins
    // ([login] apply_ip_allowlist): its networks, canonical CIDR. Optional in JSON.
    std::optional<std::vector<std::string>> ssh_ip_allowlist;
    // With profiles (the feed's answer to an agent that asked): the account's name.
    std::optional<std::string> account_name;
    std::vector<LoginMember> members;

    // Linear scan: fine for the one lookup a login process makes. A long-lived reader that
    // looks up many names (the daemon) should build its own index.
    const LoginMember* find(std::string_view unix_name) const;
};

// Everything but the members: for views of one or a few members that the rules judge as
// they would judge the whole state.
LoginState header_of(const LoginState& state);

// One member as to_json writes it in "members" (the IAM feed's changes carry these).
std::string member_to_json(const LoginMember& m);

// Compact JSON (no trailing NUL). Never throws on odd bytes: invalid UTF-8 is replaced.
std::string to_json(const LoginState& state);

// Strict parser: every field must be present with the right type (login_roles is optional),
// unknown fields and duplicate unix_names are refused; `error` names the offending field,
// e.g. "members[3].role: unknown role \"admin\"".
// With `only_member`, members with another unix_name are dropped while parsing (not built,
// not checked): about twice as fast on a large file, for readers that want one user.
std::optional<LoginState> login_state_from_json(std::string_view text, std::string& error,
                                                std::optional<std::string_view> only_member = std::nullopt);

// --- The state directory's files (docs/LOGIN_PROTOCOL.md, "On-disk state"; state_dir.h) ---

// Layout version of the header and of every member entry: a file of another version is
// stale (never trusted), whoever wrote it.
inline constexpr int kStateDirVersion = 2;

// One member's file: the member as in LoginState::members, the account it belongs to, and
// the account revision at which the daemon wrote it.
struct MemberEntry {
    std::string account_id;
    std::uint64_t revision = 0;
    LoginMember member;
};

// The header: `state` without members, version kStateDirVersion.
std::string header_to_json(const LoginState& state);
// Strict, as login_state_from_json; members stay empty. A version other than
// kStateDirVersion is refused ("version: unsupported version 1").
std::optional<LoginState> header_from_json(std::string_view text, std::string& error);

std::string member_entry_to_json(const MemberEntry& entry);
// Strict; a version other than kStateDirVersion is refused.
std::optional<MemberEntry> member_entry_from_json(std::string_view text, std::string& error);

}  // namespace portal::ipc
