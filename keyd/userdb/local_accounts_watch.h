// Notices when the machine's own accounts change (/etc/passwd, /etc/group), so that a member
// whose name or uid has just become a local account's is unpublished within a second or so,
// not at the next write. Watches the directory (vipw, useradd and configuration management
// replace the files by an atomic rename) and the files themselves (in-place writes, and a
// file bind-mounted over the name). Bursts (useradd writes both files, then backups) are
// debounced into one call. Names from other NSS sources (LDAP...) are not seen here.
#pragma once
#include <chrono>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <vector>

namespace boost::asio {
class io_context;
}

namespace portal::userdb {

class LocalAccountsWatch {
public:
    using Changed = std::function<void()>;
    // Calls local_accounts_changed() (local_accounts.h), then `changed`, at most once per
    // `debounce` after a change. Throws std::system_error when inotify cannot be set up.
    LocalAccountsWatch(boost::asio::io_context& io, Changed changed,
                       std::chrono::milliseconds debounce = std::chrono::milliseconds(300),
                       std::filesystem::path directory = "/etc",
                       std::vector<std::string> files = {"passwd", "group"});
    ~LocalAccountsWatch();
    LocalAccountsWatch(const LocalAccountsWatch&) = delete;
    LocalAccountsWatch& operator=(const LocalAccountsWatch&) = delete;

    struct Impl;

private:
    std::shared_ptr<Impl> impl_;
};

}  // namespace portal::userdb
