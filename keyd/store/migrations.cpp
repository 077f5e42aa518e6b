#include "keyd/store/migrations.h"

#include <string>

#include "keyd/store/timestamp.h"

namespace portal::store {

namespace {

// Version 1: the IAM core. Unique constraints are written so SQLite's message names
// the columns ("UNIQUE constraint failed: ssh_keys.account_id, ssh_keys.name"); the
// store maps those to API fields. ssh_keys reference their membership, so removing a
// user from an account (or deleting the user) drops that user's keys in that account.
constexpr std::string_view kV1 = R"sql(
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
) WITHOUT ROWID;
INSERT INTO meta (key, value) VALUES ('revision', '0'), ('uid_high_water', '0');

CREATE TABLE accounts (
    id          TEXT PRIMARY KEY,
    name        TEXT NOT NULL,
    enforce_2fa INTEGER NOT NULL DEFAULT 0,
    created_at  TEXT NOT NULL,
    updated_at  TEXT NOT NULL
);

CREATE TABLE users (
    id                TEXT PRIMARY KEY,
    email             TEXT NOT NULL,
    name              TEXT NOT NULL,
    unix_name         TEXT NOT NULL UNIQUE,
    uid               INTEGER NOT NULL,
    tfa_enabled       INTEGER NOT NULL DEFAULT 0,
    last_login_at     TEXT,
    last_login_ip     TEXT,
    last_login_host   TEXT,
    last_login_method TEXT,
    last_login_status TEXT,
    created_at        TEXT NOT NULL,
    updated_at        TEXT NOT NULL
);
CREATE UNIQUE INDEX users_email ON users (email COLLATE NOCASE);
CREATE UNIQUE INDEX users_uid ON users (uid);

CREATE TABLE memberships (
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT NOT NULL CHECK (role IN ('owner', 'manager', 'support')),
    status     TEXT NOT NULL CHECK (status IN ('invited', 'active', 'deactivated')),
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (account_id, user_id)
) WITHOUT ROWID;
CREATE INDEX memberships_account ON memberships (account_id, created_at, user_id);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE ssh_keys (
    account_id         TEXT NOT NULL,
    user_id            TEXT NOT NULL,
    name               TEXT NOT NULL,
    fingerprint        TEXT NOT NULL,
    fingerprint_sha256 TEXT NOT NULL,
    public_key         TEXT NOT NULL,
    type               TEXT NOT NULL,
    bits               INTEGER NOT NULL,
    labels             TEXT NOT NULL DEFAULT '{}',
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (account_id, name),
    UNIQUE (account_id, fingerprint),
    FOREIGN KEY (account_id, user_id) REFERENCES memberships (account_id, user_id) ON DELETE CASCADE
);
CREATE INDEX ssh_keys_account_user ON ssh_keys (account_id, user_id);
CREATE INDEX ssh_keys_account_order ON ssh_keys (account_id, created_at, fingerprint);

CREATE TABLE tfa (
    user_id            TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    enabled            INTEGER NOT NULL DEFAULT 0,
    secret_ciphertext  BLOB NOT NULL,
    pending_ciphertext BLOB NOT NULL,
    pending_expires_at TEXT NOT NULL,
    last_accepted_step INTEGER NOT NULL DEFAULT -1
) WITHOUT ROWID;

CREATE TABLE tfa_recovery_codes (
    id        INTEGER PRIMARY KEY,  -- keeps the order the codes were issued in
    user_id   TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    UNIQUE (user_id, code_hash)
);
)sql";

// Version 2: failed second-factor attempts and locks, so that a restart does not lift a
// lock (issue 8). Times are unix milliseconds; a row exists only while there is something
// to remember.
constexpr std::string_view kV2 = R"sql(
CREATE TABLE tfa_failures (
    user_id      TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    failures     TEXT NOT NULL,  -- space-separated times within the window, oldest first
    locked_until INTEGER         -- NULL when not locked
) WITHOUT ROWID;
)sql";

// Version 3: the change log (change_log.h). A store migrated from version 2 has no history:
// its log starts compacted through the current revision.
constexpr std::string_view kV3 = R"sql(
CREATE TABLE changes (
    revision   INTEGER NOT NULL,
    seq        INTEGER NOT NULL,  -- order within the revision
    kind       TEXT NOT NULL CHECK (kind IN ('account', 'user', 'membership', 'ssh_key', 'tfa')),
    op         TEXT NOT NULL CHECK (op IN ('upsert', 'delete')),
    account_id TEXT NOT NULL,     -- '' for user-global entities
    user_id    TEXT NOT NULL,     -- '' for an account
    entity_id  TEXT NOT NULL,
    changed_at INTEGER NOT NULL,  -- unix seconds
    PRIMARY KEY (revision, seq)
) WITHOUT ROWID;
CREATE INDEX changes_time ON changes (changed_at);
INSERT INTO meta (key, value) SELECT 'changes_compacted_through', value FROM meta WHERE key = 'revision';
)sql";

