// Reading a userdb drop-in (ours or someone else's) and telling whose it is: shared by the
// drop-in writer and the local-account checks.
#pragma once
#include <sys/types.h>

#include <string>
#include <string_view>

namespace portal::userdb {

// Larger files are not read (not a drop-in of ours, and not worth the memory).
inline constexpr off_t kMaxDropinBytes = 1024 * 1024;

// Up to `size` bytes of `name` in the directory `dfd` ("" when unreadable or over
// kMaxDropinBytes). O_NONBLOCK: a FIFO planted there cannot hang us. follow_links = false
// refuses symlinks (O_NOFOLLOW).
std::string read_dropin(int dfd, const std::string& name, off_t size, bool follow_links);

// The JSON "service" field of a drop-in's content, "" when there is none.
std::string dropin_service(std::string_view content);

}  // namespace portal::userdb
