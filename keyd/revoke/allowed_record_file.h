// The allowed record's files (allowed_record.h says what it is for): a snapshot of every
// allowed member (`path`, JSON, 0600) and a journal beside it (`path` + ".journal", 0600) to
// which each refresh appends one line per member whose verdict changed. A revocation costs
// one short append and an fdatasync, not a rewrite of 10,000 entries; the journal is folded
// into a new snapshot once it holds more lines than max(1,024, members / 4) (compaction: a new
// snapshot naming a new journal id, then an empty journal of that id; a crash between the two
// leaves a journal of the old id, which readers skip).
#pragma once
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "keyd/revoke/allowed_record.h"
#include "shared/ipc/unique_fd.h"

namespace portal::revoke {

class AllowedRecordFile {
public:
    explicit AllowedRecordFile(std::filesystem::path path);

    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path journal_path() const;

    // What the files hold, sorted by unix_name: nullopt with an empty error when there is no
    // record, with an error when it is unreadable or invalid (a file not owned by our euid,
    // or writable by group or others, counts as invalid).
    // Remembers what it read, for adopt().
    std::optional<std::vector<AllowedMember>> read(std::string& error);

    // A restart that finds who is allowed unchanged keeps the files instead of rewriting them:
    // when the last read() found exactly `members` and a journal of its snapshot that ends
    // with a whole line, this object holds the files as they are and appends to that journal.
    // Returns false, and changes nothing, otherwise (then replace()).
    bool adopt(const std::vector<AllowedMember>& members);

    // Makes the files hold exactly `members` (any order; a name given twice keeps its first).
    bool replace(std::vector<AllowedMember> members, std::string& error);
    // Records changes to what this object last wrote (held() only): one journal append, or a
    // new snapshot when the journal is due for compaction. On failure held() turns false and
    // the next write must be a replace().
    bool apply(const std::vector<AllowedChange>& changes, std::string& error);

    // Whether the files hold members(): after a successful replace(), until a failure.
    bool held() const { return held_; }
    const std::vector<AllowedMember>& members() const { return members_; }
    const AllowedMember* find(const std::string& unix_name) const;
    std::size_t journal_lines() const { return journal_lines_; }
    std::size_t compactions() const { return compactions_; }

private:
    std::filesystem::path path_;
    std::vector<AllowedMember> members_;  // sorted by unix_name
    bool held_ = false;
    ipc::UniqueFd journal_;  // open for appending while held_
    std::size_t journal_lines_ = 0;
    std::size_t compactions_ = 0;
    // What read() found, while its files could be taken over as they are (see adopt()).
    struct Found {
        std::vector<AllowedMember> members;
        std::size_t journal_lines = 0;
        std::uint64_t journal_size = 0;
    };
    std::optional<Found> found_;
};

}  // namespace portal::revoke
