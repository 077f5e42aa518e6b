// The fallback state file (shared/ipc/state_file, login_state): the keys helper reads it
// as an unprivileged user when the daemon does not answer. The input is the file's content;
// it is read with and without the one-member filter, and what is accepted is used the way
// the login path uses it and survives a write/read round trip unchanged.
#include <fcntl.h>
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
#include "shared/ipc/state_file.h"
#include "shared/ipc/trust.h"
#include "shared/ipc/unique_fd.h"

namespace {

using namespace portal::ipc;

struct File {
    File() { ::setenv(kTestAllowUidEnv, std::to_string(::getuid()).c_str(), 1); }
    portal::fuzz::TempDir dir;
    std::string path = (dir.path() / "login-state.json").string();
};

void use(const LoadedState& loaded, std::string_view user) {
    const StateSource source{true, loaded.expired};
    const auto decision = check_account(loaded.state, user, policy_of(loaded.state), source);
    if (decision.allow && !decision.portal_user) std::abort();
    const auto keys = authorized_keys_for(loaded.state, user, std::nullopt, policy_of(loaded.state), source);
    if (!keys.keys.empty() && !decision.allow) std::abort();  // keys only for who may log in
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static File file;
    {
        UniqueFd fd(::open(file.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
        if (!fd || !write_fully(fd.get(), {reinterpret_cast<const char*>(data), size})) std::abort();
    }
    const std::time_t now = 1'700'000'000;
    std::string error;
    auto all = read_state_file(file.path, error, now);
    if (!all && error.empty()) std::abort();  // a refusal says why
    error.clear();
    auto alice = read_state_file(file.path, error, now, std::string_view("alice"));
    if (all) {
        use(*all, "alice");
        use(*all, "root");
        // What the daemon would write back reads the same.
        const std::string text = to_json(all->state);
        std::string again_error;
        auto again = login_state_from_json(text, again_error);
        if (!again || to_json(*again) != text) std::abort();
        // The filtered read keeps the one member as the full read has it.
        if (!alice) std::abort();
        const auto* full = all->state.find("alice");
        const auto* one = alice->state.find("alice");
        if ((full == nullptr) != (one == nullptr) || alice->state.members.size() > 1) std::abort();
        if (full && full->keys.size() != one->keys.size()) std::abort();
    }
    if (alice) use(*alice, "alice");
    return 0;
}
