// The authorized-keys helper as sshd runs it: a child process, exit status and stdout.
#include "tests/pam/support.h"

#include <atomic>
#include <csignal>
#include <filesystem>
#include <fstream>
#include <sstream>

using namespace portal;
using namespace portal::ipc;
using namespace portal::test;

namespace {

std::vector<std::string> helper_env() {
    return {"PORTAL_KEYD_LOGIN_SOCKET=" + kSocket, "PORTAL_KEYD_STATE_DIR=" + kStateDir,
            std::string(kTestAllowUidEnv) + "=" + std::to_string(::getuid())};
}

ProcessResult helper(std::vector<std::string> args, bool close_stdout_early = false) {
    args.insert(args.begin(), AUTHORIZED_KEYS_BIN);
    return run_process(args, helper_env(), close_stdout_early);
}

std::vector<std::string> lines(const std::string& s) {
    std::vector<std::string> out;
    std::istringstream in(s);
    for (std::string l; std::getline(in, l);) out.push_back(l);
    return out;
}

// sshd's %U for a member whose name resolves to the member's own account.
std::string uid_of(const char* user) { return std::to_string(sample_state().find(user)->uid); }

std::vector<std::string> keys_of(const char* user) {
    std::vector<std::string> out;
    const LoginState s = sample_state();
    for (const auto& k : s.find(user)->keys) out.push_back(k.line);
    return out;
}

}  // namespace

TEST_CASE("authorized-keys: online answers", "[helper]") {
    PortalFixture fx;
    auto r = helper({"alice", uid_of("alice")});
    CHECK(r.exit_code == 0);
    CHECK(lines(r.out) == keys_of("alice"));  // 2FA members get keys online; the code follows

    r = helper({"--", "bob", uid_of("bob"), "SHA256:bob-2"});
    CHECK(r.exit_code == 0);
    CHECK(lines(r.out) == std::vector<std::string>{keys_of("bob")[1]});

    for (const char* user : {"carol", "dave", "root", "localuser"}) {
        INFO(user);
        r = helper({user, "200001"});
        CHECK(r.exit_code == 0);
        CHECK(r.out.empty());
    }
    r = helper({"bob", uid_of("bob"), "SHA256:not-a-key-of-bob"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());

    const auto reqs = fx.handler.requests();
    REQUIRE_FALSE(reqs.empty());
    const auto& q = std::get<GetAuthorizedKeysRequest>(reqs[1]);
    CHECK(q.user == "bob");
    CHECK(q.fingerprint == std::optional<std::string>("SHA256:bob-2"));
}

TEST_CASE("authorized-keys: daemon down, fallback to the state directory", "[helper]") {
    PortalFixture fx;
    fx.stop_daemon();
    auto r = helper({"bob", uid_of("bob")});
    CHECK(r.exit_code == 0);
    CHECK(lines(r.out) == keys_of("bob"));
    CHECK(r.err.find("using the state directory") != std::string::npos);
    // The fallback checks the uid too.
    r = helper({"bob", "4242", "SHA256:bob-2"});
    CHECK(r.out.empty());

    r = helper({"alice", uid_of("alice")});  // 2FA member: no keys without the daemon
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());

    fx.write_state(sample_state(), std::time(nullptr) - 7200);
    r = helper({"bob", uid_of("bob")});
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());

    // Only bob's entry is read: another member's broken entry does not concern him ...
    fx.write_state(sample_state());
    {
        std::ofstream broken(kStateDir + "/carol", std::ios::trunc);
        broken << "{";
    }
    r = helper({"bob", uid_of("bob")});
    CHECK(lines(r.out) == keys_of("bob"));
    // ... but his own entry written for another account is stale: no keys.
    LoginState other = sample_state();
    other.account_id = "acc_other";
    const std::string elsewhere = kDir + "/other-state";
    std::string error;
    REQUIRE(write_whole_state_dir(elsewhere, other, StateFileMode{0640, {}, {}}, StateFileMode{0750, {}, {}}, error));
    REQUIRE(::rename((elsewhere + "/bob").c_str(), (kStateDir + "/bob").c_str()) == 0);
    std::filesystem::remove_all(elsewhere);
    r = helper({"bob", uid_of("bob")});
    CHECK(r.out.empty());
    CHECK(r.err.find("written for another account") != std::string::npos);
    // A name that cannot be a member's never becomes a path (here: bob's entry from outside).
    r = helper({"../login-state/bob", uid_of("bob")});
    CHECK(r.out.empty());

    fx.remove_state();
    r = helper({"bob", uid_of("bob")});
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());
}

