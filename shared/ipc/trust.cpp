#include "shared/ipc/trust.h"

#include <charconv>
#include <cstdlib>
#include <cstring>

#include <unistd.h>

namespace portal::ipc {

bool is_trusted_uid(uid_t uid) {
    if (uid == 0) return true;
    if (getuid() != geteuid() || getgid() != getegid()) return false;
    const char* v = secure_getenv(kTestAllowUidEnv);
    if (!v || !*v) return false;
    uid_t allowed = 0;
    const char* end = v + std::strlen(v);
    auto [p, ec] = std::from_chars(v, end, allowed);
    if (ec != std::errc() || p != end) return false;
    return allowed == getuid() && uid == allowed;
}

}  // namespace portal::ipc
