#include "fuzz/support/temp_dir.h"

#include <stdlib.h>

#include <cerrno>
#include <system_error>

namespace portal::fuzz {

TempDir::TempDir() {
    std::error_code ec;
    const std::filesystem::path base = std::filesystem::is_directory("/dev/shm", ec) ? "/dev/shm" : "/tmp";
    std::string templ = (base / "portal-fuzz-XXXXXX").string();
    if (::mkdtemp(templ.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp " + templ);
    path_ = templ;
}

TempDir::~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
}

}  // namespace portal::fuzz
