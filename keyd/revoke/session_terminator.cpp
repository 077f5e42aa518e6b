// All sd-bus code of the daemon lives here. Threading: the io_context's single thread.
#include "keyd/revoke/session_terminator.h"

#include <dirent.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
// glibc 2.36's <sys/pidfd.h> lacks __BEGIN_DECLS: without this the C++ names do not link.
extern "C" {
#include <sys/pidfd.h>
}
#include <systemd/sd-bus.h>
#include <unistd.h>

#include <boost/asio/io_context.hpp>
#include <boost/asio/posix/stream_descriptor.hpp>
#include <boost/asio/steady_timer.hpp>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <list>
#include <string_view>
#include <utility>

#include "keyd/log/log.h"
#include "shared/ipc/unique_fd.h"

namespace portal::revoke {

namespace asio = boost::asio;
using error_code = boost::system::error_code;

namespace {

struct BusUnref {
    void operator()(sd_bus* b) const noexcept { sd_bus_flush_close_unref(b); }
};
struct SlotUnref {
    void operator()(sd_bus_slot* s) const noexcept { sd_bus_slot_unref(s); }
};
using BusPtr = std::unique_ptr<sd_bus, BusUnref>;
using SlotPtr = std::unique_ptr<sd_bus_slot, SlotUnref>;

using Fd = ipc::UniqueFd;

std::string read_small_file(const std::string& path) {
    Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW));
    if (fd.get() < 0) return {};
    std::string out;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::read(fd.get(), buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
        if (out.size() > 64 * 1024) break;
    }
    return out;
}

// From /proc/<pid>/status: the real and effective uids, and whether it is a zombie.
struct ProcInfo {
    bool ok = false;
    uid_t real = 0, effective = 0;
    bool zombie = false;
};

ProcInfo proc_info(const std::filesystem::path& proc, std::string_view pid) {
    ProcInfo info;
    const std::string text = read_small_file((proc / std::string(pid) / "status").string());
    bool have_uid = false;
    std::size_t pos = 0;
    while (pos < text.size()) {
        std::size_t end = text.find('\n', pos);
        if (end == std::string::npos) end = text.size();
        std::string_view line(text.data() + pos, end - pos);
        pos = end + 1;
        if (line.rfind("State:", 0) == 0) {
            // "State:\tZ (zombie)": the letter after the blanks; X is "dead".
            const std::size_t at = line.find_first_not_of(" \t", 6);
            info.zombie = at != std::string_view::npos && (line[at] == 'Z' || line[at] == 'X');
        } else if (line.rfind("Uid:", 0) == 0) {
            // "Uid:\t<real>\t<effective>\t<saved>\t<fs>"
            uid_t ids[2] = {0, 0};
            std::size_t i = 4;
            int got = 0;
            while (got < 2 && i < line.size()) {
                while (i < line.size() && (line[i] == '\t' || line[i] == ' ')) ++i;
                const char* first = line.data() + i;
                const char* last = line.data() + line.size();
                auto [p, ec] = std::from_chars(first, last, ids[got]);
                if (ec != std::errc() || p == first) break;
                i = static_cast<std::size_t>(p - line.data());
                ++got;
            }
            if (got == 2) {
                info.real = ids[0];
                info.effective = ids[1];
                have_uid = true;
            }
        }
    }
    info.ok = have_uid;
    return info;
}

bool all_digits(std::string_view s) {
    if (s.empty()) return false;
    for (char c : s)
        if (c < '0' || c > '9') return false;
    return true;
}

// Sends `sig` to `pid` if it still runs as `uid`. With a pidfd the process is pinned
// before its uid is read, so a recycled pid can never receive the signal.
bool signal_if_uid(const std::filesystem::path& proc, pid_t pid, uid_t uid, int sig) {
    Fd pidfd(::pidfd_open(pid, 0));
    if (pidfd.get() < 0 && errno != ENOSYS && errno != EPERM) return false;  // gone (ESRCH)
    const ProcInfo info = proc_info(proc, std::to_string(pid));
    if (!info.ok || info.zombie || (info.real != uid && info.effective != uid)) return false;
    if (pidfd.get() >= 0) return ::pidfd_send_signal(pidfd.get(), sig, nullptr, 0) == 0;
    return ::kill(pid, sig) == 0;
}

std::size_t signal_all(const std::filesystem::path& proc, uid_t uid, int sig) {
    std::size_t n = 0;
    for (pid_t pid : processes_of_uid(proc, uid))
        if (pid != ::getpid() && signal_if_uid(proc, pid, uid, sig)) ++n;
    return n;
}

}  // namespace

