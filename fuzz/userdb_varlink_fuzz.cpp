// io.systemd.UserDatabase requests on the userdb provider's socket (keyd/userdb: the
// framing the provider uses and handle_request), from a peer uid the first byte picks,
// against a database of a few members. Every reply is framed JSON objects; lookups and
// enumerations are drained to the end.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "keyd/userdb/user_database.h"
#include "shared/ipc/framing.h"
#include "shared/ipc/login_state.h"

namespace {

using namespace portal;

ipc::LoginMember member(std::string name, std::uint32_t uid, Role role, MemberStatus status, bool published) {
    ipc::LoginMember m;
    m.unix_name = std::move(name);
    m.uid = uid;
    m.user_id = "usr_" + m.unix_name;
    m.role = role;
    m.status = status;
    m.tfa_enabled = role == Role::owner;
    m.published = published;
    m.keys = {{"ssh-ed25519 AAAA " + m.unix_name, "SHA256:x"}};
    return m;
}

std::shared_ptr<const userdb::Database> database() {
    ipc::LoginState state;
    state.account_id = "acc_fuzz";
    state.members = {member("alice", 200001, Role::owner, MemberStatus::active, true),
                     member("bob", 200002, Role::manager, MemberStatus::active, true),
                     member("carol", 200003, Role::manager, MemberStatus::deactivated, true),
                     member("root", 200004, Role::manager, MemberStatus::active, false)};
    userdb::UserdbConfig cfg;
    cfg.role_groups = {{Role::owner, {"sudo"}}};
    return userdb::Database::build(
        state, cfg, [](std::string_view g) { return g == "sudo"; }, [](std::uint32_t gid) { return gid < 1000; });
}

void check_replies(std::string_view out) {
    while (!out.empty()) {
        const auto nul = out.find('\0');
        if (nul == std::string_view::npos) std::abort();  // every message is terminated
        std::string error;
        if (!ipc::parse_message(out.substr(0, nul), error)) std::abort();
        out.remove_prefix(nul + 1);
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const auto db = database();
    if (size < 1) return 0;
    static constexpr std::uint32_t peers[] = {0, 200001, 200002, 65534, UINT32_MAX};
    const std::uint32_t peer = peers[data[0] % 5];
    ipc::MessageBuffer buffer(userdb::kMaxVarlinkRequestBytes);
    buffer.append({reinterpret_cast<const char*>(data + 1), size - 1});
    std::string message;
    for (;;) {
        const auto status = buffer.next(message);
        if (status == ipc::MessageBuffer::Status::need_more) break;
        auto reply = status == ipc::MessageBuffer::Status::too_large ? userdb::request_too_large()
                                                                      : userdb::handle_request(db, message, peer);
        std::string out;
        for (int rounds = 0; reply.fill(out, 4096); ++rounds)
            if (rounds > 100) std::abort();  // four members cannot take this long
        if (!reply.done()) std::abort();
        check_replies(out);
        if (reply.close_after() || status == ipc::MessageBuffer::Status::too_large) break;
    }
    return 0;
}
