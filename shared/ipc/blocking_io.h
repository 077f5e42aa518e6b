// Plain blocking writes for files and pipes (the login sockets use framing.h, with deadlines).
#pragma once
#include <string_view>

namespace portal::ipc {

// Writes all of `data`, retrying EINTR and short writes; false on any other error (errno set).
bool write_fully(int fd, std::string_view data);

}  // namespace portal::ipc
