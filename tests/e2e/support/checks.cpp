#include "tests/e2e/support/checks.h"

#include <dirent.h>
#include <grp.h>
#include <pwd.h>

#include <fstream>
#include <sstream>
#include <thread>

namespace portal::e2e {

std::optional<PasswdEntry> lookup_user(const std::string& name) {
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (::getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found) != 0 || !found) return std::nullopt;
    return PasswdEntry{found->pw_name, found->pw_uid, found->pw_gid, found->pw_dir, found->pw_shell};
}

std::vector<std::string> groups_of(const std::string& name, gid_t primary) {
    std::vector<gid_t> gids(64);
    int n = static_cast<int>(gids.size());
    if (::getgrouplist(name.c_str(), primary, gids.data(), &n) < 0) {
        gids.resize(static_cast<std::size_t>(n));
        ::getgrouplist(name.c_str(), primary, gids.data(), &n);
    }
    gids.resize(static_cast<std::size_t>(std::max(n, 0)));
    std::vector<std::string> names;
    for (gid_t g : gids) {
        group gr{};
        group* found = nullptr;
        std::vector<char> buf(16384);
        if (::getgrgid_r(g, &gr, buf.data(), buf.size(), &found) == 0 && found) names.emplace_back(found->gr_name);
        else names.push_back(std::to_string(g));
    }
    return names;
}

LoginResult login_eventually(World& w, Member& m, std::chrono::milliseconds timeout) {
    const auto deadline = Clock::now() + timeout;
    for (;;) {
        // Without 2FA a failed attempt costs nothing; with 2FA each attempt spends a code, so
        // poll with the key alone until it is accepted (partial success).
        if (!m.tfa_secret.empty()) {
            if (w.probe_key(m.unix_name, m.key) != "partial" && Clock::now() < deadline) {
                std::this_thread::sleep_for(100ms);
                continue;
            }
        }
        auto r = w.login(m);
        if (r.ok() || Clock::now() >= deadline) return r;
        std::this_thread::sleep_for(100ms);
    }
}

Refusal refused_within(World& w, Member& m, std::chrono::milliseconds deadline) {
    Refusal out;
    const auto start = Clock::now();
    for (;;) {
        ++out.attempts;
        // A refused 2FA member must not burn a good code: probe with the key alone.
        if (m.tfa_secret.empty()) {
            out.last = w.login(m);
        } else {
            LoginOptions o;
            o.user = m.unix_name;
            o.key = m.key;
            o.publickey_only = true;
            out.last = w.client()->login(o);
        }
        const bool got_in = m.tfa_secret.empty() ? out.last.ok() : out.last.publickey == "partial";
        if (!got_in) {
            out.refused = true;
            out.after = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
            return out;
        }
        if (Clock::now() - start >= deadline) return out;
        std::this_thread::sleep_for(50ms);
    }
}

std::vector<pid_t> processes_of(uid_t uid) {
    std::vector<pid_t> out;
    DIR* d = ::opendir("/proc");
    if (!d) return out;
    while (dirent* e = ::readdir(d)) {
        char* end = nullptr;
        const long pid = std::strtol(e->d_name, &end, 10);
        if (*end || pid <= 0) continue;
        std::ifstream in("/proc/" + std::string(e->d_name) + "/status");
        std::string line;
        bool zombie = false, match = false;
        while (std::getline(in, line)) {
            if (line.starts_with("State:") && line.find('Z') != std::string::npos) zombie = true;
            if (line.starts_with("Uid:")) {
                std::istringstream f(line.substr(4));
                long real = -1;
                f >> real;
                match = real == static_cast<long>(uid);
            }
        }
        if (match && !zombie) out.push_back(static_cast<pid_t>(pid));
    }
    ::closedir(d);
    return out;
}

}  // namespace portal::e2e
