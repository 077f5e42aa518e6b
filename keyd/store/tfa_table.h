// Per-user second-factor state: the TOTP enrolment and recovery codes, and the failure
// limiter's memory (so a lock survives a restart).
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "keyd/store/types.h"

namespace portal::store {

class Connection;

// Per-user TOTP state. Secrets are stored only as ciphertext (keyd/tfa/secret_box.h).
struct TfaRecord {
    bool enabled = false;
    std::string secret_ciphertext;          // confirmed secret, empty when not enrolled
    std::string pending_ciphertext;         // enrolment started, not yet confirmed
    std::string pending_expires_at;         // RFC 3339
    std::int64_t last_accepted_step = -1;   // high-water mark: no code is accepted twice
    std::vector<std::string> recovery_code_hashes;  // unused ones only
};

// A user's recent failed second-factor attempts and lock (keyd/tfa/failure_limiter.h), in
// unix milliseconds. Empty failures and no lock: nothing to remember (the row is deleted).
struct TfaFailureState {
    std::vector<std::int64_t> failures_ms;
    std::optional<std::int64_t> locked_until_ms;
};

class TfaTable {
public:
    explicit TfaTable(Connection& conn) : conn_(conn) {}

    TfaRecord get(const std::string& user_id);  // an empty record when the user never enrolled
    void put(const std::string& user_id, const TfaRecord& r);  // also sets users.tfa_enabled
    std::vector<std::pair<std::string, TfaFailureState>> failure_states();
    void put_failure_state(const std::string& user_id, const TfaFailureState& s);

private:
    Connection& conn_;
};

}  // namespace portal::store
