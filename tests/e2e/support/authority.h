// A second portal-keyd for the agent cases: the authority an e2e World's daemon follows. It
// lives in its own directory with private userdb directories (the World owns the namespace's
// /run/userdb), listens for HTTPS on 127.0.0.1:<port> (the same port after a restart), and
// gives its uids from the World's range so that the agent publishes them as they are.
#pragma once
#include <cstdint>
#include <filesystem>
#include <string>

#include "tests/e2e/support/api.h"
#include "tests/e2e/support/process.h"

namespace portal::e2e {

class Authority {
public:
    Authority(const std::filesystem::path& dir, std::uint32_t uid_min, std::uint32_t uid_max);
    ~Authority();
    void start();
    int stop();

    const Api& api() const { return api_; }
    std::filesystem::path api_socket() const { return dir_ / "run" / "api.sock"; }
    std::string url() const { return "https://127.0.0.1:" + std::to_string(port_); }
    const std::string& pin() const { return pin_; }
    const std::string& account_id() const { return account_id_; }
    // A one-use enrolment token for its account.
    std::string enrolment_token() const;
    std::string log() const { return read_file(dir_ / "authority.log"); }

private:
    std::filesystem::path dir_;
    int port_ = 0;
    Api api_;
    Process process_;
    std::string pin_;
    std::string account_id_;
};

}  // namespace portal::e2e
