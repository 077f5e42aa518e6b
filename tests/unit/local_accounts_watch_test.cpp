// LocalAccountsWatch on a directory of the test's own: a file replaced by rename, written in
// place, or created is noticed; other files are not; a burst is one call.
#include <boost/asio/io_context.hpp>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <string>

#include "keyd/userdb/local_accounts_watch.h"
#include "tests/unit/support/temp_dir.h"

namespace local_accounts_watch_test {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

void write(const fs::path& p, const std::string& text) { std::ofstream(p, std::ios::trunc) << text; }

// Runs `io` until `calls` reaches `n` or 5 s pass; then for `settle` more, to see extra calls.
void run_until_calls(boost::asio::io_context& io, const int& calls, int n, std::chrono::milliseconds settle = 0ms) {
    const auto end = std::chrono::steady_clock::now() + 5s;
    while (calls < n && std::chrono::steady_clock::now() < end) {
        io.restart();
        io.run_for(20ms);
    }
    if (settle > 0ms) {
        io.restart();
        io.run_for(settle);
    }
}

}  // namespace

TEST_CASE("local accounts watch: rename, in-place write and creation are noticed, once per burst") {
    portal::test::TempDir dir;
    write(dir.path() / "passwd", "root:x:0:0::/root:/bin/sh\n");
    boost::asio::io_context io;
    int calls = 0;
    portal::userdb::LocalAccountsWatch watch(io, [&] { ++calls; }, 100ms, dir.path(), {"passwd", "group"});

    SECTION("replaced by rename (vipw), with an in-place write in the same burst") {
        write(dir.path() / "passwd.edit", "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/:/bin/sh\n");
        fs::rename(dir.path() / "passwd.edit", dir.path() / "passwd");
        write(dir.path() / "passwd", "root:x:0:0::/root:/bin/sh\nbob:x:1001:1001::/:/bin/sh\n");
        run_until_calls(io, calls, 1, 300ms);
        CHECK(calls == 1);
        // The watch follows the new file: a later in-place write is a new change.
        std::ofstream(dir.path() / "passwd", std::ios::app) << "carol:x:1002:1002::/:/bin/sh\n";
        run_until_calls(io, calls, 2);
        CHECK(calls == 2);
    }
    SECTION("a file that did not exist appears") {
        write(dir.path() / "group", "root:x:0:\n");
        run_until_calls(io, calls, 1);
        CHECK(calls == 1);
    }
    SECTION("other files in the directory are none of its business") {
        write(dir.path() / "hosts", "127.0.0.1 localhost\n");
        fs::rename(dir.path() / "hosts", dir.path() / "hosts.old");
        run_until_calls(io, calls, 0, 400ms);  // 4 debounce periods
        CHECK(calls == 0);
    }
}

TEST_CASE("local accounts watch: a directory that cannot be watched is an error") {
    portal::test::TempDir dir;
    boost::asio::io_context io;
    CHECK_THROWS(portal::userdb::LocalAccountsWatch(io, [] {}, 100ms, dir.path() / "missing"));
}

}  // namespace local_accounts_watch_test
