// The change log (issue 9): what every committed write changed, under the account revision it
// committed as. Consumers (the login view, later the network feed) remember the revision they
// have applied and ask for what came after it, instead of rebuilding from the whole account.
//
// Recording: each table's write method names the entity it changed (Connection::record) inside
// the write transaction; at COMMIT the connection gives the transaction the next revision and
// inserts its changes, deduplicated, in the same transaction. A write that changes rows but
// records nothing is refused (an internal error, rolled back) unless it says it is not IAM
// state (Connection::write_untracked: the 2FA failure counters). So the revision moves if and
// only if something a consumer may care about changed, and every revision has its changes.
//
// Compaction: the log keeps the newest `max_revisions` revisions, and drops revisions older
// than `max_age` as long as at least `min_revisions` remain. `compacted_through` is the newest
// revision whose changes are gone; a consumer at an older revision gets nullopt from since()
// and rebuilds from the tables. Compaction runs inside a write transaction every
// kCompactEvery revisions, so its cost is spread over the writes that made it necessary.
#pragma once
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace portal::store {

class Connection;

enum class ChangeKind { account, user, membership, ssh_key, tfa };
enum class ChangeOp { upsert, remove };

std::string_view to_string(ChangeKind k);
std::string_view to_string(ChangeOp op);

// One changed entity. account_id is empty for user-global entities (user, tfa); user_id is
// set whenever the entity belongs to one user (everything but an account). entity_id is the
// entity's own key: the account id, the user id, or an SSH key's fingerprint.
struct Change {
    std::uint64_t revision = 0;
    ChangeKind kind = ChangeKind::account;
    ChangeOp op = ChangeOp::upsert;
    std::string account_id;
    std::string user_id;
    std::string entity_id;
    bool operator==(const Change&) const = default;
};

struct ChangeLogRetention {
    std::uint64_t max_revisions = 100000;
    std::chrono::seconds max_age{30 * 86400};
    std::uint64_t min_revisions = 1000;  // kept whatever their age
};

// Compaction runs at commits of revisions that are multiples of this.
inline constexpr std::uint64_t kCompactEvery = 64;

class ChangeLog {
public:
    explicit ChangeLog(Connection& conn) : conn_(conn) {}

    // The changes of every revision after `revision`, oldest first. nullopt when they are
    // not all there (compacted, or `revision` is newer than the store: a restored backup),
    // or when there are more than `max_changes` of them (rebuilding is cheaper).
    std::optional<std::vector<Change>> since(std::uint64_t revision, std::size_t max_changes);
    // The newest revision whose changes were compacted away (0: none).
    std::uint64_t compacted_through();

private:
    Connection& conn_;
};

}  // namespace portal::store