TEST_CASE("authorized-keys: misuse exits 0 with a message on stderr", "[helper]") {
    for (const auto& args : std::vector<std::vector<std::string>>{{}, {""}, {"a", "b", "c"}}) {
        auto r = helper(args);
        CHECK(r.exit_code == 0);
        CHECK(r.out.empty());
        CHECK(r.err.find("usage") != std::string::npos);
    }
}

TEST_CASE("authorized-keys: paths as options only in front of -- - %u can never be an option", "[helper]") {
    PortalFixture fx;
    const std::vector<std::string> only_trust = {std::string(kTestAllowUidEnv) + "=" + std::to_string(::getuid())};
    // No environment: the options name the fixture's socket and state directory.
    auto r = run_process(
        {AUTHORIZED_KEYS_BIN, "--socket=" + kSocket, "--state=" + kStateDir, "--", "alice", uid_of("alice")}, only_trust);
    CHECK(r.exit_code == 0);
    CHECK(lines(r.out) == keys_of("alice"));
    fx.stop_daemon();  // the state directory given by --state answers now
    r = run_process({AUTHORIZED_KEYS_BIN, "--socket=" + kSocket, "--state=" + kStateDir, "--", "bob", uid_of("bob")},
                    only_trust);
    CHECK(lines(r.out) == keys_of("bob"));
    fx.start_daemon();

    // A user name that looks like an option is a user name when there is no "--" (the
    // command line of the first releases was "authorized-keys %u %f"): the daemon is asked about it.
    r = helper({"--socket=/tmp/evil.sock", "SHA256:x"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());
    const auto reqs = fx.handler.requests();
    REQUIRE_FALSE(reqs.empty());
    REQUIRE(std::holds_alternative<GetAuthorizedKeysRequest>(reqs.back()));
    CHECK(std::get<GetAuthorizedKeysRequest>(reqs.back()).user == "--socket=/tmp/evil.sock");
    // ... and after "--" too.
    r = helper({"--", "--state=/tmp/evil.json"});
    CHECK(r.out.empty());
    CHECK(std::get<GetAuthorizedKeysRequest>(fx.handler.requests().back()).user == "--state=/tmp/evil.json");

    // Unknown options and relative paths: usage, no keys.
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--sock=/x", "--", "alice"}, {"--socket=relative.sock", "--", "alice"}, {"--state=", "--", "alice"},
             {"--", "alice", "SHA256:a", "extra"}, {"--", "alice", "200000", "SHA256:a", "extra"},
             {"--", "alice", "4294967296", "SHA256:a"}, {"--", "alice", "-1", "SHA256:a"}, {"--"}}) {
        r = helper(args);
        CHECK(r.exit_code == 0);
        CHECK(r.out.empty());
        CHECK(r.err.find("usage") != std::string::npos);
    }
}

TEST_CASE("authorized-keys: sshd closing the pipe early is not a crash", "[helper]") {
    PortalFixture fx;
    // Enough keys to overflow a pipe buffer, so the helper is still writing when it notices.
    LoginState s = sample_state();
    auto& bob = s.members[1];
    for (int i = 0; i < 3000; ++i)
        bob.keys.push_back({"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIbulk" + std::to_string(i) + " bulk", "SHA256:b" + std::to_string(i)});
    fx.handler.set_state(s);
    auto r = helper({"bob", uid_of("bob")}, /*close_stdout_early=*/true);
    CHECK(r.signal == 0);
    CHECK(r.exit_code == 0);
    auto full = helper({"bob", uid_of("bob")});
    CHECK(lines(full.out).size() == 3002);
}

TEST_CASE("authorized-keys: a key line with a newline is never printed", "[helper]") {
    PortalFixture fx;
    struct Evil : StateHandler {
        GetAuthorizedKeysReply get_authorized_keys(const GetAuthorizedKeysRequest&) override {
            return {true, {"ssh-ed25519 AAAA ok", "ssh-ed25519 AAAA x\ncommand=\"sh\" ssh-rsa BBBB", ""}, 200001};
        }
    } evil;
    fx.stop_daemon();
    FakeLoginServer server(kSocket, evil);
    auto r = helper({"bob", "200001"});
    CHECK(lines(r.out) == std::vector<std::string>{"ssh-ed25519 AAAA ok"});
}