// Version 4: API tokens (api_tokens_table.h). Only the SHA-256 of a secret is kept; a user's
// tokens go with the user.
constexpr std::string_view kV4 = R"sql(
CREATE TABLE api_tokens (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    access_level TEXT NOT NULL CHECK (access_level IN ('read_only', 'full')),
    secret_hash  BLOB NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    created_at   TEXT NOT NULL,
    expires_at   TEXT,
    last_used_at TEXT,
    UNIQUE (user_id, name)
);
)sql";

// Version 5: hosts (hosts_table.h): enrolment tokens (one use) and enrolled hosts, each
// secret kept as its SHA-256 only. They go with their account.
constexpr std::string_view kV5 = R"sql(
CREATE TABLE host_enrolments (
    id          TEXT PRIMARY KEY,
    account_id  TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    secret_hash BLOB NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    name        TEXT,
    labels      TEXT NOT NULL DEFAULT '{}',
    created_at  TEXT NOT NULL,
    expires_at  TEXT NOT NULL
);
CREATE TABLE hosts (
    id           TEXT PRIMARY KEY,
    account_id   TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    hostname     TEXT NOT NULL,
    labels       TEXT NOT NULL DEFAULT '{}',
    version      TEXT NOT NULL,
    secret_hash  BLOB NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    created_at   TEXT NOT NULL,
    last_seen_at TEXT,
    revision     INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX hosts_account ON hosts (account_id, created_at, id);
)sql";

// Version 6: login events reported by hosts (hosts_table.h). The host's own event id makes
// a report idempotent; the history is pruned by age with the change log's retention.
constexpr std::string_view kV6 = R"sql(
CREATE TABLE login_events (
    host_id    TEXT NOT NULL,
    id         TEXT NOT NULL,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    at         TEXT NOT NULL,
    unix_name  TEXT NOT NULL,
    user_id    TEXT,
    ip         TEXT NOT NULL,
    method     TEXT NOT NULL,
    decision   TEXT NOT NULL CHECK (decision IN ('allow', 'deny')),
    reason     TEXT NOT NULL,
    PRIMARY KEY (host_id, id)
) WITHOUT ROWID;
CREATE INDEX login_events_account ON login_events (account_id, at DESC);
)sql";

// Version 7: portal sign-in (sessions_table.h): session tokens kept as their SHA-256 only,
// and password hashes (Argon2id PHC strings). Both go with their user.
constexpr std::string_view kV7 = R"sql(
CREATE TABLE portal_sessions (
    id           TEXT PRIMARY KEY,
    user_id      TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    secret_hash  BLOB NOT NULL UNIQUE CHECK (length(secret_hash) = 32),
    ip           TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    expires_at   TEXT NOT NULL,
    last_used_at TEXT
);
CREATE INDEX portal_sessions_user ON portal_sessions (user_id);
CREATE INDEX portal_sessions_expiry ON portal_sessions (expires_at);
CREATE TABLE passwords (
    user_id    TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    hash       TEXT NOT NULL CHECK (hash LIKE '$argon2id$%'),
    updated_at TEXT NOT NULL
);
)sql";

// Version 8: the IP allowlist (ip_allowlist_table.h): an account's switch and its networks.
constexpr std::string_view kV8 = R"sql(
CREATE TABLE ip_allowlists (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    active     INTEGER NOT NULL CHECK (active IN (0, 1)),
    updated_at TEXT NOT NULL
);
CREATE TABLE ip_allowlist_entries (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    cidr       TEXT NOT NULL,
    comment    TEXT NOT NULL DEFAULT '',
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    UNIQUE (account_id, cidr)
);
)sql";

// Version 9: an account's contacts and support tickets (contacts_table.h, tickets_table.h).
// Messages keep their order by seq (one clock second may hold several).
constexpr std::string_view kV9 = R"sql(
CREATE TABLE contacts (
    id                 TEXT PRIMARY KEY,
    account_id         TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    name               TEXT NOT NULL,
    email              TEXT NOT NULL COLLATE NOCASE,
    phone              TEXT NOT NULL DEFAULT '',
    notification_roles TEXT NOT NULL DEFAULT '',
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (account_id, email)
);
CREATE INDEX contacts_account_name ON contacts (account_id, name, id);
CREATE TABLE tickets (
    id         TEXT PRIMARY KEY,
    account_id TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    subject    TEXT NOT NULL,
    status     TEXT NOT NULL CHECK (status IN ('open', 'closed')),
    created_by TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    closed_at  TEXT
);
CREATE INDEX tickets_account_created ON tickets (account_id, created_at, id);
CREATE TABLE ticket_messages (
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    id          TEXT NOT NULL UNIQUE,
    ticket_id   TEXT NOT NULL REFERENCES tickets (id) ON DELETE CASCADE,
    author_id   TEXT,
    author_name TEXT NOT NULL,
    body        TEXT NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket_id, seq);
)sql";

