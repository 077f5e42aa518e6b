// Delivers the queued security notifications (store/notifications_table.h) on a thread of its
// own: sendmail may take seconds, and neither the API nor the login path waits for mail. A
// notice is sent once to all its recipients; a failed hand-over is tried again after 1, 5, 30
// and 120 minutes, then given up ("failed"). Without an MTA (no sendmail program) or without a
// security contact, the notice is "kept": visible in `portalctl notifications`, never sent.
// Settled notices (sent, failed, kept) are forgotten kNotificationsKept after they were queued
// (looked at once a day): the table stays the size of half a year of security events.
#pragma once
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "keyd/store/store.h"

namespace portal::notify {

struct MailerSettings {
    std::filesystem::path sendmail = "/usr/sbin/sendmail";  // empty: never send, keep
    std::string from;                                       // From: address
    std::chrono::milliseconds timeout{30000};               // one sendmail run
};

inline constexpr int kMaxAttempts = 5;
inline constexpr std::chrono::hours kNotificationsKept{180 * 24};

// The message as sendmail -t reads it (RFC 5322, UTF-8 body).
std::string mail_text(const Notification& n, const std::string& from, std::time_t now);

class Mailer {
public:
    Mailer(store::Store& store, MailerSettings settings);
    ~Mailer();  // stops and joins the thread (a running sendmail finishes or times out first)
    Mailer(const Mailer&) = delete;
    Mailer& operator=(const Mailer&) = delete;

    // Something may have been queued: look now.
    void poke();

private:
    void run();
    void deliver_due();
    void prune_daily();
    std::chrono::milliseconds until_next();

    store::Store& store_;
    const MailerSettings settings_;
    std::mutex mu_;
    std::condition_variable cv_;
    bool poked_ = true;  // look once at start: what was queued before a restart
    bool stop_ = false;
    std::chrono::system_clock::time_point last_prune_{};  // mailer thread only
    std::thread thread_;  // last: starts once everything above exists
};

}  // namespace portal::notify