std::vector<pid_t> processes_of_uid(const std::filesystem::path& proc, uid_t uid) {
    std::vector<pid_t> out;
    std::unique_ptr<DIR, int (*)(DIR*)> dir(::opendir(proc.c_str()), ::closedir);
    if (!dir) return out;
    while (dirent* e = ::readdir(dir.get())) {
        const std::string_view name = e->d_name;
        if (!all_digits(name)) continue;
        const ProcInfo info = proc_info(proc, name);
        if (!info.ok || info.zombie || (info.real != uid && info.effective != uid)) continue;
        pid_t pid = 0;
        std::from_chars(name.data(), name.data() + name.size(), pid);
        out.push_back(pid);
    }
    return out;
}

struct SessionTerminator::Impl : std::enable_shared_from_this<SessionTerminator::Impl> {
    Impl(asio::io_context& io_, TerminatorSettings s) : io(io_), settings(std::move(s)), bus_fd(io_), bus_timer(io_) {}
    ~Impl() { drop_bus(/*fallback=*/false); }

    struct PendingCall {
        Impl* impl = nullptr;
        std::uint32_t uid = 0;
        SlotPtr slot;
    };

    asio::io_context& io;
    TerminatorSettings settings;
    Observer observer;
    BusPtr bus;
    asio::posix::stream_descriptor bus_fd;  // wraps sd-bus's fd; released, never closed, by us
    asio::steady_timer bus_timer;           // sd-bus's own timeouts (method call replies)
    bool reading = false, writing = false;
    std::list<PendingCall> pending;         // stable addresses: the calls' userdata

    void report(std::uint32_t uid, const std::string& how) {
        if (observer) observer(uid, how);
    }

    bool in_range(std::uint32_t uid) const {
        return uid >= 1000 && uid >= settings.uid_min && uid <= settings.uid_max;
    }

    void terminate(std::uint32_t uid) {
        if (!in_range(uid)) {
            log::error("revoke: refusing to end sessions of a uid outside the portal range", {{"uid", std::to_string(uid)}});
            report(uid, "refused");
            return;
        }
        if (!ensure_bus()) return signal_user(uid, "no system bus");
        sd_bus_slot* slot = nullptr;
        auto& call = pending.emplace_back(PendingCall{this, uid, nullptr});
        const int r = sd_bus_call_method_async(bus.get(), &slot, "org.freedesktop.login1", "/org/freedesktop/login1",
                                               "org.freedesktop.login1.Manager", "TerminateUser", on_reply, &call,
                                               "u", uid);
        if (r < 0) {
            pending.pop_back();
            drop_bus(true);
            return signal_user(uid, std::string("sd-bus call failed: ") + std::strerror(-r));
        }
        call.slot.reset(slot);
        log::info("revoke: asking logind to end the user's sessions", {{"uid", std::to_string(uid)}});
        pump();
    }

    bool ensure_bus() {
        if (bus) return true;
        sd_bus* b = nullptr;
        // Honours DBUS_SYSTEM_BUS_ADDRESS; connects without blocking on the Hello reply.
        const int r = sd_bus_open_system(&b);
        if (r < 0) {
            log::debug("revoke: no system bus", {{"error", std::strerror(-r)}});
            return false;
        }
        bus.reset(b);
        const int fd = sd_bus_get_fd(bus.get());
        if (fd < 0) {
            bus.reset();
            return false;
        }
        error_code ec;
        bus_fd.assign(fd, ec);
        if (ec) {
            bus.reset();
            return false;
        }
        return true;
    }

    // The connection broke (or we stop): forget it; calls still waiting fall back to signals.
    void drop_bus(bool fallback) {
        if (!bus) return;
        error_code ignored;
        bus_fd.cancel(ignored);
        (void)bus_fd.release();
        bus_timer.cancel();
        reading = writing = false;
        std::vector<std::uint32_t> uids;
        for (auto& c : pending) uids.push_back(c.uid);
        pending.clear();  // unrefs the slots: their callbacks never run
        bus.reset();
        if (fallback)
            for (auto uid : uids) signal_user(uid, "system bus connection lost");
    }

    // A C boundary (sd-bus calls it from sd_bus_process): nothing may unwind through it. On an
    // exception the user's processes are still ended, with signals.
    static int on_reply(sd_bus_message* m, void* userdata, sd_bus_error*) noexcept {
        auto* call = static_cast<PendingCall*>(userdata);
        Impl* self = call->impl;
        const std::uint32_t uid = call->uid;
        std::string what = "unknown exception";
        try {
            return handle_reply(m, call);
        } catch (const std::exception& e) {
            what = e.what();
        } catch (...) {
        }
        try {
            log::error("revoke: internal error handling logind's reply; ending the user's processes with signals",
                       {{"uid", std::to_string(uid)}, {"error", what}});
            self->pending.remove_if([call](const PendingCall& c) { return &c == call; });
            self->signal_user(uid, "internal error");
        } catch (...) {  // out of memory at worst: nothing more to do here
        }
        return 1;
    }

