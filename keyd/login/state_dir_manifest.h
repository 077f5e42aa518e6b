// What the state directory holds, as the daemon leaves it at a clean stop, so that the next
// start need not read 10,000 entries back to know which are current (a warm start). Written
// only when the directory holds exactly the state last published; taken (read, then removed
// before anything in the directory changes) at the first write after start. So while it
// exists, the entries are the ones it describes; a crash leaves none, and the next start
// reads every entry (refresher.cpp, reconcile).
//
// Format (text, strict; 0600, in the state directory under a name no member can have):
//   portal-keyd state manifest 2\n
//   account <account id>\n
//   revision <decimal>\n
//   <32 lowercase hex digits: member_digest> <member file name>\n   (one per entry)
#pragma once
#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "shared/ipc/login_state.h"

namespace portal::login {

inline constexpr const char* kManifestName = "keyd.manifest";  // a '.': never a member's
inline constexpr std::size_t kMaxManifestBytes = 16 * 1024 * 1024;

struct StateDirManifest {
    std::string account_id;
    std::uint64_t revision = 0;                               // of the header written with it
    std::unordered_map<std::string, std::string> entries;  // file name -> member_digest
};

// A digest of everything an entry says about its member: SHA-256 over the fields, each
// length-prefixed, its first 128 bits in hex. Equal digests, equal entries, even for key
// names a member chose to collide with (a non-cryptographic hash could be made to).
std::string member_digest(const ipc::LoginMember& m);

std::string manifest_to_text(const StateDirManifest& manifest);
// Strict: the exact header line, a non-empty account id of visible characters, a decimal
// revision, entries with 32 lowercase hex digits and a valid member file name, no name
// twice, every line ended. `error` names the line.
std::optional<StateDirManifest> manifest_from_text(std::string_view text, std::string& error);

// Writes dir/kManifestName (0600, atomically) describing `state`'s entries.
bool write_manifest(const std::string& dir, const ipc::LoginState& state, std::string& error);
// Removes dir/kManifestName and returns what it said. nullopt when there is none, or (with
// `error`) when it cannot be trusted (not a regular file of ours, not 0600, too large,
// invalid): the caller then reads the directory whole. `left_behind`: it could not be removed,
// so the directory must not be written (the manifest would describe a directory that changed).
std::optional<StateDirManifest> take_manifest(const std::string& dir, std::string& error, bool& left_behind);

}  // namespace portal::login
