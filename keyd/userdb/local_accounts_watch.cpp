#include "keyd/userdb/local_accounts_watch.h"

#include <sys/inotify.h>
#include <unistd.h>

#include <array>
#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <cstring>
#include <exception>
#include <map>
#include <system_error>
#include <utility>

#include "keyd/log/log.h"
#include "keyd/userdb/local_accounts.h"

namespace portal::userdb {

namespace asio = boost::asio;
using error_code = boost::system::error_code;

struct LocalAccountsWatch::Impl : std::enable_shared_from_this<LocalAccountsWatch::Impl> {
    Impl(asio::io_context& io, Changed c, std::chrono::milliseconds d, std::filesystem::path dir,
         std::vector<std::string> f)
        : changed(std::move(c)), debounce(d), directory(std::move(dir)), files(std::move(f)), stream(io), timer(io) {}

    Changed changed;
    std::chrono::milliseconds debounce;
    std::filesystem::path directory;
    std::vector<std::string> files;
    asio::posix::stream_descriptor stream;  // owns the inotify fd
    asio::steady_timer timer;
    bool pending = false;
    std::map<std::string, int> file_watches;  // file name -> watch on the file itself

    void start() {
        const int fd = ::inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
        if (fd < 0) throw std::system_error(errno, std::generic_category(), "inotify_init1");
        stream.assign(fd);
        constexpr std::uint32_t dir_events =
            IN_CLOSE_WRITE | IN_MOVED_TO | IN_MOVED_FROM | IN_CREATE | IN_DELETE | IN_ATTRIB | IN_ONLYDIR;
        if (::inotify_add_watch(fd, directory.c_str(), dir_events) < 0)
            throw std::system_error(errno, std::generic_category(), "inotify_add_watch " + directory.string());
        watch_files();
        read();
    }

    // A watch on each file's current inode: in-place writes (and a bind mount over the name,
    // which the directory never hears about). Re-added after every change: a rename brings a
    // new inode.
    void watch_files() {
        constexpr std::uint32_t file_events = IN_CLOSE_WRITE | IN_MODIFY | IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF;
        for (const auto& name : files) {
            const int wd = ::inotify_add_watch(stream.native_handle(), (directory / name).c_str(), file_events);
            auto it = file_watches.find(name);
            if (it != file_watches.end() && it->second != wd) ::inotify_rm_watch(stream.native_handle(), it->second);
            if (wd >= 0) file_watches[name] = wd;
            else file_watches.erase(name);
        }
    }

    bool concerns_us(const inotify_event& e) const {
        if (e.mask & IN_Q_OVERFLOW) return true;
        if (e.len == 0) {  // an event on a watched file itself (the directory's have a name)
            for (const auto& [name, wd] : file_watches)
                if (wd == e.wd) return true;
            return false;
        }
        const std::string name(e.name);
        for (const auto& f : files)
            if (f == name) return true;
        return false;
    }

    void read() {
        std::weak_ptr<Impl> weak = weak_from_this();
        stream.async_wait(asio::posix::descriptor_base::wait_read, [weak](const error_code& ec) {
            auto self = weak.lock();
            if (!self || ec) return;
            self->drain();
            self->read();
        });
    }

    void drain() {
        alignas(inotify_event) std::array<char, 16 * 1024> buf;
        bool relevant = false;
        for (;;) {
            const ssize_t n = ::read(stream.native_handle(), buf.data(), buf.size());
            if (n < 0 && errno == EINTR) continue;
            if (n <= 0) break;
            for (ssize_t at = 0; at + static_cast<ssize_t>(sizeof(inotify_event)) <= n;) {
                const auto* e = reinterpret_cast<const inotify_event*>(buf.data() + at);
                if (concerns_us(*e)) relevant = true;
                at += static_cast<ssize_t>(sizeof(inotify_event) + e->len);
            }
        }
        if (!relevant) return;
        watch_files();
        schedule();
    }

    // The first change arms the timer; later ones within `debounce` ride along.
    void schedule() {
        if (pending) return;
        pending = true;
        timer.expires_after(debounce);
        std::weak_ptr<Impl> weak = weak_from_this();
        timer.async_wait([weak](const error_code& ec) {
            auto self = weak.lock();
            if (!self || ec) return;
            self->pending = false;
            self->watch_files();  // the final inodes of the burst
            log::info("local accounts changed: checking members against them again",
                      {{"directory", self->directory.string()}});
            local_accounts_changed();
            try {
                if (self->changed) self->changed();
            } catch (const std::exception& e) {
                log::error("local accounts changed: re-check failed", {{"error", e.what()}});
            }
        });
    }
};

LocalAccountsWatch::LocalAccountsWatch(asio::io_context& io, Changed changed, std::chrono::milliseconds debounce,
                                       std::filesystem::path directory, std::vector<std::string> files)
    : impl_(std::make_shared<Impl>(io, std::move(changed), debounce, std::move(directory), std::move(files))) {
    impl_->start();
}

LocalAccountsWatch::~LocalAccountsWatch() {
    error_code ignored;
    impl_->timer.cancel();
    impl_->stream.cancel(ignored);
}

}  // namespace portal::userdb
