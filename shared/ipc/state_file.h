// The on-disk login state (docs/LOGIN_PROTOCOL.md, "On-disk state"): the fallback the
// helper and the PAM module read when the daemon does not answer, and its atomic writer.
#pragma once
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "shared/ipc/login_state.h"

namespace portal::ipc {

inline constexpr std::size_t kMaxStateFileBytes = 16 * 1024 * 1024;

struct LoadedState {
    LoginState state;
    std::int64_t age_seconds = 0;  // now - mtime (0 when mtime is in the future)
    bool expired = false;          // age_seconds > state.grace_seconds
};

// Reads and checks the file: opened O_NOFOLLOW|O_NONBLOCK (a symlink or FIFO can't trick or
// hang us), a regular file owned by root (see trust.h), not writable by group or others,
// under kMaxStateFileBytes, and a version this code knows. An expired file is still returned
// (with expired = true) so the caller can say "state_expired" to portal users; use it only
// through check_account with StateSource{.fallback = true, .expired = ...}.
// `only_member`: keep just that member (see login_state_from_json); the login path looks up
// one user per process.
std::optional<LoadedState> read_state_file(const std::string& path, std::string& error,
                                           std::time_t now = std::time(nullptr),
                                           std::optional<std::string_view> only_member = std::nullopt);

struct StateFileMode {
    mode_t mode = 0640;
    std::optional<uid_t> owner;  // fchown to these when set (the daemon: root and the
    std::optional<gid_t> group;  // helper user's group; mode 0600 without that user)
};

// Which file a path named when it was written: a re-stamp must touch only that one.
struct FileIdentity {
    dev_t dev = 0;
    ino_t ino = 0;
    bool operator==(const FileIdentity&) const = default;
};

// Atomically replaces `path` with `content`: a temp file in the same directory, fchmod/fchown,
// write, fsync, rename, fsync of the directory. On failure the old file stays and the temp
// file is removed. `written` (optional) receives the new file's identity.
bool write_file_atomically(const std::string& path, std::string_view content, const StateFileMode& mode,
                           std::string& error, FileIdentity* written = nullptr);

// write_file_atomically with the state as JSON.
bool write_state_file(const std::string& path, const LoginState& state, const StateFileMode& mode,
                      std::string& error, FileIdentity* written = nullptr);

// Re-stamps the file's mtime (the daemon does this every 30 s while it runs). With
// `expected`, only when the path still names that file (else false, nothing touched).
bool touch_state_file(const std::string& path, std::string& error, const FileIdentity* expected = nullptr);

}  // namespace portal::ipc
