// Hands one message to the machine's mail transfer agent through the sendmail interface every
// MTA provides (`sendmail -t -i`: recipients from the To: header, a lone "." is not the end).
// The program runs in a process group of its own with an empty environment but PATH, and is
// killed at a monotonic deadline: a wedged MTA cannot hold the mailer for longer.
#pragma once
#include <chrono>
#include <filesystem>
#include <string>

namespace portal::notify {

struct SendResult {
    bool ok = false;
    std::string error;  // why not: "exit status 75: <first line of its stderr>", "timed out after 30 s"...
};

SendResult run_sendmail(const std::filesystem::path& program, const std::string& message, std::chrono::milliseconds timeout);

}  // namespace portal::notify
