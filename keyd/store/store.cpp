#include "keyd/store/store.h"

#include <utility>

#include "keyd/store/connection.h"

namespace portal::store {

Store::Store(std::unique_ptr<Connection> conn, UidRange uids, LocalAccounts local)
    : conn_(std::move(conn)),
      accounts_(*conn_),
      users_(*conn_, uids, std::move(local)),
      memberships_(*conn_),
      ssh_keys_(*conn_),
      tfa_(*conn_),
      login_rows_(*conn_),
      api_tokens_(*conn_),
      hosts_(*conn_),
      sessions_(*conn_),
      ip_allowlist_(*conn_),
      contacts_(*conn_),
      tickets_(*conn_),
      support_(*conn_),
      notifications_(*conn_),
      changes_(*conn_) {}

Store::~Store() = default;

std::unique_ptr<Store> Store::open(const std::filesystem::path& db_path, UidRange uids, LocalAccounts local) {
    if (uids.first > uids.last) throw StoreError("invalid uid range");
    auto conn = Connection::open(db_path);
    // The constructor is private; make_unique cannot reach it.
    return std::unique_ptr<Store>(new Store(std::move(conn), uids, std::move(local)));
}

void Store::transaction(const std::function<void()>& f) { conn_->write(f); }

void Store::set_change_log_retention(const ChangeLogRetention& r, std::function<std::int64_t()> now_seconds) {
    conn_->set_retention(r, std::move(now_seconds));
}

void Store::read(const std::function<void()>& f) {
    conn_->locked([&] { f(); });
}

int Store::schema_version() { return conn_->schema_version(); }

std::uint64_t Store::revision() { return static_cast<std::uint64_t>(conn_->meta_int("revision")); }

}  // namespace portal::store
