#include "keyd/store/store.h"

#include <fcntl.h>
#include <pwd.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <functional>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string_view>
#include <unordered_map>
#include <utility>

#include "keyd/store/migrations.h"
#include "keyd/store/sqlite.h"
#include "keyd/store/timestamp.h"
#include "shared/ipc/unique_fd.h"
#include "shared/random.h"
#include "shared/unix_name.h"

namespace portal::store {

namespace fs = std::filesystem;
using sqlite::Statement;

namespace {

// ---- files and permissions --------------------------------------------------------

class UmaskGuard {
public:
    explicit UmaskGuard(mode_t mask) : old_(::umask(mask)) {}
    ~UmaskGuard() { ::umask(old_); }
    UmaskGuard(const UmaskGuard&) = delete;
    UmaskGuard& operator=(const UmaskGuard&) = delete;

private:
    mode_t old_;
};

using Fd = ipc::UniqueFd;

[[noreturn]] void fail_errno(const std::string& what, const fs::path& p) {
    throw StoreError(what + " " + p.string() + ": " + std::strerror(errno));
}

// Creates the parent directory (0700) and the database file (0600) when missing, and
// refuses a directory anyone may write to: another user could swap the database or
// its -wal file. An existing database (and its -wal/-shm) is tightened to 0600.
void prepare_files(const fs::path& db_path) {
    UmaskGuard mask(077);
    fs::path dir = db_path.parent_path();
    if (dir.empty()) dir = ".";
    std::error_code ec;
    if (!fs::exists(dir, ec)) {
        fs::create_directories(dir, ec);  // 0777 & ~077 = 0700
        if (ec) throw StoreError("cannot create " + dir.string() + ": " + ec.message());
    }
    struct stat st {};
    if (::stat(dir.c_str(), &st) != 0) fail_errno("cannot stat", dir);
    if (!S_ISDIR(st.st_mode)) throw StoreError(dir.string() + " is not a directory");
    if ((st.st_mode & S_IWOTH) != 0) {
        throw StoreError("refusing to open the store: " + dir.string() + " is world-writable");
    }

    Fd fd(::open(db_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
    if (fd.get() < 0) fail_errno("cannot open", db_path);
    if (::fstat(fd.get(), &st) != 0) fail_errno("cannot stat", db_path);
    if (!S_ISREG(st.st_mode)) throw StoreError(db_path.string() + " is not a regular file");
    if ((st.st_mode & 077) != 0 && ::fchmod(fd.get(), 0600) != 0) fail_errno("cannot chmod", db_path);

    for (const char* suffix : {"-wal", "-shm"}) {
        fs::path side = db_path;
        side += suffix;
        if (::lstat(side.c_str(), &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 077) != 0) {
            if (::chmod(side.c_str(), 0600) != 0) fail_errno("cannot chmod", side);
        }
    }
}

// ---- constraint names -> API fields ------------------------------------------------

// SQLite names the columns of the violated UNIQUE constraint or index in its message,
// "UNIQUE constraint failed: ssh_keys.account_id, ssh_keys.name"; each set of columns
// belongs to exactly one constraint of the schema (migrations.cpp).
Conflict conflict_from(const sqlite::Error& e) {
    static const std::pair<std::string_view, std::string_view> kFields[] = {
        {"users.email", "email"},
        {"users.unix_name", "unix_name"},
        {"users.uid", "uid"},
        {"users.id", "id"},
        {"accounts.id", "id"},
        {"ssh_keys.account_id, ssh_keys.name", "name"},
        {"ssh_keys.account_id, ssh_keys.fingerprint", "public_key"},
        {"memberships.account_id, memberships.user_id", "user_id"},
        {"tfa_recovery_codes.user_id, tfa_recovery_codes.code_hash", "recovery_codes"},
        {"tfa.user_id", "user_id"},
    };
    std::string_view msg = e.what();
    constexpr std::string_view kPrefix = "constraint failed: ";
    std::string_view cols;
    if (auto pos = msg.find(kPrefix); pos != std::string_view::npos) cols = msg.substr(pos + kPrefix.size());
    for (const auto& [c, field] : kFields) {
        if (cols == c) return Conflict(std::string(field), std::string(field) + " must be unique");
    }
    // Not in the table (a newer constraint): name the last column.
    std::string field(cols.substr(cols.rfind('.') == std::string_view::npos ? 0 : cols.rfind('.') + 1));
    if (field.empty()) field = "id";
    return Conflict(field, field + " must be unique");
}

// ---- row mapping ----------------------------------------------------------------------

#define PORTAL_ACCOUNT_COLS "a.id, a.name, a.enforce_2fa, a.created_at, a.updated_at"
constexpr int kAccountCols = 5;
#define PORTAL_USER_COLS                                                                              \
    "u.id, u.email, u.name, u.unix_name, u.uid, u.tfa_enabled, u.last_login_at, u.last_login_ip, " \
    "u.last_login_host, u.last_login_method, u.last_login_status, u.created_at, u.updated_at"
constexpr int kUserCols = 13;
#define PORTAL_MEMBER_COLS "m.account_id, m.user_id, m.role, m.status, m.created_at, m.updated_at"
#define PORTAL_KEY_COLS                                                                                   \
    "k.account_id, k.user_id, k.name, k.fingerprint, k.fingerprint_sha256, k.public_key, k.type, k.bits, " \
    "k.labels, k.created_at, k.updated_at"

Account read_account(const Statement& s, int c = 0) {
    Account a;
    a.id = s.column_text(c + 0);
    a.name = s.column_text(c + 1);
    a.enforce_2fa = s.column_bool(c + 2);
    a.created_at = s.column_text(c + 3);
    a.updated_at = s.column_text(c + 4);
    return a;
}

Role read_role(const Statement& s, int c) {
    auto r = parse_role(s.column_text(c));
    if (!r) throw StoreError("corrupt store: unknown role");
    return *r;
}

User read_user(const Statement& s, int c = 0) {
    User u;
    u.id = s.column_text(c + 0);
    u.email = s.column_text(c + 1);
    u.name = s.column_text(c + 2);
    u.unix_name = s.column_text(c + 3);
    u.uid = static_cast<std::uint32_t>(s.column_int(c + 4));
    u.tfa_enabled = s.column_bool(c + 5);
    if (!s.is_null(c + 6)) {
        u.last_login = LastLogin{s.column_text(c + 6), s.column_text(c + 7), s.column_text(c + 8),
                                 s.column_text(c + 9), s.column_text(c + 10)};
    }
    u.created_at = s.column_text(c + 11);
    u.updated_at = s.column_text(c + 12);
    return u;
}

Membership read_membership(const Statement& s, int c = 0) {
    Membership m;
    m.account_id = s.column_text(c + 0);
    m.user_id = s.column_text(c + 1);
    m.role = read_role(s, c + 2);
    auto st = parse_member_status(s.column_text(c + 3));
    if (!st) throw StoreError("corrupt store: unknown membership status");
    m.status = *st;
    m.created_at = s.column_text(c + 4);
    m.updated_at = s.column_text(c + 5);
    return m;
}

AccountUser read_account_user(const Statement& s) {
    return AccountUser{read_user(s, 0), read_membership(s, kUserCols)};
}

std::string labels_to_json(const std::map<std::string, std::string>& labels) {
    try {
        return nlohmann::json(labels).dump();
    } catch (const nlohmann::json::exception& e) {
        throw StoreError(std::string("labels cannot be stored: ") + e.what());
    }
}

std::map<std::string, std::string> labels_from_json(const std::string& text) {
    try {
        return nlohmann::json::parse(text).get<std::map<std::string, std::string>>();
    } catch (const nlohmann::json::exception& e) {
        throw StoreError(std::string("corrupt store: ssh key labels: ") + e.what());
    }
}

SshKey read_key(const Statement& s) {
    SshKey k;
    k.account_id = s.column_text(0);
    k.user_id = s.column_text(1);
    k.name = s.column_text(2);
    k.fingerprint = s.column_text(3);
    k.fingerprint_sha256 = s.column_text(4);
    k.public_key = s.column_text(5);
    k.type = s.column_text(6);
    k.bits = static_cast<int>(s.column_int(7));
    k.labels = labels_from_json(s.column_text(8));
    k.created_at = s.column_text(9);
    k.updated_at = s.column_text(10);
    return k;
}

// SQLite: a negative LIMIT means no limit.
std::int64_t sql_limit(const Page& p) { return p.limit < 0 ? -1 : p.limit; }
std::int64_t sql_offset(const Page& p) { return std::max<std::int64_t>(p.offset, 0); }

// Prepared statements, kept for the life of the connection and keyed by SQL text.
struct SqlHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view sql) const noexcept { return std::hash<std::string_view>{}(sql); }
};

class StatementCache {
public:
    explicit StatementCache(sqlite::Db& db) : db_(&db) {}

private:
    friend class Query;
    struct Cached {
        Statement stmt;
        bool busy = false;
    };
    sqlite::Db* db_;
    std::unordered_map<std::string, Cached, SqlHash, std::equal_to<>> cache_;
};

// A cached statement borrowed for one use; reset when the borrow ends. If the same SQL
// is already in use further up the stack, a private copy is prepared instead.
class Query {
public:
    Query(StatementCache& c, std::string_view sql) {
        auto it = c.cache_.find(sql);
        if (it == c.cache_.end()) {
            it = c.cache_.emplace(std::string(sql), StatementCache::Cached{c.db_->prepare(sql, true)}).first;
        }
        if (!it->second.busy) {
            slot_ = &it->second;
            slot_->busy = true;
            s_ = &slot_->stmt;
        } else {
            own_ = c.db_->prepare(sql);
            s_ = &own_;
        }
    }
    ~Query() {
        s_->reset();
        if (slot_ != nullptr) slot_->busy = false;
    }
    Query(const Query&) = delete;
    Query& operator=(const Query&) = delete;
    Statement* operator->() { return s_; }
    Statement& operator*() { return *s_; }

private:
    StatementCache::Cached* slot_ = nullptr;
    Statement own_;
    Statement* s_ = nullptr;
};

}  // namespace

// ---- Impl -------------------------------------------------------------------------------

struct Store::Impl {
    // Declared first so it is destroyed last, after every cached statement.
    sqlite::Db db;
    StatementCache stmts{db};
    UidRange uids;
    LocalAccounts local;
    std::recursive_mutex mu;  // one connection: calls (and whole transactions) are serialized
    int depth = 0;            // transaction nesting
    std::int64_t changes_at_begin = 0;

