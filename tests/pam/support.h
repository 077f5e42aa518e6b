// Shared by the PAM tests: the fixture (state directory + fake daemon at the paths the generated
// service files name), a PAM conversation that records everything, and a child runner.
#pragma once
#include <catch2/catch.hpp>

#include <security/pam_appl.h>
extern "C" {
#include <libpamtest.h>
}

#include <array>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "shared/ipc/state_dir.h"
#include "shared/ipc/trust.h"
#include "tests/pam/fake_login_server.h"

namespace portal::test {

inline const std::string kDir = PAM_TEST_DIR;
inline const std::string kSocket = kDir + "/login.sock";
inline const std::string kStateDir = kDir + "/login-state";  // the fallback directory

// alice: owner with 2FA; bob: manager without; carol: deactivated; dave: support (role not
// allowed); root: a colliding name the daemon did not publish.
ipc::LoginState sample_state(bool enforce_2fa = false);

// Writes the state directory (or removes it) and runs the fake daemon (or not).
class PortalFixture {
public:
    PortalFixture();
    ~PortalFixture();
    void start_daemon();
    void stop_daemon();
    void write_state(const ipc::LoginState& s, std::time_t mtime = 0);
    void remove_state();
    StateHandler handler{sample_state()};

private:
    std::unique_ptr<FakeLoginServer> server_;
};

// libpamtest's conversation data: answers for echo-off prompts, zeroed message buffers.
struct Conv {
    std::array<std::array<char, PAM_MAX_MSG_SIZE>, 8> ebuf{}, ibuf{};
    std::array<char*, 8> err{}, info{};
    std::vector<const char*> echo_off;
    pamtest_conv_data data{};
    explicit Conv(std::vector<const char*> answers = {});
    std::string error(std::size_t i = 0) const { return err[i]; }
};

// Runs one PAM operation through libpamtest; returns what the stack returned.
int pamtest_run(const char* service, const char* user, pamtest_ops op, Conv& conv);

// A PAM transaction with our own conversation (records prompts and messages) and items.
struct Transcript {
    struct Message {
        int style;
        std::string text;
    };
    std::vector<Message> messages;
    std::vector<std::string> answers;  // for echo-off/on prompts, in order
};
class PamSession {
public:
    PamSession(const char* service, const char* user, Transcript& t);
    ~PamSession();
    void set_item(int type, const char* value);
    pam_handle_t* handle() const { return ph_; }

private:
    static int converse(int n, const pam_message** msg, pam_response** resp, void* data);
    pam_handle_t* ph_ = nullptr;
    pam_conv conv_{};
};

// Runs a program with exactly `env` (no LD_PRELOAD leaks into it) and collects its output.
struct ProcessResult {
    int exit_code = -1;  // -1: killed by a signal (see signal)
    int signal = 0;
    std::string out, err;
};
ProcessResult run_process(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                          bool close_stdout_early = false);

}  // namespace portal::test