// Version 10: support access (support_table.h): who the provider's support staff are, and each
// account's grant. Timestamps are RFC 3339 UTC text, which sorts as time: the expiry query
// compares them as text.
constexpr std::string_view kV10 = R"sql(
CREATE TABLE support_staff (
    user_id   TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    marked_at TEXT NOT NULL
);
CREATE TABLE support_access (
    account_id TEXT PRIMARY KEY REFERENCES accounts (id) ON DELETE CASCADE,
    enabled    INTEGER NOT NULL CHECK (enabled IN (0, 1)),
    granted_by TEXT,
    granted_at TEXT,
    expires_at TEXT,
    updated_at TEXT NOT NULL,
    CHECK (enabled = 0 OR expires_at IS NOT NULL)
);
CREATE INDEX support_access_expiry ON support_access (enabled, expires_at);
)sql";

// Version 11: security notifications (notifications_table.h), queued with the change that
// caused them and delivered by the mailer (keyd/notify/).
constexpr std::string_view kV11 = R"sql(
CREATE TABLE notifications (
    id              TEXT PRIMARY KEY,
    account_id      TEXT NOT NULL REFERENCES accounts (id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    subject         TEXT NOT NULL,
    body            TEXT NOT NULL,
    recipients      TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('queued', 'sent', 'failed', 'kept')),
    attempts        INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT,
    created_at      TEXT NOT NULL,
    sent_at         TEXT,
    next_attempt_at TEXT NOT NULL
);
CREATE INDEX notifications_account_created ON notifications (account_id, created_at, id);
CREATE INDEX notifications_due ON notifications (status, next_attempt_at);
)sql";

// The account's active owners counted through an index (every membership write checks that
// one remains) instead of reading all 10,000 memberships. The login view's full build reads an
// account's keys in (created_at, rowid) order, which an index on (account_id, created_at)
// holds as it is (each entry ends with its rowid), rows visited in the order they were
// written; through ssh_keys_account_order SQLite sorted the rowid part and sought every row
// (a warm start at 10,000 x 3: 90 -> 30 ms for that query).
constexpr std::string_view kIndexes = R"sql(
CREATE INDEX IF NOT EXISTS memberships_account_role ON memberships (account_id, role, status);
CREATE INDEX IF NOT EXISTS ssh_keys_account_created ON ssh_keys (account_id, created_at);
)sql";

const std::vector<Migration> kMigrations = {
    {1, "iam core: accounts, users, memberships, ssh_keys, tfa", kV1},
    {2, "tfa failures and locks survive a restart", kV2},
    {3, "change log", kV3},
    {4, "api tokens", kV4},
    {5, "hosts and enrolments", kV5},
    {6, "login events from hosts", kV6},
    {7, "portal sessions and passwords", kV7},
    {8, "ip allowlist", kV8},
    {9, "contacts and support tickets", kV9},
    {10, "support access and support staff", kV10},
    {11, "security notifications", kV11},
};

constexpr std::string_view kBookkeeping = R"sql(
CREATE TABLE IF NOT EXISTS schema_migrations (
    version    INTEGER PRIMARY KEY,
    name       TEXT NOT NULL,
    applied_at TEXT NOT NULL
);
)sql";

}  // namespace

const std::vector<Migration>& migrations() { return kMigrations; }

int latest_schema_version() { return kMigrations.empty() ? 0 : kMigrations.back().version; }

int migrate(sqlite::Db& db) {
    const int latest = latest_schema_version();
    auto too_new = [latest](int v) {
        return StoreError("database schema version " + std::to_string(v) +
                          " is newer than this build supports (" + std::to_string(latest) + ")");
    };
    int current = static_cast<int>(db.query_int("PRAGMA user_version"));
    if (current > latest) throw too_new(current);
    for (const Migration& m : kMigrations) {
        if (m.version <= current) continue;
        db.exec("BEGIN IMMEDIATE");
        try {
            // Re-read under the write lock: another process may have migrated meanwhile.
            current = static_cast<int>(db.query_int("PRAGMA user_version"));
            if (current > latest) throw too_new(current);
            if (m.version <= current) {
                db.exec("ROLLBACK");
                continue;
            }
            if (m.version != current + 1) throw StoreError("schema migrations out of order");
            db.exec(kBookkeeping);
            db.exec(m.sql);
            auto ins = db.prepare("INSERT INTO schema_migrations (version, name, applied_at) VALUES (?, ?, ?)");
            ins.bind_all(m.version, m.name, now_rfc3339()).run();
            // user_version lives in the database header: it commits with the step.
            db.exec("PRAGMA user_version = " + std::to_string(m.version));
            db.exec("COMMIT");
            current = m.version;
        } catch (...) {
            if (db.in_transaction()) {
                try {
                    db.exec("ROLLBACK");
                } catch (...) {  // the original error matters more
                }
            }
            throw;
        }
    }
    // Indexes that change no data: made at every open, not by a migration, so that a store
    // stays readable by the previous release (a downgrade) at the same schema version.
    db.exec(kIndexes);
    return current;
}

}  // namespace portal::store
