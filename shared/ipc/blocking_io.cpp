#include "shared/ipc/blocking_io.h"

#include <unistd.h>

#include <cerrno>

namespace portal::ipc {

bool write_fully(int fd, std::string_view data) {
    while (!data.empty()) {
        const ssize_t n = ::write(fd, data.data(), data.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

}  // namespace portal::ipc
