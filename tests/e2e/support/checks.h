// Small assertions-in-waiting the e2e cases share: NSS lookups inside the namespace and
// "refused within a deadline" polling.
#pragma once
#include <sys/types.h>

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "tests/e2e/support/world.h"

namespace portal::e2e {

inline bool contains(const std::string& haystack, const std::string& needle) {
    return haystack.find(needle) != std::string::npos;
}

struct PasswdEntry {
    std::string name;
    uid_t uid = 0;
    gid_t gid = 0;
    std::string home, shell;
};
// getpwnam() in this process (nss-systemd reads the namespace's /run/userdb and asks the
// providers in /run/systemd/userdb).
std::optional<PasswdEntry> lookup_user(const std::string& name);
// Group names of `name` as initgroups() would set them (getgrouplist + getgrgid).
std::vector<std::string> groups_of(const std::string& name, gid_t primary);

// Logs in as `m` until it works or `timeout` passes (publication follows the API call
// asynchronously); the last result.
LoginResult login_eventually(World& w, Member& m, std::chrono::milliseconds timeout = 5000ms);

struct Refusal {
    bool refused = false;
    std::chrono::milliseconds after{0};  // from the start of polling to the first refusal
    LoginResult last;
    int attempts = 0;
};
// Tries logging in until one attempt is refused or `deadline` passes (each attempt is a new
// connection).
Refusal refused_within(World& w, Member& m, std::chrono::milliseconds deadline);

// Live processes whose real uid is `uid` (the session of a portal user).
std::vector<pid_t> processes_of(uid_t uid);

}  // namespace portal::e2e
