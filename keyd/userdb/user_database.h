// The records the Varlink provider serves (a snapshot built from the planned login state) and
// the io.systemd.UserDatabase protocol on top of it, without any I/O: provider.cpp feeds it
// requests and writes out what it returns. Protocol: https://systemd.io/USER_GROUP_API/.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <unordered_set>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "keyd/userdb/config.h"
#include "shared/ipc/login_state.h"

namespace portal::userdb {

inline constexpr std::string_view kInterface = "io.systemd.UserDatabase";
inline constexpr std::size_t kMaxVarlinkRequestBytes = 64 * 1024;

// Rendered JSON, immutable and shared: a database built after one change shares the other
// members' records with the one before it (a pointer copy each, not 10,000 strings).
class SharedText {
public:
    SharedText() = default;
    explicit SharedText(std::string text) : text_(std::make_shared<const std::string>(std::move(text))) {}
    const std::string& str() const { return text_ ? *text_ : empty_text(); }
    operator const std::string&() const { return str(); }  // NOLINT: reads as the text it is
    bool empty() const { return str().empty(); }
    bool operator==(const SharedText& o) const { return str() == o.str(); }

private:
    static const std::string& empty_text() {
        static const std::string e;
        return e;
    }
    std::shared_ptr<const std::string> text_;
};

class Database {
public:
    struct User {
        std::string name;
        std::uint32_t uid = 0;
        SharedText public_json;      // record without "privileged"
        SharedText privileged_json;  // full record, or empty when there is nothing privileged
    };
    // Groups and memberships are a name and an id: their few bytes of JSON are written when a
    // reply needs them (group_json, membership_json), not kept per member and shared between
    // builds (a reference count to touch per member and build).
    struct Group {
        std::string name;
        std::uint32_t gid = 0;
        bool listed = false;  // enumerated (only groups that have no drop-in: the 2FA group)
    };
    struct Membership {
        std::string user, group;
    };

    // Published members (locked ones too), their per-user groups, cfg.tfa_group when it does
    // not exist locally (and cfg.tfa_group_gid is free), and memberships of published active
    // members in groups that resolve (role groups that exist locally, the 2FA group).
    // Users and per-user groups are answered by look-up but not enumerated: DropinWriter
    // writes them as drop-ins, which nss-systemd enumerates too and does not deduplicate
    // (`getent passwd` would list every member twice, checked on systemd 252).
    // With `previous` and `changed` (names of members that may differ from those `previous`
    // was built from), the records of the other members are copied from `previous` instead
    // of being turned into JSON again (shared, not copied); memberships are worked out anew
    // (they follow account settings too) but reuse the JSON of an identical one.
    static std::shared_ptr<const Database> build(const ipc::LoginState& planned, const UserdbConfig& cfg,
                                                 const std::function<bool(std::string_view)>& group_exists_locally,
                                                 const std::function<bool(std::uint32_t)>& gid_exists_locally,
                                                 const Database* previous = nullptr,
                                                 const std::unordered_set<std::string>* changed = nullptr);

    const std::string& service() const { return service_; }
    const std::vector<User>& users() const { return users_; }
    const std::vector<Group>& groups() const { return groups_; }
    const std::vector<Membership>& memberships() const { return memberships_; }
    const User* user_by_name(std::string_view name) const;
    const User* user_by_uid(std::uint32_t uid) const;
    const Group* group_by_name(std::string_view name) const;
    const Group* group_by_gid(std::uint32_t gid) const;
    // Indices into memberships(), in order.
    std::vector<std::size_t> memberships_of_user(std::string_view name) const;
    const std::vector<std::size_t>* memberships_of_group(std::string_view name) const;
    // Their userdb records: {"gid":..,"groupName":..,"service":..} and {"groupName":..,"userName":..}.
    std::string group_json(const Group& g) const;
    static std::string membership_json(const Membership& m);

private:
    // Look-ups are binary searches over sorted vectors, not hash maps: a build after one
    // change then allocates a few arrays instead of a node per member and index (10,000
    // members: 50,000 allocations, and as many frees when the old database goes).
    using IdIndex = std::vector<std::pair<std::uint32_t, std::size_t>>;  // id -> index, by id
    std::string service_;
    std::vector<User> users_;              // by name
    std::vector<Group> groups_;            // by name
    std::vector<Membership> memberships_;  // by user name, then group name
    IdIndex user_by_uid_, group_by_gid_;
    // Memberships per group: the role groups and the 2FA group, a handful (a linear search).
    std::vector<std::pair<std::string, std::vector<std::size_t>>> by_group_;
};

// The replies to one request, produced lazily: an enumeration of 10,000 users is streamed in
// chunks and keeps the snapshot it started on, whatever update() happens meanwhile.
class ReplyStream {
public:
    // Appends encoded messages (JSON + NUL each) to `out` until it holds at least `chunk`
    // bytes or the replies end. Returns true while more remain.
    bool fill(std::string& out, std::size_t chunk);
    bool done() const;
    // The request was malformed: close the connection once the reply is sent.
    bool close_after() const { return close_after_; }

private:
    friend ReplyStream handle_request(std::shared_ptr<const Database>, std::string_view, std::uint32_t);
    friend ReplyStream request_too_large();
    enum class Kind { fixed, users, groups, memberships };
    Kind kind_ = Kind::fixed;
    std::shared_ptr<const Database> db_;
    std::string fixed_;              // Kind::fixed: the whole encoded reply (may be empty: oneway)
    std::vector<std::size_t> items_;  // indices into the database
    std::size_t next_ = 0;
    bool continues_ = false;  // "more": every reply but the last says "continues": true
    std::uint32_t peer_uid_ = UINT32_MAX;
    bool close_after_ = false;
};

// One request (without its NUL) from a peer with `peer_uid` (SO_PEERCRED; UINT32_MAX when
// unknown). Errors:
//  - not JSON, not an object, no "method" string, bad "more"/"oneway"/"parameters":
//    io.systemd.System {"errno": EBADMSG}, then close; "upgrade": EOPNOTSUPP, then close;
//  - unknown method: org.varlink.service.MethodNotFound; unknown or ill-typed parameter:
//    org.varlink.service.InvalidParameter {"parameter": name}; "service" missing or not ours:
//    io.systemd.UserDatabase.BadService; nothing matches: NoRecordFound; uid and name match
//    different records: ConflictingRecordFound; a filter (uidMin, dispositionMask, ...) does not
//    match: NonMatchingRecordFound; an enumeration without "more": org.varlink.service.ExpectedMore.
// The "privileged" section goes only to uid 0 and the record's own uid ("incomplete": true
// for everyone else). Enumerations list memberships and the groups without a drop-in only.
ReplyStream handle_request(std::shared_ptr<const Database> db, std::string_view message, std::uint32_t peer_uid);

// The reply to a request over kMaxVarlinkRequestBytes (io.systemd.System EMSGSIZE, then close).
ReplyStream request_too_large();

}  // namespace portal::userdb
