// Runs programs (run_program) from a small child process forked at the start of a benchmark.
// sshd starts the keys helper from a small process (sshd-session), and a fork copies the
// parent's page tables: from helper_bench's own process, which holds the seeded account, each
// fork cost 1-3 ms on the development VM and decided where the scheduler put the child.
#pragma once
#include <sys/types.h>

#include <string>
#include <vector>

#include "bench/support.h"

namespace portal::bench {

class Spawner {
public:
    Spawner();   // forks the child now: construct it before the process grows
    ~Spawner();  // the child exits when its command pipe closes
    Spawner(const Spawner&) = delete;
    Spawner& operator=(const Spawner&) = delete;

    // run_program() in the child; throws if the child is gone.
    RunResult run(const std::vector<std::string>& argv, const std::vector<std::string>& env,
                  std::string* keep_output = nullptr);

private:
    pid_t pid_ = -1;
    int to_child_ = -1;
    int from_child_ = -1;
};

}  // namespace portal::bench
