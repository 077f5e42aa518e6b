// The on-disk login state (docs/LOGIN_PROTOCOL.md, "On-disk state"): the fallback the keys
// helper and pam_portal.so read when the daemon does not answer. A directory holding a small
// header (kStateHeaderName) and one file per member, named by the member's unix name, so
// that a lookup reads one member's bytes, not the whole account's, and a refresh writes only
// the members that changed.
#pragma once
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <sys/types.h>

#include "shared/ipc/login_state.h"
#include "shared/ipc/state_file.h"

namespace portal::ipc {

// The header's name: a '.' is never part of a unix name, so no member can take it (nor the
// writer's temp files, "<name>.XXXXXX").
inline constexpr const char* kStateHeaderName = "account.json";
inline constexpr std::size_t kMaxStateHeaderBytes = 64 * 1024;
// A member with a few hundred RSA keys fits; a file of the old whole-account size does not.
inline constexpr std::size_t kMaxMemberEntryBytes = 1024 * 1024;

// Whether `name` may name a member's file: a valid unix name (shared/unix_name.h), so never
// "", ".", "..", a dot file or anything with a '/'.
bool is_member_file_name(std::string_view name);

// Reads the header and `user`'s entry. The directory is opened O_DIRECTORY|O_NOFOLLOW and
// must be owned by root and not writable by group or others; each file is opened with
// openat(O_NOFOLLOW|O_NONBLOCK) and must be a regular file owned by root, not writable by
// group or others, within its size cap (a symlink, FIFO or oversized file is refused, never
// followed, waited on or read whole), and parse strictly.
// Returns the header's state with `members` holding `user`'s entry, or nothing when the user
// has no entry (no file, or a name that cannot be a member's: not a member).
// nullopt (with `error`): no usable header, or an entry that is unreadable, corrupt or stale
// (another account, another layout version, a file named other than its member): the
// caller cannot tell whether the user is a member, as with no state at all.
// The header's mtime is when the daemon last confirmed the directory current: age_seconds
// and expired are computed from it (expired: still returned, see LoadedState).
std::optional<LoadedState> read_state_dir(const std::string& dir, std::string_view user, std::string& error,
                                          std::time_t now = std::time(nullptr));

// --- Writing (the daemon) ---------------------------------------------------------------

// Creates `dir` (mode and owner as given) or, when it exists, checks that it is a real
// directory (not a symlink) and sets its mode and owner.
bool prepare_state_dir(const std::string& dir, const StateFileMode& mode, std::string& error);

// Atomically replaces dir/<entry.member.unix_name> (temp file, fsync, rename; no directory
// fsync: see sync_state_dir).
bool write_member_entry(const std::string& dir, const MemberEntry& entry, const StateFileMode& mode,
                        std::string& error);
// Removes dir/<name>; a missing file is success.
bool remove_member_entry(const std::string& dir, std::string_view name, std::string& error);
// Atomically replaces the header and fsyncs the directory (one directory fsync per refresh,
// after all the member files). `written` receives the header's identity.
bool write_state_header(const std::string& dir, const LoginState& state, const StateFileMode& mode,
                        std::string& error, FileIdentity* written = nullptr);
bool remove_state_header(const std::string& dir, std::string& error);
// Re-stamps the header's mtime (see touch_state_file).
bool touch_state_header(const std::string& dir, std::string& error, const FileIdentity* expected = nullptr);

// Every name in `dir` but "." and "..". nullopt (with error) when it cannot be listed.
std::optional<std::vector<std::string>> list_state_dir(const std::string& dir, std::string& error);

// The whole of `state` in `dir` (created with `dir_mode`): every entry at state.revision, then
// the header; any other file in it is removed. For tests, benchmarks and tools: the daemon
// writes only what changed (keyd/login/refresher.cpp).
bool write_whole_state_dir(const std::string& dir, const LoginState& state, const StateFileMode& file_mode,
                           const StateFileMode& dir_mode, std::string& error);

// One entry as the daemon finds it at start-up, with the reader's checks; nullopt when it is
// missing, untrusted or does not parse (`error` says which).
std::optional<MemberEntry> read_member_entry(const std::string& dir, std::string_view name, std::string& error);

}  // namespace portal::ipc
