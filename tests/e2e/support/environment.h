// What every program that runs Worlds does first (tests/e2e's main.cpp, bench/ssh_login_bench):
// check the machine, prepare E2E_TMP, and enter a private mount namespace.
#pragma once
#include <string>

namespace portal::e2e {

// "" when this machine can run Worlds, else why not (the caller skips): root, sshd and the
// clients, pam_wrapper, nss-systemd in nsswitch.conf.
std::string missing_prerequisite();

// E2E_TMP (tests/CMakeLists.txt: under /run/portal-keyd-tests as root) searchable by nobody
// whatever the umask, and the keys helper copied there: the build tree may sit under a 0700
// home, where sshd's AuthorizedKeysCommandUser could not run it. "" or what went wrong (a
// failure, not a skip: as root these programs must run).
std::string prepare_test_dir();

// unshare(CLONE_NEWNS) with private propagation (each World mounts tmpfs over /run/userdb,
// /run/systemd/userdb and /home, seen by nothing outside), child-subreaper (sshd's session
// processes outlive their parents; we still find and reap them), SIGPIPE ignored. "" or why not.
std::string enter_private_namespace();

}  // namespace portal::e2e