    // Serializes, and turns unique violations into Conflict wherever they surface.
    template <class F>
    auto locked(F&& f) -> decltype(f()) {
        std::lock_guard lock(mu);
        try {
            return f();
        } catch (const sqlite::Error& e) {
            if (e.is_unique_violation()) throw conflict_from(e);
            throw;
        }
    }

    void transact(const std::function<void()>& f) {
        if (depth == 0) {
            db.exec("BEGIN IMMEDIATE");
            changes_at_begin = db.total_changes();
            depth = 1;
            try {
                f();
                if (db.total_changes() != changes_at_begin) bump_revision();
                db.exec("COMMIT");
            } catch (...) {
                depth = 0;
                rollback_quietly("ROLLBACK");
                throw;
            }
            depth = 0;
            return;
        }
        // Nested: joins the outer transaction, but a savepoint lets a failed inner
        // operation undo just itself if the caller catches and carries on.
        const std::string sp = "nested_" + std::to_string(depth);
        db.exec("SAVEPOINT " + sp);
        ++depth;
        try {
            f();
        } catch (...) {
            --depth;
            rollback_quietly("ROLLBACK TO " + sp);
            rollback_quietly("RELEASE " + sp);
            throw;
        }
        --depth;
        db.exec("RELEASE " + sp);
    }

