#include "keyd/sync/synced_store.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "shared/ipc/login_member_json.h"

namespace portal::sync {
namespace {

using nlohmann::json;

constexpr int kSchemaVersion = 3;

// The file exists, is ours, a regular file and 0600 before SQLite opens it (the daemon's
// umask is 077; this also mends a file someone loosened).
void prepare_file(const std::filesystem::path& path) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) throw std::runtime_error(path.string() + ": cannot open: " + std::strerror(errno));
    struct stat st {};
    const bool ok = ::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && ((st.st_mode & 077) == 0 || ::fchmod(fd, 0600) == 0);
    ::close(fd);
    if (!ok) throw std::runtime_error(path.string() + ": not a regular file, or its mode cannot be set to 0600");
}

std::string dump(const json& j) { return j.dump(-1, ' ', false, json::error_handler_t::replace); }

// BEGIN IMMEDIATE ... COMMIT, rolled back when the body throws.
template <class F>
void in_transaction(store::sqlite::Db& db, F&& body) {
    db.exec("BEGIN IMMEDIATE");
    try {
        body();
        db.exec("COMMIT");
    } catch (...) {
        try {
            db.exec("ROLLBACK");
        } catch (...) {
        }
        throw;
    }
}


}  // namespace

SyncedStore SyncedStore::open(const std::filesystem::path& path) {
    prepare_file(path);
    auto db = store::sqlite::Db::open(path);
    db.busy_timeout(5000);
    db.query_text("PRAGMA journal_mode = WAL");
    db.exec("PRAGMA synchronous = FULL; PRAGMA trusted_schema = OFF;");
    const auto version = db.query_int("PRAGMA user_version");
    if (version == 0) {
        db.exec(R"(BEGIN IMMEDIATE;
CREATE TABLE synced_account (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  portal_url TEXT NOT NULL,
  account_id TEXT NOT NULL,
  revision INTEGER NOT NULL,
  enforce_2fa INTEGER NOT NULL,
  ssh_ip_allowlist TEXT,            -- JSON array while active, NULL while not
  synced_at INTEGER NOT NULL,
  host_token_refused INTEGER NOT NULL
);
CREATE TABLE synced_members (
  user_id TEXT PRIMARY KEY,
  member TEXT NOT NULL              -- the member as the feed sent it (login state JSON)
) WITHOUT ROWID;
PRAGMA user_version = 1;
COMMIT;)");
    }
    if (version <= 1) {
        db.exec(R"(BEGIN IMMEDIATE;
CREATE TABLE login_events (
  seq INTEGER PRIMARY KEY AUTOINCREMENT,
  event TEXT NOT NULL               -- as POST /v1/iam/login_events takes it
);
CREATE TABLE sync_counters (name TEXT PRIMARY KEY, value INTEGER NOT NULL) WITHOUT ROWID;
INSERT INTO sync_counters (name, value) VALUES ('login_events_dropped', 0);
PRAGMA user_version = 2;
COMMIT;)");
    }
    if (version <= 2) {
        // Members' profiles and the account's name came with v3 (the local API reads them).
        // A kept state without them is asked for again: revision 0 never matches the portal's
        // ETag, while its members keep logging in meanwhile.
        db.exec(R"(BEGIN IMMEDIATE;
ALTER TABLE synced_account ADD COLUMN account_name TEXT;
UPDATE synced_account SET revision = 0;
PRAGMA user_version = 3;
COMMIT;)");
    } else if (version != kSchemaVersion) {
        throw std::runtime_error(path.string() + ": unknown layout version " + std::to_string(version));
    }
    return SyncedStore(std::move(db));
}

std::optional<ipc::LoginState> SyncedStore::load(SyncFacts& facts, std::string& error) {
    error.clear();
    auto account = db_.prepare(
        "SELECT portal_url, account_id, revision, enforce_2fa, ssh_ip_allowlist, synced_at, host_token_refused, "
        "account_name FROM synced_account WHERE id = 1");
    if (!account.step()) return std::nullopt;
    ipc::LoginState state;
    facts.portal_url = account.column_text(0);
    state.account_id = account.column_text(1);
    state.revision = static_cast<std::uint64_t>(account.column_int(2));
    state.enforce_2fa = account.column_bool(3);
    if (const auto list = account.column_optional_text(4)) {
        const json j = json::parse(*list, nullptr, false);
        if (!j.is_array()) {
            error = "ssh_ip_allowlist: not a list";
            return std::nullopt;
        }
        state.ssh_ip_allowlist.emplace();
        for (const auto& v : j) {
            if (!v.is_string()) {
                error = "ssh_ip_allowlist: not a list of networks";
                return std::nullopt;
            }
            state.ssh_ip_allowlist->push_back(v.get<std::string>());
        }
    }
    facts.synced_at = account.column_int(5);
    facts.host_token_refused = account.column_bool(6);
    state.account_name = account.column_optional_text(7);

    auto rows = db_.prepare("SELECT user_id, member FROM synced_members ORDER BY user_id");
    while (rows.step()) {
        const std::string user_id = rows.column_text(0);
        const json j = json::parse(rows.column_text(1), nullptr, false);
        ipc::LoginMember m;
        if (j.is_discarded() || !ipc::parse_member(j, "members[" + user_id + "]", m, error)) {
            if (error.empty()) error = "members[" + user_id + "]: not valid JSON";
            return std::nullopt;
        }
        if (m.user_id != user_id) {
            error = "members[" + user_id + "]: holds another user";
            return std::nullopt;
        }
        state.members.push_back(std::move(m));
    }
    return state;
}

