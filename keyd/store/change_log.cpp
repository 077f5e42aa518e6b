#include "keyd/store/change_log.h"

#include "keyd/store/connection.h"
#include "keyd/store/types.h"

namespace portal::store {

namespace {

constexpr std::pair<ChangeKind, std::string_view> kKinds[] = {
    {ChangeKind::account, "account"}, {ChangeKind::user, "user"},   {ChangeKind::membership, "membership"},
    {ChangeKind::ssh_key, "ssh_key"}, {ChangeKind::tfa, "tfa"},
};

ChangeKind kind_from(std::string_view text) {
    for (const auto& [k, name] : kKinds)
        if (name == text) return k;
    throw StoreError("corrupt store: unknown change kind \"" + std::string(text) + "\"");
}

ChangeOp op_from(std::string_view text) {
    if (text == "upsert") return ChangeOp::upsert;
    if (text == "delete") return ChangeOp::remove;
    throw StoreError("corrupt store: unknown change op \"" + std::string(text) + "\"");
}

}  // namespace

std::string_view to_string(ChangeKind k) {
    for (const auto& [kind, name] : kKinds)
        if (kind == k) return name;
    return "unknown";
}

std::string_view to_string(ChangeOp op) { return op == ChangeOp::upsert ? "upsert" : "delete"; }

std::uint64_t ChangeLog::compacted_through() {
    return static_cast<std::uint64_t>(conn_.meta_int("changes_compacted_through"));
}

std::optional<std::vector<Change>> ChangeLog::since(std::uint64_t revision, std::size_t max_changes) {
    return conn_.locked([&]() -> std::optional<std::vector<Change>> {
        // One read transaction: the revision, the compaction mark and the rows agree.
        Query begin(conn_, "SAVEPOINT change_log_read");
        begin->run();
        struct Release {
            Connection& c;
            ~Release() {
                try {
                    Query q(c, "RELEASE change_log_read");
                    q->run();
                } catch (...) {  // a read: nothing to undo
                }
            }
        } release{conn_};
        const auto current = static_cast<std::uint64_t>(conn_.meta_int("revision"));
        if (revision > current || revision < compacted_through()) return std::nullopt;
        Query q(conn_, "SELECT revision, kind, op, account_id, user_id, entity_id FROM changes"
                       " WHERE revision > ? ORDER BY revision, seq LIMIT ?");
        q->bind_all(static_cast<std::int64_t>(revision), static_cast<std::int64_t>(max_changes) + 1);
        std::vector<Change> out;
        while (q->step()) {
            if (out.size() == max_changes) return std::nullopt;
            Change c;
            c.revision = static_cast<std::uint64_t>(q->column_int(0));
            c.kind = kind_from(q->column_text(1));
            c.op = op_from(q->column_text(2));
            c.account_id = q->column_text(3);
            c.user_id = q->column_text(4);
            c.entity_id = q->column_text(5);
            out.push_back(std::move(c));
        }
        return out;
    });
}

}  // namespace portal::store
