// The allowed record (keyd/revoke/allowed_record.h): a root-only snapshot and journal the
// daemon wrote and reads back at start-up to end sessions of members revoked while it was
// down. The input is the snapshot, a NUL byte, then the journal. Whatever the bytes, the
// parsers answer or refuse with an error; an accepted snapshot round-trips unchanged and
// stays sorted by name after the journal, and a refused journal changes nothing.
#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "keyd/revoke/allowed_record.h"

using namespace portal::revoke;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const auto nul = input.find('\0');
    const std::string_view snapshot_text = input.substr(0, nul);
    const std::string_view journal_text = nul == std::string_view::npos ? std::string_view() : input.substr(nul + 1);

    std::string error;
    auto snapshot = allowed_snapshot_from_json(snapshot_text, error);
    if (!snapshot) {
        if (error.empty()) std::abort();  // a refusal always says why
        snapshot.emplace();
        snapshot->journal = "jnl_fuzz";
    } else {
        std::string again;
        if (!snapshot->journal.empty()) {
            const auto back = allowed_snapshot_from_json(allowed_snapshot_to_json(*snapshot), again);
            if (!back || *back != *snapshot) std::abort();
        }
    }
    const auto before = snapshot->members;
    if (!apply_allowed_journal(journal_text, snapshot->journal, snapshot->members, error)) {
        if (error.empty() || snapshot->members != before) std::abort();
        return 0;
    }
    const auto by_name = [](const AllowedMember& a, const AllowedMember& b) { return a.unix_name < b.unix_name; };
    if (!std::is_sorted(snapshot->members.begin(), snapshot->members.end(), by_name)) std::abort();
    if (std::adjacent_find(snapshot->members.begin(), snapshot->members.end(),
                           [](const auto& a, const auto& b) { return a.unix_name == b.unix_name; }) !=
        snapshot->members.end())
        std::abort();
    // Written again as a snapshot, it reads back the same.
    std::string again;
    const auto back = allowed_snapshot_from_json(allowed_snapshot_to_json({snapshot->members, "jnl_fuzz"}), again);
    if (!back || back->members != snapshot->members) std::abort();
    return 0;
}
