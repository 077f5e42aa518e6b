// Hosts that follow an account's IAM feed, and the one-use enrolment tokens that make them
// (PORTAL.md §5). Secrets are kept as SHA-256 only. Not login state: writes bump no revision.
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/model.h"

namespace portal::store {

class Connection;

class HostsTable {
public:
    explicit HostsTable(Connection& conn) : conn_(conn) {}

    void insert_enrolment(const HostEnrolment& e, const std::string& secret_hash);
    // Registration: the enrolment whose secret hashes to `secret_hash` is consumed (deleted)
    // and `host` inserted in its account, in one transaction. nullopt (nothing changed) when
    // there is no such enrolment or it expired before `now` (RFC 3339).
    std::optional<Host> register_host(const std::string& enrolment_hash, const std::string& now, Host host,
                                      const std::string& host_secret_hash);

    std::vector<Host> of_account(const std::string& account_id);  // oldest first
    std::optional<Host> get(const std::string& account_id, const std::string& id);
    std::optional<Host> by_hash(const std::string& secret_hash);
    bool remove(const std::string& account_id, const std::string& id);
    // A feed request: when it came (kept to the minute) and the revision it asked from.
    void seen(const std::string& id, const std::string& at, std::uint64_t revision);

    // Login events a host reported: those already kept (same host, same id) are skipped.
    // Returns, for each event, whether it was new.
    std::vector<bool> add_login_events(const std::vector<LoginEvent>& events);
    // The account's history, newest first; `total` gets the count.
    std::vector<LoginEvent> login_events(const std::string& account_id, std::int64_t offset, std::int64_t limit,
                                         std::int64_t& total);

private:
    Connection& conn_;
};

}  // namespace portal::store
