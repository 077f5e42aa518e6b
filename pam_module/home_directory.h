// A portal member's home directory, made at their first session on this server (the session
// phase of pam_portal.so, before sshd changes into it). Made the way pam_mkhomedir makes it:
// Linux-PAM's own mkhomedir_helper copies the skeleton (files keep their skeleton modes), all
// owned by the member; the directory's mode is /etc/login.defs' HOME_MODE, else 0777 & ~UMASK.
// An existing path (a directory, a link, anything) is never touched.
#pragma once
#include <security/pam_modules.h>

#include <string>

namespace portal::login_path {

struct HomeOptions {
    bool create = true;                  // module argument mkhomedir=no turns it off
    std::string skel = "/etc/skel";      // skel=PATH
    std::string login_defs = "/etc/login.defs";
    std::string helper = "/sbin/mkhomedir_helper";
};

// Makes `user`'s home when it does not exist. `uid` is the member's (the name must resolve to
// it here). Logs what it did or why not; never fails the session (a missing home is sshd's
// warning, a refused login would lock the member out for a file system problem).
void ensure_home_directory(pam_handle_t* pamh, const std::string& user, unsigned uid, const HomeOptions& options);

}  // namespace portal::login_path
