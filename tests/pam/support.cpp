#include "tests/pam/support.h"

#include <cstring>
#include <filesystem>

#include <fcntl.h>
#include <poll.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

namespace portal::test {

namespace fs = std::filesystem;

ipc::LoginState sample_state(bool enforce_2fa) {
    ipc::LoginState s;
    s.revision = 1;
    s.generated_at = std::time(nullptr);
    s.grace_seconds = 3600;
    s.account_id = "acc_test";
    s.enforce_2fa = enforce_2fa;
    auto add = [&](const char* name, Role role, MemberStatus status, bool tfa, bool published = true) {
        ipc::LoginMember m;
        m.unix_name = name;
        m.uid = 200000 + static_cast<std::uint32_t>(s.members.size());
        m.user_id = std::string("usr_") + name;
        m.role = role;
        m.status = status;
        m.tfa_enabled = tfa;
        m.published = published;
        m.keys = {{std::string("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI") + name + "1 " + name + "@laptop",
                   std::string("SHA256:") + name + "-1"},
                  {std::string("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI") + name + "2 " + name + "@desktop",
                   std::string("SHA256:") + name + "-2"}};
        s.members.push_back(std::move(m));
    };
    add("alice", Role::owner, MemberStatus::active, true);
    add("bob", Role::manager, MemberStatus::active, false);
    add("carol", Role::owner, MemberStatus::deactivated, false);
    add("dave", Role::support, MemberStatus::active, false);
    add("root", Role::owner, MemberStatus::active, false, /*published=*/false);
    return s;
}

PortalFixture::PortalFixture() {
    fs::create_directories(kDir);
    ::unlink(kSocket.c_str());
    write_state(sample_state());
    start_daemon();
}

PortalFixture::~PortalFixture() {
    stop_daemon();
    remove_state();
}

void PortalFixture::start_daemon() {
    if (!server_) server_ = std::make_unique<FakeLoginServer>(kSocket, handler);
}

void PortalFixture::stop_daemon() { server_.reset(); }

void PortalFixture::write_state(const ipc::LoginState& s, std::time_t mtime) {
    std::string error;
    INFO(error);
    REQUIRE(ipc::write_whole_state_dir(kStateDir, s, ipc::StateFileMode{0640, {}, {}}, ipc::StateFileMode{0750, {}, {}},
                                       error));
    if (mtime) {  // the header's mtime is when the daemon last confirmed the state
        const std::string header = kStateDir + "/" + ipc::kStateHeaderName;
        timespec times[2] = {{mtime, 0}, {mtime, 0}};
        REQUIRE(::utimensat(AT_FDCWD, header.c_str(), times, 0) == 0);
    }
}

void PortalFixture::remove_state() {
    std::error_code ec;
    fs::remove_all(kStateDir, ec);
}

Conv::Conv(std::vector<const char*> answers) : echo_off(std::move(answers)) {
    echo_off.push_back(nullptr);
    for (std::size_t i = 0; i < err.size(); ++i) {
        err[i] = ebuf[i].data();
        info[i] = ibuf[i].data();
    }
    data.in_echo_off = echo_off.data();
    data.out_err = err.data();
    data.out_info = info.data();
}

int pamtest_run(const char* service, const char* user, pamtest_ops op, Conv& conv) {
    std::vector<pam_testcase> tc{pam_test(op, PAM_SUCCESS)};
    // The case's own result is what we check; PAMTEST_ERR_CASE just means "not PAM_SUCCESS".
    const auto rc = _pamtest(service, user, &conv.data, tc.data(), tc.size(), nullptr);
    INFO("pamtest: " << pamtest_strerror(rc));
    CHECK((rc == PAMTEST_ERR_OK || rc == PAMTEST_ERR_CASE));
    return tc[0].op_rv;
}

PamSession::PamSession(const char* service, const char* user, Transcript& t) {
    conv_.conv = &PamSession::converse;
    conv_.appdata_ptr = &t;
    REQUIRE(pam_start(service, user, &conv_, &ph_) == PAM_SUCCESS);
}

PamSession::~PamSession() {
    if (ph_) pam_end(ph_, PAM_SUCCESS);
}

void PamSession::set_item(int type, const char* value) { REQUIRE(pam_set_item(ph_, type, value) == PAM_SUCCESS); }

int PamSession::converse(int n, const pam_message** msg, pam_response** resp, void* data) {
    auto& t = *static_cast<Transcript*>(data);
    auto* r = static_cast<pam_response*>(std::calloc(static_cast<std::size_t>(n), sizeof(pam_response)));
    if (!r) return PAM_BUF_ERR;
    for (int i = 0; i < n; ++i) {
        t.messages.push_back({msg[i]->msg_style, msg[i]->msg ? msg[i]->msg : ""});
        if (msg[i]->msg_style == PAM_PROMPT_ECHO_OFF || msg[i]->msg_style == PAM_PROMPT_ECHO_ON) {
            if (t.answers.empty()) {
                for (int j = 0; j < i; ++j) std::free(r[j].resp);
                std::free(r);
                return PAM_CONV_ERR;
            }
            r[i].resp = ::strdup(t.answers.front().c_str());
            t.answers.erase(t.answers.begin());
        }
    }
    *resp = r;
    return PAM_SUCCESS;
}

namespace {

void drain(int fd, std::string& out) {
    char buf[65536];
    for (;;) {
        const ssize_t n = ::read(fd, buf, sizeof buf);
        if (n > 0) out.append(buf, static_cast<std::size_t>(n));
        else if (n < 0 && errno == EINTR) continue;
        else return;
    }
}

}  // namespace

ProcessResult run_process(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                          bool close_stdout_early) {
    int out[2], err[2];
    REQUIRE(::pipe2(out, O_CLOEXEC) == 0);
    REQUIRE(::pipe2(err, O_CLOEXEC) == 0);
    std::vector<char*> av, ev;
    for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
    av.push_back(nullptr);
    for (const auto& e : env) ev.push_back(const_cast<char*>(e.c_str()));
    ev.push_back(nullptr);
    if (close_stdout_early) ::close(out[0]);  // the reader is gone before the child writes
    const pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        ::dup2(out[1], STDOUT_FILENO);
        ::dup2(err[1], STDERR_FILENO);
        ::execve(av[0], av.data(), ev.data());
        ::_exit(127);
    }
    ::close(out[1]);
    ::close(err[1]);
    ProcessResult r;
    if (!close_stdout_early) {
        drain(out[0], r.out);
        ::close(out[0]);
    }
    drain(err[0], r.err);
    ::close(err[0]);
    int status = 0;
    REQUIRE(::waitpid(pid, &status, 0) == pid);
    if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
    else if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
    return r;
}

}  // namespace portal::test
