// The fallback state directory (shared/ipc/state_dir, login_state): the keys helper and
// pam_portal.so read its header and one member's entry when the daemon does not answer. The
// input's first byte picks the file it becomes ('H': the header; anything else: alice's
// entry), the rest is that file's content; the other file is a valid one. What is accepted
// is used the way the login path uses it and survives a write/read round trip unchanged.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <string>
#include <string_view>

#include "fuzz/support/temp_dir.h"
#include "shared/ipc/blocking_io.h"
#include "shared/ipc/login_protocol.h"
#include "shared/ipc/login_rules.h"
#include "shared/ipc/login_state.h"
#include "shared/ipc/state_dir.h"
#include "shared/ipc/trust.h"
#include "shared/ipc/unique_fd.h"

namespace {

using namespace portal::ipc;

LoginState valid_header() {
    LoginState s;
    s.revision = 7;
    s.generated_at = 1'700'000'000;
    s.account_id = "acc_1";
    s.login_roles = {portal::Role::owner, portal::Role::manager, portal::Role::support};  // every rule is reached
    return s;
}

MemberEntry valid_alice() {
    MemberEntry e;
    e.account_id = "acc_1";
    e.revision = 7;
    e.member.unix_name = "alice";
    e.member.uid = 200000;
    e.member.user_id = "usr_1";
    e.member.role = portal::Role::owner;
    e.member.keys = {{"ssh-ed25519 AAAA alice", "SHA256:a"}};
    return e;
}

struct Dir {
    Dir() {
        ::setenv(kTestAllowUidEnv, std::to_string(::getuid()).c_str(), 1);
        ::mkdir(state.c_str(), 0700);
    }
    portal::fuzz::TempDir dir;
    std::string state = (dir.path() / "login-state").string();
    std::string header = state + "/" + kStateHeaderName;
    std::string alice = state + "/alice";
};

void put(const std::string& path, std::string_view content) {
    UniqueFd fd(::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd || !write_fully(fd.get(), content)) std::abort();
}

void use(const LoadedState& loaded, std::string_view user) {
    // A fixed time (support access windows): the verdict must not depend on the wall clock.
    const StateSource source{true, loaded.expired, 1'700'000'100};
    const auto decision = check_account(loaded.state, user, policy_of(loaded.state), source);
    if (decision.allow && !decision.portal_user) std::abort();
    const auto keys = authorized_keys_for(loaded.state, user, std::nullopt, policy_of(loaded.state), source);
    if (!keys.keys.empty() && !decision.allow) std::abort();  // keys only for who may log in
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Dir dir;
    const std::string_view input(reinterpret_cast<const char*>(data), size);
    const bool is_header = !input.empty() && input[0] == 'H';
    const std::string_view content = input.empty() ? input : input.substr(1);
    put(dir.header, is_header ? content : std::string_view(header_to_json(valid_header())));
    put(dir.alice, is_header ? std::string_view(member_entry_to_json(valid_alice())) : content);

    const std::time_t now = 1'700'000'000;
    std::string error;
    auto alice = read_state_dir(dir.state, "alice", error, now);
    if (!alice && error.empty()) std::abort();  // a refusal says why
    if (!alice) return 0;
    // At most the member asked for, and only as named.
    if (alice->state.members.size() > 1) std::abort();
    if (alice->state.members.size() == 1 && alice->state.members[0].unix_name != "alice") std::abort();
    use(*alice, "alice");
    use(*alice, "root");

    // What the daemon would write back reads the same.
    const std::string header_text = header_to_json(alice->state);
    std::string again_error;
    auto header_again = header_from_json(header_text, again_error);
    if (!header_again || header_to_json(*header_again) != header_text) std::abort();
    if (!is_header && !alice->state.members.empty()) {
        auto entry = member_entry_from_json(content, again_error);
        if (!entry || entry->account_id != alice->state.account_id) std::abort();  // stale entries never pass
        const std::string entry_text = member_entry_to_json(*entry);
        auto entry_again = member_entry_from_json(entry_text, again_error);
        if (!entry_again || member_entry_to_json(*entry_again) != entry_text) std::abort();
        if (!(entry_again->member == alice->state.members[0])) std::abort();
    }
    // bob has no entry: not a member, whatever the header says.
    auto bob = read_state_dir(dir.state, "bob", error, now);
    if (!bob || !bob->state.members.empty()) std::abort();
    return 0;
}
