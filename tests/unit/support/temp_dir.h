// A fresh directory for one test under PORTAL_TEST_TMP (tests/CMakeLists.txt), removed with
// everything in it when the test ends.
#pragma once
#include <stdlib.h>

#include <cerrno>
#include <filesystem>
#include <string>
#include <string_view>
#include <system_error>

namespace portal::test {

class TempDir {
public:
    explicit TempDir(std::string_view prefix = "unit") {
        const std::filesystem::path base = PORTAL_TEST_TMP;
        std::filesystem::create_directories(base);
        std::string templ = (base / (std::string(prefix) + "-XXXXXX")).string();
        if (::mkdtemp(templ.data()) == nullptr) throw std::system_error(errno, std::generic_category(), "mkdtemp " + templ);
        path_ = templ;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;

    const std::filesystem::path& path() const { return path_; }
    std::string file(std::string_view name) const { return (path_ / name).string(); }

private:
    std::filesystem::path path_;
};

}  // namespace portal::test
