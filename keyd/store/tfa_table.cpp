#include "keyd/store/tfa_table.h"

#include <sstream>

#include "keyd/store/connection.h"

namespace portal::store {

TfaRecord TfaTable::get(const std::string& user_id) {
    return conn_.locked([&] {
        TfaRecord r;
        {
            Query q(conn_, "SELECT enabled, secret_ciphertext, pending_ciphertext, pending_expires_at,"
                           " last_accepted_step FROM tfa WHERE user_id = ?");
            q->bind(1, user_id);
            if (!q->step()) return r;
            r.enabled = q->column_bool(0);
            r.secret_ciphertext = q->column_blob(1);
            r.pending_ciphertext = q->column_blob(2);
            r.pending_expires_at = q->column_text(3);
            r.last_accepted_step = q->column_int(4);
        }
        Query q(conn_, "SELECT code_hash FROM tfa_recovery_codes WHERE user_id = ? ORDER BY id");
        q->bind(1, user_id);
        while (q->step()) r.recovery_code_hashes.push_back(q->column_text(0));
        return r;
    });
}

void TfaTable::put(const std::string& user_id, const TfaRecord& r) {
    conn_.write([&] {
        {
            Query q(conn_, "UPDATE users SET tfa_enabled = ? WHERE id = ?");
            if (q->bind_all(r.enabled, user_id).run() == 0) throw StoreError("no such user");
        }
        {
            Query q(conn_, "INSERT INTO tfa (user_id, enabled, secret_ciphertext, pending_ciphertext,"
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
            Query q(conn_, "DELETE FROM tfa_recovery_codes WHERE user_id = ?");
            q->bind(1, user_id).run();
        }
        Query q(conn_, "INSERT INTO tfa_recovery_codes (user_id, code_hash) VALUES (?, ?)");
        for (const std::string& h : r.recovery_code_hashes) {
            q->bind_all(user_id, h).run();
            q->reset();
        }
        conn_.record(ChangeKind::tfa, ChangeOp::upsert, "", user_id, user_id);
    });
}

std::vector<std::pair<std::string, TfaFailureState>> TfaTable::failure_states() {
    return conn_.locked([&] {
        std::vector<std::pair<std::string, TfaFailureState>> out;
        Query q(conn_, "SELECT user_id, failures, locked_until FROM tfa_failures");
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

void TfaTable::put_failure_state(const std::string& user_id, const TfaFailureState& st) {
    // Counters of failed attempts, not IAM state: no change logged, no new revision.
    conn_.write_untracked([&] {
        if (st.failures_ms.empty() && !st.locked_until_ms) {
            Query q(conn_, "DELETE FROM tfa_failures WHERE user_id = ?");
            q->bind(1, user_id).run();
            return;
        }
        std::string failures;
        for (std::int64_t t : st.failures_ms) failures += (failures.empty() ? "" : " ") + std::to_string(t);
        Query q(conn_, "INSERT INTO tfa_failures (user_id, failures, locked_until) VALUES (?, ?, ?)"
                       " ON CONFLICT (user_id) DO UPDATE SET failures = excluded.failures,"
                       " locked_until = excluded.locked_until");
        q->bind_all(user_id, failures);
        if (st.locked_until_ms) q->bind(3, *st.locked_until_ms);
        else q->bind(3, nullptr);
        q->run();
    });
}

}  // namespace portal::store