void SyncedStore::write_account(const std::string& account_id, std::uint64_t revision, bool enforce_2fa,
                                const std::optional<std::vector<std::string>>& allowlist,
                                const std::optional<std::string>& account_name, const SyncFacts& facts) {
    auto st = db_.prepare(
        "INSERT INTO synced_account (id, portal_url, account_id, revision, enforce_2fa, ssh_ip_allowlist, synced_at, "
        "host_token_refused, account_name) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET "
        "portal_url = excluded.portal_url, account_id = excluded.account_id, revision = excluded.revision, "
        "enforce_2fa = excluded.enforce_2fa, ssh_ip_allowlist = excluded.ssh_ip_allowlist, "
        "synced_at = excluded.synced_at, host_token_refused = excluded.host_token_refused, "
        "account_name = excluded.account_name");
    std::optional<std::string> list;
    if (allowlist) list = dump(json(*allowlist));
    st.bind_all(facts.portal_url, account_id, static_cast<std::int64_t>(revision), enforce_2fa);
    st.bind(5, list);
    st.bind(6, facts.synced_at);
    st.bind(7, facts.host_token_refused);
    st.bind(8, account_name);
    st.run();
}


void SyncedStore::replace(const ipc::LoginState& state, const SyncFacts& facts) {
    in_transaction(db_, [&] {
        db_.exec("DELETE FROM synced_members");
        auto insert = db_.prepare("INSERT INTO synced_members (user_id, member) VALUES (?, ?)");
        for (const auto& m : state.members) {
            insert.bind_all(m.user_id, dump(ipc::member_json(m)));
            insert.run();
            insert.reset();
        }
        write_account(state.account_id, state.revision, state.enforce_2fa, state.ssh_ip_allowlist, state.account_name,
                      facts);
    });
}

void SyncedStore::apply(const ipc::FeedChanges& c, const SyncFacts& facts) {
    in_transaction(db_, [&] {
        auto account =
            db_.prepare("SELECT account_id, enforce_2fa, ssh_ip_allowlist, account_name FROM synced_account WHERE id = 1");
        if (!account.step()) throw std::runtime_error("no synced state to apply changes to");
        const std::string account_id = account.column_text(0);
        bool enforce = account.column_bool(1);
        std::optional<std::vector<std::string>> allowlist;
        if (const auto list = account.column_optional_text(2)) allowlist = json::parse(*list).get<std::vector<std::string>>();
        std::optional<std::string> account_name = account.column_optional_text(3);
        if (c.enforce_2fa) {
            enforce = *c.enforce_2fa;
            allowlist = c.ip_allowlist;
            if (c.account_name) account_name = c.account_name;
        }
        auto upsert = db_.prepare(
            "INSERT INTO synced_members (user_id, member) VALUES (?, ?) "
            "ON CONFLICT (user_id) DO UPDATE SET member = excluded.member");
        for (const auto& m : c.upserts) {
            upsert.bind_all(m.user_id, dump(ipc::member_json(m)));
            upsert.run();
            upsert.reset();
        }
        auto remove = db_.prepare("DELETE FROM synced_members WHERE user_id = ?");
        for (const auto& id : c.removed_user_ids) {
            remove.bind_all(id);
            remove.run();
            remove.reset();
        }
        write_account(account_id, c.revision, enforce, allowlist, account_name, facts);
    });
}

void SyncedStore::save_facts(const SyncFacts& facts) {
    auto st = db_.prepare("UPDATE synced_account SET portal_url = ?, synced_at = ?, host_token_refused = ? WHERE id = 1");
    st.bind_all(facts.portal_url, facts.synced_at, facts.host_token_refused);
    st.run();
}

std::size_t SyncedStore::enqueue_events(const std::vector<LoginEvent>& events, std::size_t max_queued) {
    std::size_t dropped = 0;
    in_transaction(db_, [&] {
        auto queued = static_cast<std::size_t>(db_.query_int("SELECT count(*) FROM login_events"));
        auto insert = db_.prepare("INSERT INTO login_events (event) VALUES (?)");
        for (const auto& e : events) {
            if (queued >= max_queued) {
                ++dropped;
                continue;
            }
            json j{{"id", e.id}, {"at", e.at}, {"unix_name", e.unix_name}, {"ip", e.ip},
                   {"method", e.method}, {"decision", e.decision}, {"reason", e.reason}};
            if (e.user_id) j["user_id"] = *e.user_id;
            insert.bind_all(dump(j));
            insert.run();
            insert.reset();
            ++queued;
        }
        if (dropped) {
            auto count = db_.prepare("UPDATE sync_counters SET value = value + ? WHERE name = 'login_events_dropped'");
            count.bind_all(static_cast<std::int64_t>(dropped));
            count.run();
        }
    });
    return dropped;
}

SyncedStore::QueuedEvents SyncedStore::peek_events(std::size_t max) {
    QueuedEvents out;
    auto rows = db_.prepare("SELECT seq, event FROM login_events ORDER BY seq LIMIT ?");
    rows.bind_all(static_cast<std::int64_t>(max));
    out.json = "[";
    while (rows.step()) {
        if (out.count++) out.json += ',';
        out.last_seq = rows.column_int(0);
        out.json += rows.column_text(1);
    }
    out.json += ']';
    return out;
}

void SyncedStore::drop_events_through(std::int64_t seq) {
    auto st = db_.prepare("DELETE FROM login_events WHERE seq <= ?");
    st.bind_all(seq);
    st.run();
}

SyncedStore::EventCounts SyncedStore::event_counts() {
    return {db_.query_int("SELECT count(*) FROM login_events"),
            db_.query_int("SELECT value FROM sync_counters WHERE name = 'login_events_dropped'")};
}

void SyncedStore::clear() {
    // Events of another portal are not the next one's to keep.
    in_transaction(db_, [&] { db_.exec("DELETE FROM synced_members; DELETE FROM synced_account; DELETE FROM login_events;"); });
}

}  // namespace portal::sync
