// Atomic writes of the daemon's small state files (the fallback directory's files, state_dir.h;
// the allowed-members record), and what a read of the fallback returns.
#pragma once
#include <cstddef>
#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>

#include <sys/types.h>

#include "shared/ipc/login_state.h"

namespace portal::ipc {

// A read of the fallback (state_dir.h): the header's state with the member asked for.
struct LoadedState {
    LoginState state;
    std::int64_t age_seconds = 0;  // now - mtime (0 when mtime is in the future)
    bool expired = false;          // age_seconds > state.grace_seconds
};
// An expired state is still returned (expired = true) so the caller can say "state_expired"
// to portal users; use it only through check_account with StateSource{.fallback = true,
// .expired = ...}.

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

// Atomically replaces `path` with `content`: a temp file in the same directory ("<path>.XXXXXX"),
// fchmod/fchown, write, fsync, rename, fsync of the directory (unless `sync_directory` is
// false: a caller writing many files fsyncs it once). On failure the old file stays and the
// temp file is removed. `written` (optional) receives the new file's identity.
bool write_file_atomically(const std::string& path, std::string_view content, const StateFileMode& mode,
                           std::string& error, FileIdentity* written = nullptr, bool sync_directory = true);

// Reads the whole of `fd`, an open file that only this process's user may change: a regular
// file owned by the euid, with none of `forbidden_mode` set (S_IWGRP | S_IWOTH; 077 for a file
// that is also secret), at most `max_bytes`. nullopt with `error` ("<path>: why") otherwise.
std::optional<std::string> read_private_file(int fd, const std::string& path, std::size_t max_bytes,
                                             mode_t forbidden_mode, std::string& error);

// Re-stamps the file's mtime (the daemon does this to the fallback's header every 30 s). With
// `expected`, only when the path still names that file (else false, nothing touched).
bool touch_state_file(const std::string& path, std::string& error, const FileIdentity* expected = nullptr);

}  // namespace portal::ipc