    void rollback_quietly(const std::string& sql) noexcept {
        if (!db.in_transaction()) return;  // SQLite may already have rolled back (I/O error)
        try {
            db.exec(sql);
        } catch (...) {  // the original error is the one worth reporting
        }
    }

    void write(const std::function<void()>& f) {
        locked([&] { transact(f); });
    }

    void bump_revision() {
        Query q(stmts, "UPDATE meta SET value = CAST(value AS INTEGER) + 1 WHERE key = 'revision'");
        q->run();
    }

    std::int64_t meta_int(std::string_view key) {
        Query q(stmts, "SELECT CAST(value AS INTEGER) FROM meta WHERE key = ?");
        q->bind(1, key);
        if (!q->step()) throw StoreError("corrupt store: meta row missing");
        return q->column_int(0);
    }

    // Never hands out a uid that was used before (the high-water mark survives
    // delete_user): files a removed user left on servers must not pass to a newcomer.
    std::uint32_t allocate_uid() {
        const auto first = static_cast<std::int64_t>(uids.first);
        const auto last = static_cast<std::int64_t>(uids.last);
        std::int64_t candidate = first;
        {
            Query q(stmts, "SELECT MAX(uid) FROM users WHERE uid BETWEEN ? AND ?");
            q->bind_all(first, last);
            if (q->step() && !q->is_null(0)) candidate = std::max(candidate, q->column_int(0) + 1);
        }
        std::int64_t high = meta_int("uid_high_water");
        if (high >= first && high <= last) candidate = std::max(candidate, high + 1);
        if (local.uid_taken)
            while (candidate <= last && local.uid_taken(static_cast<std::uint32_t>(candidate))) ++candidate;
        if (candidate > last) throw StoreError("uid range exhausted");
        Query q(stmts, "UPDATE meta SET value = ? WHERE key = 'uid_high_water'");
        q->bind(1, candidate).run();
        return static_cast<std::uint32_t>(candidate);
    }

    std::optional<User> user_where(std::string_view sql, auto&&... args) {
        Query q(stmts, sql);
        q->bind_all(args...);
        if (!q->step()) return std::nullopt;
        return read_user(*q);
    }

