// Why a member may or may not log in here (GET /v1/server/why, `portalctl why`): the login
// rules' own trace (ipc::check_account with a trace) on the snapshot the login socket uses,
// with the member, the key asked about and the state's revision. Plain data: the API and the
// guard use it without depending on the login path.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "shared/ipc/login_rules.h"
#include "shared/model.h"

namespace portal::login {

struct ExplainQuery {
    std::string user;                 // a unix name
    std::optional<std::string> rhost;  // an IP literal: the connection's address
    std::optional<std::string> key;    // "SHA256:..." or MD5 colon hex ("MD5:" prefix optional)
};

struct ExplainedMember {
    std::string user_id, unix_name;
    std::uint32_t uid = 0;
    Role role = Role::manager;
    MemberStatus status = MemberStatus::active;
    bool tfa_enabled = false;
    bool published = true;
    std::size_t keys = 0;
};

struct Explanation {
    ExplainQuery query;
    ipc::LoginDecision decision;          // exactly what the login socket's CheckAccount answers
    std::vector<ipc::RuleVerdict> rules;  // every rule, in order (rule names and reasons are constants)
    std::optional<ExplainedMember> member;  // when the name is a member of the served account
    std::optional<bool> key_matches;        // with a key and a member: one of their keys?
    std::string account_id;
    std::uint64_t revision = 0;
    std::int64_t generated_at = 0;  // unix seconds
};

}  // namespace portal::login
