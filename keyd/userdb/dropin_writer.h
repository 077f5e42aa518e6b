// Writes the published members as systemd userdb drop-ins, so identities resolve through
// nss-systemd even while the daemon is down (groups from the provider do not: the safe way
// to fail).
#pragma once
#include <sys/types.h>

#include <chrono>
#include <ctime>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "keyd/userdb/config.h"
#include "shared/ipc/login_state.h"

namespace portal::userdb {

// Per published member, in cfg.dropin_directory:
//   <name>.user (0644) + <uid>.user -> <name>.user
//   <name>.group (0644) + <gid>.group -> <name>.group             (the per-user group, gid = uid)
//   <name>.user-privileged (0600: sshAuthorizedKeys)  when it has keys and is not locked (no
//   <uid> link: a by-uid look-up of a drop-in then shows no keys; by name, as sshd and
//   userdbctl ssh-authorized-keys ask, it does)
// Every file here costs: nss-systemd (252) reads the whole directory for *.membership files on
// each group look-up and initgroups (10,000 members, 50,000 files: ~80 ms per `getent group`).
// Files are written atomically (temp file, fsync, rename) and only when their content or mode
// changed. Stale files of OUR service are removed; a file is ours when its JSON "service" is
// cfg.service (symlinks: when they point at such a file). Other files are never touched, and a
// member whose file name is held by someone else's file is skipped (logged).
class DropinWriter {
public:
    explicit DropinWriter(UserdbConfig cfg);  // throws std::invalid_argument for a bad cfg.service

    // Makes the directory match `planned` (members with published == true). Creates the
    // directory (0755) when missing. Throws std::runtime_error when the directory cannot be
    // used or some file could not be written or removed (after doing all the rest).
    // The directory is re-read only when its mtime changed since our last write (someone else
    // added, removed or renamed a file) or a minute has passed (an in-place edit); otherwise
    // what we know from the last call is trusted (10,000 members: 60,000 files).
    // `changed` (optional): the names of members that may differ from the last call's
    // `planned`; the others' files are then left alone without rendering them again, unless
    // the directory was re-read (see above) or one of their files is missing.
    // `resident` (optional): only these published members get files (the recent logins, see
    // resident_members.h); everyone else's files of ours are removed. Null: every published member.
    void publish(const ipc::LoginState& planned, const std::unordered_set<std::string>* changed = nullptr,
                 const std::unordered_set<std::string>* resident = nullptr);

    // Marks <name>.user (ours) as used now (its mtime): a member who logs in again keeps their
    // place among the recent ones across a restart (our_members reads it back).
    void mark_used(const std::string& name);

    // The members whose <name>.user drop-in of ours is in the directory, with its mtime (the
    // directory is read; a daemon restarted without a reboot finds who had drop-ins before).
    std::vector<std::pair<std::string, std::chrono::system_clock::time_point>> our_members();

    // Files written or removed by the last publish() (for logs and tests).
    std::size_t last_changes() const { return last_changes_; }

    struct Entry {  // what we know about one file in the directory
        enum class Kind { regular, symlink, other } kind = Kind::other;
        std::string content;  // regular: the file's content (if read); symlink: its target
        mode_t mode = 0;
        bool ours = false;
        ino_t ino = 0;  // regular files: content is re-read only when these change
        off_t size = 0;
        timespec mtime{};
    };

private:
    UserdbConfig cfg_;
    std::unordered_map<std::string, Entry> known_;  // the directory as of our last look
    bool stamp_valid_ = false;
    dev_t dir_dev_ = 0;
    ino_t dir_ino_ = 0;
    timespec dir_mtime_{};
    std::chrono::steady_clock::time_point last_full_scan_{};
    std::size_t last_changes_ = 0;
};

}  // namespace portal::userdb