    std::vector<AccountUser> account_users_page(const std::string& account_id, std::int64_t limit,
                                                std::int64_t offset) {
        Query q(stmts, "SELECT " PORTAL_USER_COLS ", " PORTAL_MEMBER_COLS
                       " FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.account_id = ?"
                       " ORDER BY m.created_at, m.user_id LIMIT ? OFFSET ?");
        q->bind_all(account_id, limit, offset);
        std::vector<AccountUser> out;
        while (q->step()) out.push_back(read_account_user(*q));
        return out;
    }

    std::vector<SshKey> keys_page(const std::string& account_id, const std::optional<std::string>& user_id,
                                  std::int64_t limit, std::int64_t offset) {
        std::vector<SshKey> out;
        auto collect = [&](Query& q) {
            while (q->step()) out.push_back(read_key(*q));
        };
        if (user_id) {
            Query q(stmts, "SELECT " PORTAL_KEY_COLS " FROM ssh_keys k WHERE k.account_id = ? AND k.user_id = ?"
                           " ORDER BY k.created_at, k.fingerprint LIMIT ? OFFSET ?");
            q->bind_all(account_id, *user_id, limit, offset);
            collect(q);
        } else {
            Query q(stmts, "SELECT " PORTAL_KEY_COLS " FROM ssh_keys k WHERE k.account_id = ?"
                           " ORDER BY k.created_at, k.fingerprint LIMIT ? OFFSET ?");
            q->bind_all(account_id, limit, offset);
            collect(q);
        }
        return out;
    }
};

// ---- lifecycle ---------------------------------------------------------------------------

Store::Store(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Store::~Store() = default;

LocalAccounts LocalAccounts::from_passwd() {
    LocalAccounts l;
    l.uid_taken = [](std::uint32_t uid) { return ::getpwuid(static_cast<uid_t>(uid)) != nullptr; };
    l.name_taken = [](const std::string& name) { return ::getpwnam(name.c_str()) != nullptr; };
    return l;
}

std::unique_ptr<Store> Store::open(const fs::path& db_path, UidRange uids, LocalAccounts local) {
    if (uids.first > uids.last) throw StoreError("invalid uid range");
    prepare_files(db_path);
    auto impl = std::make_unique<Impl>();
    impl->uids = uids;
    impl->local = std::move(local);
    {
        UmaskGuard mask(077);  // -wal and -shm are created on first use, 0600 too
        impl->db = sqlite::Db::open(db_path);
        impl->db.busy_timeout(5000);
        // WAL + FULL: a commit is durable once COMMIT returns, even if we are SIGKILLed
        // (or the machine loses power) right after.
        std::string mode = impl->db.query_text("PRAGMA journal_mode = WAL");
        if (mode != "wal") throw StoreError("cannot enable WAL journal mode (got " + mode + ")");
        // cache_size: SQLite's default 2 MiB. The OS page cache holds the file anyway; a larger
        // private cache only adds to the daemon's RSS (bench/README.md, DaemonMemory).
        impl->db.exec("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA trusted_schema = OFF; PRAGMA cache_size = -2048; PRAGMA temp_store = MEMORY;");
        if (impl->db.query_int("PRAGMA foreign_keys") != 1) throw StoreError("SQLite lacks foreign key support");
        migrate(impl->db);
    }
    // The constructor is private; make_unique cannot reach it.
    return std::unique_ptr<Store>(new Store(std::move(impl)));
}

void Store::transaction(const std::function<void()>& f) { impl_->write(f); }

int Store::schema_version() {
    return impl_->locked([&] { return static_cast<int>(impl_->db.query_int("PRAGMA user_version")); });
}

std::uint64_t Store::revision() {
    return impl_->locked([&] { return static_cast<std::uint64_t>(impl_->meta_int("revision")); });
}

// ---- accounts -------------------------------------------------------------------------

std::optional<Account> Store::account(const std::string& id) {
    return impl_->locked([&]() -> std::optional<Account> {
        Query q(impl_->stmts, "SELECT " PORTAL_ACCOUNT_COLS " FROM accounts a WHERE a.id = ?");
        q->bind(1, id);
        if (!q->step()) return std::nullopt;
        return read_account(*q);
    });
}

std::vector<Account> Store::all_accounts() {
    return impl_->locked([&] {
        Query q(impl_->stmts, "SELECT " PORTAL_ACCOUNT_COLS " FROM accounts a ORDER BY a.created_at, a.rowid");
        std::vector<Account> out;
        while (q->step()) out.push_back(read_account(*q));
        return out;
    });
}

std::vector<AccountWithRole> Store::accounts_of_user(const std::string& user_id) {
    return impl_->locked([&] {
        Query q(impl_->stmts, "SELECT " PORTAL_ACCOUNT_COLS ", m.role, m.status FROM memberships m"
                        " JOIN accounts a ON a.id = m.account_id WHERE m.user_id = ?"
                        " ORDER BY m.created_at, a.rowid");
        q->bind(1, user_id);
        std::vector<AccountWithRole> out;
        while (q->step()) {
            auto st = parse_member_status(q->column_text(kAccountCols + 1));
            if (!st) throw StoreError("corrupt store: unknown membership status");
            out.push_back(AccountWithRole{read_account(*q), read_role(*q, kAccountCols), *st});
        }
        return out;
    });
}

Account Store::create_account(const std::string& name) {
    Account a;
    impl_->write([&] {
        a = Account{};
        a.id = random_id("acc_");
        a.name = name;
        a.created_at = a.updated_at = now_rfc3339();
        Query q(impl_->stmts, "INSERT INTO accounts (id, name, enforce_2fa, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?)");
        q->bind_all(a.id, a.name, a.enforce_2fa, a.created_at, a.updated_at).run();
    });
    return a;
}

void Store::update_account(const Account& a) {
    impl_->write([&] {
        Query q(impl_->stmts, "UPDATE accounts SET name = ?, enforce_2fa = ?, updated_at = ? WHERE id = ?");
        if (q->bind_all(a.name, a.enforce_2fa, now_rfc3339(), a.id).run() == 0) {
            throw StoreError("no such account");
        }
    });
}

// ---- users ------------------------------------------------------------------------------

std::optional<User> Store::user(const std::string& id) {
    return impl_->locked([&] { return impl_->user_where("SELECT " PORTAL_USER_COLS " FROM users u WHERE u.id = ?", id); });
}

std::optional<User> Store::user_by_uid(std::uint32_t uid) {
    return impl_->locked([&] { return impl_->user_where("SELECT " PORTAL_USER_COLS " FROM users u WHERE u.uid = ?", uid); });
}

std::optional<User> Store::user_by_email(const std::string& email) {
    return impl_->locked([&] {
        return impl_->user_where("SELECT " PORTAL_USER_COLS " FROM users u WHERE u.email = ? COLLATE NOCASE", email);
    });
}

User Store::create_user(const std::string& email, const std::string& name) {
    User u;
    impl_->write([&] {
        u = User{};
        u.email = email;
        u.name = name;
        u.unix_name = derive_unix_name(email, [&](std::string_view candidate) {
            Query q(impl_->stmts, "SELECT 1 FROM users WHERE unix_name = ?");
            q->bind(1, candidate);
            if (q->step()) return true;
            return impl_->local.name_taken && impl_->local.name_taken(std::string(candidate));
        });
        u.uid = impl_->allocate_uid();
        u.id = random_id("usr_");
        u.created_at = u.updated_at = now_rfc3339();
        Query q(impl_->stmts, "INSERT INTO users (id, email, name, unix_name, uid, tfa_enabled, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, 0, ?, ?)");
        q->bind_all(u.id, u.email, u.name, u.unix_name, u.uid, u.created_at, u.updated_at).run();
    });
    return u;
}

void Store::update_user(const User& u) {
    impl_->write([&] {
        // updated_at tracks profile edits; recording a login does not count as one.
        Query q(impl_->stmts,
                "UPDATE users SET email = ?1, name = ?2, last_login_at = ?3, last_login_ip = ?4,"
                " last_login_host = ?5, last_login_method = ?6, last_login_status = ?7,"
                " updated_at = CASE WHEN email IS NOT ?1 OR name IS NOT ?2 THEN ?8 ELSE updated_at END"
                " WHERE id = ?9");
        q->bind(1, u.email).bind(2, u.name);
        if (u.last_login) {
            const LastLogin& l = *u.last_login;
            q->bind(3, l.at).bind(4, l.ip).bind(5, l.host).bind(6, l.method).bind(7, l.status);
        } else {
            for (int i = 3; i <= 7; ++i) q->bind(i, nullptr);
        }
        q->bind(8, now_rfc3339()).bind(9, u.id);
        if (q->run() == 0) throw StoreError("no such user");
    });
}

void Store::delete_user(const std::string& id) {
    impl_->write([&] {
        // Foreign keys cascade: memberships -> ssh_keys, tfa, recovery codes.
        Query q(impl_->stmts, "DELETE FROM users WHERE id = ?");
        q->bind(1, id).run();
    });
}

// ---- memberships -----------------------------------------------------------------------

std::optional<Membership> Store::membership(const std::string& account_id, const std::string& user_id) {
    return impl_->locked([&]() -> std::optional<Membership> {
        Query q(impl_->stmts, "SELECT " PORTAL_MEMBER_COLS " FROM memberships m WHERE m.account_id = ? AND m.user_id = ?");
        q->bind_all(account_id, user_id);
        if (!q->step()) return std::nullopt;
        return read_membership(*q);
    });
}

std::optional<AccountUser> Store::account_user(const std::string& account_id, const std::string& user_id) {
    return impl_->locked([&]() -> std::optional<AccountUser> {
        Query q(impl_->stmts, "SELECT " PORTAL_USER_COLS ", " PORTAL_MEMBER_COLS
                        " FROM memberships m JOIN users u ON u.id = m.user_id"
                        " WHERE m.account_id = ? AND m.user_id = ?");
        q->bind_all(account_id, user_id);
        if (!q->step()) return std::nullopt;
        return read_account_user(*q);
    });
}

std::vector<AccountUser> Store::account_users(const std::string& account_id, Page page, std::int64_t& total) {
    return impl_->locked([&] {
        {
            Query q(impl_->stmts, "SELECT COUNT(*) FROM memberships WHERE account_id = ?");
            q->bind(1, account_id);
            total = q->step() ? q->column_int(0) : 0;
        }
        return impl_->account_users_page(account_id, sql_limit(page), sql_offset(page));
    });
}

namespace {
// A LIKE pattern matching `text` anywhere, with LIKE's own wildcards in it taken literally.
std::string like_substring(std::string_view text) {
    std::string p = "%";
    for (char c : text) {
        if (c == '%' || c == '_' || c == '\\') p += '\\';
        p += c;
    }
    return p + "%";
}
}  // namespace

std::vector<AccountUser> Store::account_users(const std::string& account_id, const MemberFilter& filter, Page page,
                                              std::int64_t& total) {
    if (!filter.role && !filter.status && !filter.search) return account_users(account_id, page, total);
    std::optional<std::string> role, status, pattern;
    if (filter.role) role = std::string(to_string(*filter.role));
    if (filter.status) status = std::string(to_string(*filter.status));
    if (filter.search) pattern = like_substring(*filter.search);
#define PORTAL_MEMBER_FILTER                                                                              \
    " FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.account_id = ?1"                         \
    " AND (?2 IS NULL OR m.role = ?2) AND (?3 IS NULL OR m.status = ?3)"                                   \
    " AND (?4 IS NULL OR u.email LIKE ?4 ESCAPE '\\' OR u.name LIKE ?4 ESCAPE '\\' OR u.unix_name LIKE ?4 ESCAPE '\\')"
    return impl_->locked([&] {
        {
            Query q(impl_->stmts, "SELECT COUNT(*)" PORTAL_MEMBER_FILTER);
            q->bind_all(account_id, role, status, pattern);
            total = q->step() ? q->column_int(0) : 0;
        }
        Query q(impl_->stmts, "SELECT " PORTAL_USER_COLS ", " PORTAL_MEMBER_COLS PORTAL_MEMBER_FILTER
                              " ORDER BY m.created_at, m.user_id LIMIT ?5 OFFSET ?6");
        q->bind_all(account_id, role, status, pattern, sql_limit(page), sql_offset(page));
        std::vector<AccountUser> out;
        while (q->step()) out.push_back(read_account_user(*q));
        return out;
    });
#undef PORTAL_MEMBER_FILTER
}

std::vector<AccountUser> Store::all_account_users(const std::string& account_id) {
    return impl_->locked([&] { return impl_->account_users_page(account_id, -1, 0); });
}

void Store::put_membership(const Membership& m) {
    impl_->write([&] {
        Query q(impl_->stmts, "INSERT INTO memberships (account_id, user_id, role, status, created_at, updated_at)"
                        " VALUES (?1, ?2, ?3, ?4, ?5, ?5)"
                        " ON CONFLICT (account_id, user_id) DO UPDATE SET"
                        " role = excluded.role, status = excluded.status, updated_at = excluded.updated_at");
        q->bind_all(m.account_id, m.user_id, to_string(m.role), to_string(m.status), now_rfc3339());
        try {
            q->run();
        } catch (const sqlite::Error& e) {
            if (e.is_foreign_key_violation()) throw StoreError("membership: no such account or user");
            throw;
        }
    });
}

void Store::delete_membership(const std::string& account_id, const std::string& user_id) {
    impl_->write([&] {
        // The foreign key from ssh_keys cascades: the user's keys in this account go too.
        Query q(impl_->stmts, "DELETE FROM memberships WHERE account_id = ? AND user_id = ?");
        q->bind_all(account_id, user_id).run();
    });
}

int Store::count_active_owners(const std::string& account_id) {
    return impl_->locked([&] {
        Query q(impl_->stmts, "SELECT COUNT(*) FROM memberships"
                        " WHERE account_id = ? AND role = 'owner' AND status = 'active'");
        q->bind(1, account_id);
        return q->step() ? static_cast<int>(q->column_int(0)) : 0;
    });
}

// ---- ssh keys ---------------------------------------------------------------------------

std::optional<SshKey> Store::ssh_key(const std::string& account_id, const std::string& fingerprint) {
    return impl_->locked([&]() -> std::optional<SshKey> {
        Query q(impl_->stmts, "SELECT " PORTAL_KEY_COLS " FROM ssh_keys k WHERE k.account_id = ? AND k.fingerprint = ?");
        q->bind_all(account_id, fingerprint);
        if (!q->step()) return std::nullopt;
        return read_key(*q);
    });
}

std::vector<SshKey> Store::ssh_keys(const std::string& account_id, const std::optional<std::string>& user_id,
                                    Page page, std::int64_t& total) {
    return impl_->locked([&] {
        if (user_id) {
            Query q(impl_->stmts, "SELECT COUNT(*) FROM ssh_keys WHERE account_id = ? AND user_id = ?");
            q->bind_all(account_id, *user_id);
            total = q->step() ? q->column_int(0) : 0;
        } else {
            Query q(impl_->stmts, "SELECT COUNT(*) FROM ssh_keys WHERE account_id = ?");
            q->bind(1, account_id);
            total = q->step() ? q->column_int(0) : 0;
        }
        return impl_->keys_page(account_id, user_id, sql_limit(page), sql_offset(page));
    });
}

std::vector<SshKey> Store::all_ssh_keys(const std::string& account_id) {
    return impl_->locked([&] { return impl_->keys_page(account_id, std::nullopt, -1, 0); });
}

void Store::insert_ssh_key(const SshKey& k) {
    impl_->write([&] {
        const std::string now = now_rfc3339();
        Query q(impl_->stmts, "INSERT INTO ssh_keys (account_id, user_id, name, fingerprint, fingerprint_sha256,"
                        " public_key, type, bits, labels, created_at, updated_at)"
                        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
        q->bind_all(k.account_id, k.user_id, k.name, k.fingerprint, k.fingerprint_sha256, k.public_key, k.type,
                    k.bits, labels_to_json(k.labels), now, now);
        try {
            q->run();
        } catch (const sqlite::Error& e) {
            if (e.is_foreign_key_violation()) throw StoreError("ssh key: the user is not a member of the account");
            throw;
        }
    });
}

void Store::update_ssh_key(const SshKey& k) {
    impl_->write([&] {
        Query q(impl_->stmts, "UPDATE ssh_keys SET name = ?, labels = ?, updated_at = ?"
                        " WHERE account_id = ? AND fingerprint = ?");
        q->bind_all(k.name, labels_to_json(k.labels), now_rfc3339(), k.account_id, k.fingerprint);
        if (q->run() == 0) throw StoreError("no such ssh key");
    });
}

void Store::delete_ssh_key(const std::string& account_id, const std::string& fingerprint) {
    impl_->write([&] {
        Query q(impl_->stmts, "DELETE FROM ssh_keys WHERE account_id = ? AND fingerprint = ?");
        q->bind_all(account_id, fingerprint).run();
    });
}

void Store::delete_ssh_keys_of(const std::string& account_id, const std::string& user_id) {
    impl_->write([&] {
        Query q(impl_->stmts, "DELETE FROM ssh_keys WHERE account_id = ? AND user_id = ?");
        q->bind_all(account_id, user_id).run();
    });
}

// ---- login view ---------------------------------------------------------------------------

std::vector<LoginMemberRow> Store::login_members(const std::string& account_id) {
    return impl_->locked([&] {
        Query q(impl_->stmts, "SELECT u.id, u.unix_name, u.uid, m.role, m.status, u.tfa_enabled"
                              " FROM memberships m JOIN users u ON u.id = m.user_id"
                              " WHERE m.account_id = ? ORDER BY u.unix_name");
        q->bind(1, account_id);
        std::vector<LoginMemberRow> out;
        while (q->step()) {
            LoginMemberRow r;
            r.user_id = q->column_text(0);
            r.unix_name = q->column_text(1);
            r.uid = static_cast<std::uint32_t>(q->column_int(2));
            r.role = read_role(*q, 3);
            auto st = parse_member_status(q->column_text(4));
            if (!st) throw StoreError("corrupt store: unknown membership status");
            r.status = *st;
            r.tfa_enabled = q->column_bool(5);
            out.push_back(std::move(r));
        }
        return out;
    });
}

std::vector<LoginKeyRow> Store::login_keys(const std::string& account_id) {
    return impl_->locked([&] {
        Query q(impl_->stmts, "SELECT k.user_id, k.name, k.public_key, k.fingerprint_sha256 FROM ssh_keys k"
                              " WHERE k.account_id = ? ORDER BY k.created_at, k.rowid");
        q->bind(1, account_id);
        std::vector<LoginKeyRow> out;
        while (q->step())
            out.push_back(LoginKeyRow{q->column_text(0), q->column_text(1), q->column_text(2), q->column_text(3)});
        return out;
    });
}

// ---- TOTP ---------------------------------------------------------------------------------

TfaRecord Store::tfa(const std::string& user_id) {
    return impl_->locked([&] {
        TfaRecord r;
        {
            Query q(impl_->stmts, "SELECT enabled, secret_ciphertext, pending_ciphertext, pending_expires_at,"
                            " last_accepted_step FROM tfa WHERE user_id = ?");
            q->bind(1, user_id);
            if (!q->step()) return r;
            r.enabled = q->column_bool(0);
            r.secret_ciphertext = q->column_blob(1);
            r.pending_ciphertext = q->column_blob(2);
            r.pending_expires_at = q->column_text(3);
            r.last_accepted_step = q->column_int(4);
        }
        Query q(impl_->stmts, "SELECT code_hash FROM tfa_recovery_codes WHERE user_id = ? ORDER BY id");
        q->bind(1, user_id);
        while (q->step()) r.recovery_code_hashes.push_back(q->column_text(0));
        return r;
    });
}

void Store::put_tfa(const std::string& user_id, const TfaRecord& r) {
    impl_->write([&] {
        {
            Query q(impl_->stmts, "UPDATE users SET tfa_enabled = ? WHERE id = ?");
            if (q->bind_all(r.enabled, user_id).run() == 0) throw StoreError("no such user");
        }
        {
            Query q(impl_->stmts, "INSERT INTO tfa (user_id, enabled, secret_ciphertext, pending_ciphertext,"
                            " pending_expires_at, last_accepted_step) VALUES (?, ?, ?, ?, ?, ?)"
                            " ON CONFLICT (user_id) DO UPDATE SET enabled = excluded.enabled,"
                            " secret_ciphertext = excluded.secret_ciphertext,"
                            " pending_ciphertext = excluded.pending_ciphertext,"
                            " pending_expires_at = excluded.pending_expires_at,"
                            " last_accepted_step = excluded.last_accepted_step");
            q->bind_all(user_id, r.enabled);
            q->bind_blob(3, r.secret_ciphertext).bind_blob(4, r.pending_ciphertext);
            q->bind(5, r.pending_expires_at).bind(6, r.last_accepted_step).run();
        }
        {
            Query q(impl_->stmts, "DELETE FROM tfa_recovery_codes WHERE user_id = ?");
            q->bind(1, user_id).run();
        }
        Query q(impl_->stmts, "INSERT INTO tfa_recovery_codes (user_id, code_hash) VALUES (?, ?)");
        for (const std::string& h : r.recovery_code_hashes) {
            q->bind_all(user_id, h).run();
            q->reset();
        }
    });
}

#undef PORTAL_ACCOUNT_COLS
#undef PORTAL_USER_COLS
#undef PORTAL_MEMBER_COLS
#undef PORTAL_KEY_COLS

std::vector<std::pair<std::string, TfaFailureState>> Store::tfa_failure_states() {
    return impl_->locked([&] {
        std::vector<std::pair<std::string, TfaFailureState>> out;
        Query q(impl_->stmts, "SELECT user_id, failures, locked_until FROM tfa_failures");
        while (q->step()) {
            TfaFailureState st;
            std::istringstream in(q->column_text(1));
            for (std::int64_t t = 0; in >> t;) st.failures_ms.push_back(t);
            if (!q->is_null(2)) st.locked_until_ms = q->column_int(2);
            out.emplace_back(q->column_text(0), std::move(st));
        }
        return out;
    });
}

void Store::put_tfa_failure_state(const std::string& user_id, const TfaFailureState& st) {
    impl_->write([&] {
        if (st.failures_ms.empty() && !st.locked_until_ms) {
            Query q(impl_->stmts, "DELETE FROM tfa_failures WHERE user_id = ?");
            q->bind(1, user_id).run();
            return;
        }
        std::string failures;
        for (std::int64_t t : st.failures_ms) failures += (failures.empty() ? "" : " ") + std::to_string(t);
        Query q(impl_->stmts, "INSERT INTO tfa_failures (user_id, failures, locked_until) VALUES (?, ?, ?)"
                              " ON CONFLICT (user_id) DO UPDATE SET failures = excluded.failures,"
                              " locked_until = excluded.locked_until");
        q->bind_all(user_id, failures);
        if (st.locked_until_ms) q->bind(3, *st.locked_until_ms);
        else q->bind(3, nullptr);
        q->run();
    });
}

}  // namespace portal::store