TEST_CASE("authorized-keys: keys only for the uid sshd resolved (%U), in every command form", "[helper][local]") {
    PortalFixture fx;
    const std::string bob = uid_of("bob");
    // The installed form: -- %u %U %f.
    auto r = helper({"--", "bob", bob, "SHA256:bob-2"});
    CHECK(lines(r.out) == std::vector<std::string>{keys_of("bob")[1]});
    r = helper({"--", "bob", bob});  // %u %U
    CHECK(lines(r.out) == keys_of("bob"));

    // A local account named like the member (another uid): never the member's keys, online...
    for (const auto& args : std::vector<std::vector<std::string>>{
             {"--", "bob", "4242", "SHA256:bob-2"}, {"--", "bob", "4242"}, {"--", "bob", "0", "SHA256:bob-1"}}) {
        r = helper(args);
        CHECK(r.exit_code == 0);
        CHECK(r.out.empty());
        CHECK(r.err.find("not printing the keys") != std::string::npos);
    }
    // ... nor from the state directory.
    fx.stop_daemon();
    r = helper({"--", "bob", "4242", "SHA256:bob-2"});
    CHECK(r.out.empty());
    r = helper({"--", "bob", bob, "SHA256:bob-2"});
    CHECK(lines(r.out) == std::vector<std::string>{keys_of("bob")[1]});
    fx.start_daemon();

    // The drop-in before %U (-- %u %f, or %u alone): the helper resolves the name itself, as
    // sshd did; a name NSS does not know here gets nothing (bob is the fake daemon's member
    // only), and a local account named like a member gets nothing either ("root", uid 0,
    // answered as a member by a daemon that does not know better).
    r = helper({"--", "bob", "SHA256:bob-2"});
    CHECK(r.out.empty());
    r = helper({"bob"});
    CHECK(r.out.empty());
    struct RootAsMember : StateHandler {
        std::atomic<std::uint32_t> uid{200001};
        GetAuthorizedKeysReply get_authorized_keys(const GetAuthorizedKeysRequest&) override {
            return {true, {"ssh-ed25519 AAAA member"}, uid.load()};
        }
    } confused;
    fx.stop_daemon();
    FakeLoginServer server(kSocket, confused);
    r = helper({"--", "root", "SHA256:x"});
    CHECK(r.out.empty());
    r = helper({"--", "root", "0", "SHA256:x"});
    CHECK(r.out.empty());
    CHECK(server.connections() == 2);  // the daemon was asked: the refusal is the helper's
    // Where the uids agree, the old form still prints (the lookup found uid 0 for root).
    confused.uid = 0;
    r = helper({"--", "root", "SHA256:x"});
    CHECK(lines(r.out) == std::vector<std::string>{"ssh-ed25519 AAAA member"});
}

TEST_CASE("authorized-keys: the form without %U runs authorized-keys-nss from the same directory", "[helper][local]") {
    PortalFixture fx;
    // The fake daemon calls root a member with uid 0, which NSS agrees with: only a program
    // that looked the name up prints (the sibling; authorized-keys has no NSS).
    struct RootAsMember : StateHandler {
        GetAuthorizedKeysReply get_authorized_keys(const GetAuthorizedKeysRequest&) override {
            return {true, {"ssh-ed25519 AAAA member"}, 0};
        }
    } root_member;
    fx.stop_daemon();
    FakeLoginServer server(kSocket, root_member);
    auto r = helper({"--", "root", "SHA256:x"});
    CHECK(lines(r.out) == std::vector<std::string>{"ssh-ed25519 AAAA member"});

    // authorized-keys alone in a directory: the %U form works, the other prints nothing and
    // says what is missing (no keys is the safe answer).
    const std::filesystem::path alone = kDir + "/helper-alone";
    std::filesystem::remove_all(alone);
    std::filesystem::create_directories(alone);
    std::filesystem::copy_file(AUTHORIZED_KEYS_BIN, alone / "authorized-keys");
    const auto run_alone = [&](std::vector<std::string> args) {
        args.insert(args.begin(), (alone / "authorized-keys").string());
        return run_process(args, helper_env());
    };
    r = run_alone({"--", "root", "0", "SHA256:x"});
    CHECK(lines(r.out) == std::vector<std::string>{"ssh-ed25519 AAAA member"});
    const auto connections = server.connections();
    r = run_alone({"--", "root", "SHA256:x"});
    CHECK(r.exit_code == 0);
    CHECK(r.out.empty());
    CHECK(r.err.find((alone / "authorized-keys-nss").string()) != std::string::npos);
    CHECK(r.err.find("without %U") != std::string::npos);
    CHECK(server.connections() == connections);  // nothing asked before giving up
    std::filesystem::remove_all(alone);
}
