#include "keyd/revoke/allowed_record_file.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>

#include "shared/ipc/blocking_io.h"
#include "shared/ipc/state_file.h"
#include "shared/random.h"

namespace portal::revoke {

namespace {

constexpr std::size_t kMaxFileBytes = 64 * 1024 * 1024;
constexpr std::size_t kMinCompactAfter = 1024;

// A root-only file read whole: nullopt with an empty error when it does not exist.
std::optional<std::string> read_record_file(const std::string& path, std::string& error) {
    error.clear();
    ipc::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        if (errno != ENOENT) error = path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    return ipc::read_private_file(fd.get(), path, kMaxFileBytes, S_IWGRP | S_IWOTH, error);
}

}  // namespace

AllowedRecordFile::AllowedRecordFile(std::filesystem::path path) : path_(std::move(path)) {}

std::filesystem::path AllowedRecordFile::journal_path() const {
    auto p = path_;
    p += ".journal";
    return p;
}

std::optional<std::vector<AllowedMember>> AllowedRecordFile::read(std::string& error) {
    found_.reset();
    auto text = read_record_file(path_.string(), error);
    if (!text) return std::nullopt;
    std::string parse_error;
    auto snapshot = allowed_snapshot_from_json(*text, parse_error);
    if (!snapshot) {
        error = path_.string() + ": " + parse_error;
        return std::nullopt;
    }
    if (snapshot->journal.empty()) return std::move(snapshot->members);  // version 1: no journal
    const auto journal = read_record_file(journal_path().string(), error);
    if (!journal) {
        if (!error.empty()) return std::nullopt;
        return std::move(snapshot->members);  // stopped between the snapshot and its journal
    }
    std::size_t applied = 0;
    if (!apply_allowed_journal(*journal, snapshot->journal, snapshot->members, parse_error, &applied)) {
        error = journal_path().string() + ": " + parse_error;
        return std::nullopt;
    }
    // Appending may go on only after whole lines, in this snapshot's own journal (one of
    // another id, from a compaction cut short, was skipped above).
    if (journal->starts_with(allowed_journal_header(snapshot->journal)) && journal->ends_with('\n'))
        found_ = Found{snapshot->members, applied, journal->size()};
    return std::move(snapshot->members);
}

bool AllowedRecordFile::adopt(const std::vector<AllowedMember>& members) {
    if (!found_ || found_->members != members) return false;
    Found found = std::move(*found_);
    found_.reset();
    const std::string journal = journal_path().string();
    ipc::UniqueFd fd(::open(journal.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
    struct stat st {};
    // The journal as read, or the snapshot is written anew.
    if (!fd || ::fstat(fd.get(), &st) != 0 || !S_ISREG(st.st_mode) ||
        static_cast<std::uint64_t>(st.st_size) != found.journal_size)
        return false;
    journal_ = std::move(fd);
    members_ = std::move(found.members);
    journal_lines_ = found.journal_lines;
    held_ = true;
    return true;
}

const AllowedMember* AllowedRecordFile::find(const std::string& unix_name) const {
    auto it = std::lower_bound(members_.begin(), members_.end(), unix_name,
                               [](const AllowedMember& m, const std::string& name) { return m.unix_name < name; });
    return it != members_.end() && it->unix_name == unix_name ? &*it : nullptr;
}

bool AllowedRecordFile::replace(std::vector<AllowedMember> members, std::string& error) {
    found_.reset();
    held_ = false;
    journal_.reset();
    std::stable_sort(members.begin(), members.end(),
                     [](const AllowedMember& a, const AllowedMember& b) { return a.unix_name < b.unix_name; });
    members.erase(std::unique(members.begin(), members.end(),
                              [](const AllowedMember& a, const AllowedMember& b) { return a.unix_name == b.unix_name; }),
                  members.end());
    AllowedSnapshot snapshot{std::move(members), random_id("jnl_")};
    ipc::StateFileMode mode;
    mode.mode = 0600;
    // The snapshot first: a crash before the new journal leaves the old one, of another id.
    if (!ipc::write_file_atomically(path_.string(), allowed_snapshot_to_json(snapshot), mode, error)) return false;
    const std::string journal = journal_path().string();
    if (!ipc::write_file_atomically(journal, allowed_journal_header(snapshot.journal), mode, error, nullptr,
                                    /*sync_directory=*/true))
        return false;
    ipc::UniqueFd fd(::open(journal.c_str(), O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        error = journal + ": " + std::strerror(errno);
        return false;
    }
    journal_ = std::move(fd);
    members_ = std::move(snapshot.members);
    journal_lines_ = 0;
    held_ = true;
    return true;
}

bool AllowedRecordFile::apply(const std::vector<AllowedChange>& changes, std::string& error) {
    if (!held_) {
        error = path_.string() + ": not written by this daemon yet";
        return false;
    }
    if (changes.empty()) return true;
    for (const auto& c : changes) apply_allowed_change(members_, c);
    if (journal_lines_ + changes.size() > std::max(kMinCompactAfter, members_.size() / 4)) {
        ++compactions_;
        return replace(members_, error);  // replace() takes a copy: members_ is reassigned there
    }
    std::string lines;
    for (const auto& c : changes) lines += allowed_change_to_json_line(c);
    // One write of whole lines; a crash may cut it short, and readers skip a last line without
    // its newline. A failed write may leave part of a line: the next write is a new snapshot.
    if (!ipc::write_fully(journal_.get(), lines) || ::fdatasync(journal_.get()) != 0) {
        error = journal_path().string() + ": " + std::strerror(errno);
        held_ = false;
        journal_.reset();
        return false;
    }
    journal_lines_ += changes.size();
    return true;
}

}  // namespace portal::revoke