    static int handle_reply(sd_bus_message* m, PendingCall* call) {
        Impl* self = call->impl;
        const std::uint32_t uid = call->uid;
        std::string failure;
        if (sd_bus_message_is_method_error(m, nullptr)) {
            const sd_bus_error* e = sd_bus_message_get_error(m);
            failure = e && e->name ? e->name : "unknown error";
            if (e && e->message) failure += std::string(": ") + e->message;
        }
        // Erasing unrefs our slot; sd-bus holds its own reference while this callback runs.
        self->pending.remove_if([call](const PendingCall& c) { return &c == call; });
        if (failure.empty()) {
            log::info("revoke: logind ended the user's sessions", {{"uid", std::to_string(uid)}});
            self->report(uid, "logind");
        } else {
            // ServiceUnknown/NameHasNoOwner (no logind), NoSuchUser (processes outside any
            // logind session may still run), AccessDenied, timeouts: signals do the job.
            self->signal_user(uid, failure);
        }
        return 1;
    }

    void pump() {
        if (!bus) return;
        for (;;) {
            const int r = sd_bus_process(bus.get(), nullptr);
            if (r < 0) {
                log::warning("revoke: system bus connection failed", {{"error", std::strerror(-r)}});
                drop_bus(true);
                return;
            }
            if (!bus) return;  // a callback dropped it
            if (r == 0) break;
        }
        arm();
    }

    void arm() {
        const int events = sd_bus_get_events(bus.get());
        if (events < 0) {
            drop_bus(true);
            return;
        }
        std::weak_ptr<Impl> weak = weak_from_this();
        if ((events & POLLIN) && !reading) {
            reading = true;
            bus_fd.async_wait(asio::posix::descriptor_base::wait_read, [weak](const error_code& ec) {
                auto self = weak.lock();
                if (!self || ec == asio::error::operation_aborted) return;
                self->reading = false;
                self->pump();
            });
        }
        if ((events & POLLOUT) && !writing) {
            writing = true;
            bus_fd.async_wait(asio::posix::descriptor_base::wait_write, [weak](const error_code& ec) {
                auto self = weak.lock();
                if (!self || ec == asio::error::operation_aborted) return;
                self->writing = false;
                self->pump();
            });
        }
        std::uint64_t usec = 0;
        if (sd_bus_get_timeout(bus.get(), &usec) >= 0 && usec != UINT64_MAX) {
            // sd-bus's timeouts are CLOCK_MONOTONIC, as std::chrono::steady_clock on Linux.
            bus_timer.expires_at(std::chrono::steady_clock::time_point(std::chrono::microseconds(usec)));
            bus_timer.async_wait([weak](const error_code& ec) {
                auto self = weak.lock();
                if (!self || ec) return;
                self->pump();
            });
        }
    }

    // Fallback: SIGTERM now, SIGKILL for whatever runs as the uid after the grace period.
    void signal_user(std::uint32_t uid, const std::string& why) {
        const std::size_t n = signal_all(settings.proc, uid, SIGTERM);
        log::info("revoke: ending the user's processes with signals",
                  {{"uid", std::to_string(uid)}, {"why", why}, {"signalled", std::to_string(n)}});
        report(uid, "signals");
        auto timer = std::make_shared<asio::steady_timer>(io, settings.kill_grace);
        std::weak_ptr<Impl> weak = weak_from_this();
        timer->async_wait([weak, timer, uid](const error_code& ec) {
            auto self = weak.lock();
            if (!self || ec) return;
            // Two sweeps: the second catches children forked while the first ran.
            std::size_t killed = signal_all(self->settings.proc, uid, SIGKILL);
            killed += signal_all(self->settings.proc, uid, SIGKILL);
            if (killed > 0)
                log::warning("revoke: processes outlived SIGTERM, killed",
                             {{"uid", std::to_string(uid)}, {"killed", std::to_string(killed)}});
        });
    }
};

SessionTerminator::SessionTerminator(asio::io_context& io, TerminatorSettings settings)
    : impl_(std::make_shared<Impl>(io, std::move(settings))) {}

SessionTerminator::~SessionTerminator() = default;

void SessionTerminator::terminate_user(std::uint32_t uid) { impl_->terminate(uid); }

void SessionTerminator::set_observer(Observer o) { impl_->observer = std::move(o); }

}  // namespace portal::revoke
