#include "tests/e2e/support/authority.h"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>

namespace portal::e2e {
namespace {

int free_loopback_port_for_authority() {
    const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof a;
    if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0)
        throw std::runtime_error("no free port");
    ::close(fd);
    return ntohs(a.sin_port);
}

}  // namespace

Authority::Authority(const std::filesystem::path& dir, std::uint32_t uid_min, std::uint32_t uid_max)
    : dir_(dir), port_(free_loopback_port_for_authority()), api_(dir / "run" / "api.sock") {
    std::filesystem::create_directories(dir_);
    const auto run = dir_ / "run";
    write_file(dir_ / "authority.toml",
               "[daemon]\nstate_directory = " + quoted((dir_ / "state").string()) + "\nruntime_directory = " +
                   quoted(run.string()) + "\nlog_level = \"debug\"\n[users]\nuid_min = " + std::to_string(uid_min) +
                   "\nuid_max = " + std::to_string(uid_max) + "\n[listen]\nhttps = \"127.0.0.1:" + std::to_string(port_) +
                   "\"\n[login]\nhelper_user = \"nobody\"\n[userdb]\ndropin_directory = " +
                   quoted((run / "userdb").string()) + "\nsocket_directory = " + quoted((run / "userdb-sockets").string()) +
                   "\n[revoke]\nterminate_sessions = false\n");
    start();
    auto r = api_.post("/v1/accounts", {{"name", "E2E portal"}});
    if (r.status != 201) throw std::runtime_error("authority: create account: " + r.describe());
    account_id_ = r.json.at("id").get<std::string>();
    auto server = api_.call("GET", "/v1/server", std::nullopt, 0, account_id_);
    if (server.status != 200 || !server.json["https"].is_object())
        throw std::runtime_error("authority: no HTTPS listener: " + server.describe() + "\n" + tail(log()));
    pin_ = server.json["https"]["pin"].get<std::string>();
}

Authority::~Authority() { stop(); }

void Authority::start() {
    if (process_.running()) return;
    SpawnOptions o;
    o.argv = {PORTAL_KEYD_BIN, "--config", (dir_ / "authority.toml").string()};
    o.env = {{"PATH", "/usr/sbin:/usr/bin:/sbin:/bin"}, {"LANG", "C.UTF-8"},
             {"DBUS_SYSTEM_BUS_ADDRESS", "unix:path=" + (dir_ / "no-such-bus").string()}};
    o.output = dir_ / "authority.log";
    process_ = Process(o);
    if (!wait_until([&] { return !process_.running() || api_.answers(); }, std::chrono::seconds(20)) || !process_.running())
        throw std::runtime_error("the authority did not come up; log:\n" + tail(log()));
}

int Authority::stop() { return process_.running() ? process_.stop(SIGTERM, std::chrono::seconds(10)) : 0; }

std::string Authority::enrolment_token() const {
    auto r = api_.call("POST", "/v1/hosts/enrolments", nlohmann::json::object(), 0, account_id_);
    if (r.status != 201) throw std::runtime_error("authority: enrolment: " + r.describe());
    return r.json.at("token").get<std::string>();
}

}  // namespace portal::e2e
