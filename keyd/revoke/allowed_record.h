// The members who were allowed to log in at the last refresh, kept on disk (the daemon's state
// directory, 0600) so that revocations survive a restart: a member revoked while the daemon
// was down, or between a committed change and its publication (a crash), is compared against
// this record at the next start and their sessions end. Apart from the fallback state file on
// purpose: that one is removed when it cannot be written, this one must outlive it.
//
// This file: who is allowed, and the record's text (a snapshot of every allowed member and
// the journal of changes appended after it). The files themselves: allowed_record_file.h.
#pragma once
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shared/ipc/login_state.h"

namespace portal::revoke {

struct AllowedMember {
    std::string user_id;
    std::string unix_name;
    std::uint32_t uid = 0;
    bool operator==(const AllowedMember&) const = default;
};

// Members check_account allows in `state`, in the state's order.
std::vector<AllowedMember> allowed_members(const ipc::LoginState& state);

// A login state in which exactly these members are allowed (the "before" of losing_access).
ipc::LoginState state_allowing(const std::vector<AllowedMember>& members);

// One line of the journal: `unix_name` is allowed now as `allowed`, or no longer (nullopt).
struct AllowedChange {
    std::string unix_name;
    std::optional<AllowedMember> allowed;
    bool operator==(const AllowedChange&) const = default;
};

// Every allowed member, sorted by unix_name (names unique), and the id of the journal that
// continues it ("" in a version 1 record, which has none).
struct AllowedSnapshot {
    std::vector<AllowedMember> members;
    std::string journal;
    bool operator==(const AllowedSnapshot&) const = default;
};

// {"journal":"jnl_…","members":[{"uid":..,"unix_name":..,"user_id":..},…],"version":2}
std::string allowed_snapshot_to_json(const AllowedSnapshot& snapshot);
// Strict: version 1 (no journal) or 2, no other fields, members sorted by unix_name without
// repeats (version 1 records, written in the state's order, are sorted here); `error` names
// the offending field.
std::optional<AllowedSnapshot> allowed_snapshot_from_json(std::string_view text, std::string& error);

// The journal: a first line naming the snapshot it continues, then one change per line:
//   {"snapshot":"jnl_…"}
//   {"allow":{"uid":..,"unix_name":..,"user_id":..}}
//   {"deny":"name"}
std::string allowed_journal_header(std::string_view journal_id);
std::string allowed_change_to_json_line(const AllowedChange& change);  // with its '\n'

// Applies a journal's changes to `members` (sorted by unix_name). A journal of another
// snapshot (left by a compaction that stopped before replacing it) changes nothing; a last
// line without its newline (a write cut short) is ignored. False on anything else malformed,
// `error` naming the line and field; `members` is then unchanged. `applied`: changes taken.
bool apply_allowed_journal(std::string_view text, std::string_view journal_id, std::vector<AllowedMember>& members,
                           std::string& error, std::size_t* applied = nullptr);

// Applies one change to `members` (sorted by unix_name): replaces, inserts or removes.
void apply_allowed_change(std::vector<AllowedMember>& members, const AllowedChange& change);

}  // namespace portal::revoke
