#include "keyd/userdb/dropin_file.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

#include <nlohmann/json.hpp>

#include "shared/ipc/unique_fd.h"

namespace portal::userdb {

std::string read_dropin(int dfd, const std::string& name, off_t size, bool follow_links) {
    if (size < 0 || size > kMaxDropinBytes) return {};
    ipc::UniqueFd fd(::openat(dfd, name.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC | (follow_links ? 0 : O_NOFOLLOW)));
    if (!fd) return {};
    std::string content(static_cast<std::size_t>(size), '\0');
    std::size_t got = 0;
    while (got < content.size()) {
        const ssize_t n = ::read(fd.get(), content.data() + got, content.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        got += static_cast<std::size_t>(n);
    }
    content.resize(got);
    return content;
}

std::string dropin_service(std::string_view content) {
    auto j = nlohmann::json::parse(content, nullptr, false);
    if (!j.is_object()) return {};
    auto it = j.find("service");
    return it != j.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace portal::userdb
