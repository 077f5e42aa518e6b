// A private 0700 directory for one fuzzing process (on /dev/shm when there is one: the
// state-file and API targets write to it on every input), removed at exit.
#pragma once
#include <filesystem>
#include <string>

namespace portal::fuzz {

class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

}  // namespace portal::fuzz
