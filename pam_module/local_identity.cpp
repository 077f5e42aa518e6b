#include "pam_module/local_identity.h"

#include <pwd.h>

#include <cerrno>
#include <vector>

#include "shared/unix_name.h"

namespace portal::login_path {

Resolution resolve_user(const std::string& name) {
    std::vector<char> buf(4096);
    for (;;) {
        passwd entry{};
        passwd* out = nullptr;
        const int rc = ::getpwnam_r(name.c_str(), &entry, buf.data(), buf.size(), &out);
        if (rc == ERANGE && buf.size() < (1u << 20)) {
            buf.resize(buf.size() * 2);
            continue;
        }
        if (rc == 0 && out) return {Resolution::Status::found, out->pw_uid};
        // getpwnam_r reports "no such user" as 0 and a null result (some NSS modules as
        // ENOENT/ESRCH); anything else is a failed lookup.
        if (rc == 0 || rc == ENOENT || rc == ESRCH) return {Resolution::Status::not_found, 0};
        return {Resolution::Status::error, 0};
    }
}

std::optional<std::string_view> not_ours_without_ipc(std::string_view name, const Resolution& local,
                                                     const UidRange& range) {
    if (name == "root") return "root";
    // The daemon only ever gives valid, non-reserved names (shared/unix_name.h).
    if (!is_valid_unix_name(name)) return "not a portal user name";
    if (is_reserved_unix_name(name)) return "a reserved name";
    if (local.found()) {
        if (local.uid == 0) return "uid 0";
        if (!range.contains(local.uid)) return "a local uid outside the portal range";
    }
    return std::nullopt;
}

}  // namespace portal::login_path
