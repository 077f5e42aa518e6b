// Writes the published members as systemd userdb drop-ins, so identities resolve through
// nss-systemd even while the daemon is down (groups from the provider do not: the safe way
// to fail).
#pragma once
#include <sys/types.h>

#include <ctime>
#include <map>
#include <string>

#include "keyd/userdb/config.h"
#include "shared/ipc/login_state.h"

namespace portal::userdb {

// Per published member, in cfg.dropin_directory:
//   <name>.user (0644) + <uid>.user -> <name>.user
//   <name>.group (0644) + <gid>.group -> <name>.group             (the per-user group, gid = uid)
//   <name>.user-privileged (0600: sshAuthorizedKeys) + <uid>.user-privileged -> it  (when it has keys
//   and is not locked; nss-systemd looks the companion file up by the key it was asked for)
// Files are written atomically (temp file, fsync, rename) and only when their content or mode
// changed. Stale files of OUR service are removed; a file is ours when its JSON "service" is
// cfg.service (symlinks: when they point at such a file). Other files are never touched, and a
// member whose file name is held by someone else's file is skipped (logged).
class DropinWriter {
public:
    explicit DropinWriter(UserdbConfig cfg);

    // Makes the directory match `planned` (members with published == true). Creates the
    // directory (0755) when missing. Throws std::runtime_error when the directory cannot be
    // used or some file could not be written or removed (after doing all the rest).
    void publish(const ipc::LoginState& planned);

    // Files written or removed by the last publish() (for logs and tests).
    std::size_t last_changes() const { return last_changes_; }

private:
    struct Known {  // what we last saw on disk for a file name, to skip re-reading it
        ino_t ino = 0;
        off_t size = 0;
        timespec mtime{};
        mode_t mode = 0;
        std::string content;
    };
    UserdbConfig cfg_;
    std::map<std::string, Known> cache_;
    std::size_t last_changes_ = 0;
};

}  // namespace portal::userdb
