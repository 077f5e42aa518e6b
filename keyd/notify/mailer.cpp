#include "keyd/notify/mailer.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cstdio>
#include <exception>

#include "keyd/log/log.h"
#include "keyd/notify/sendmail.h"
#include "keyd/store/timestamp.h"

namespace portal::notify {
namespace {

using SystemClock = std::chrono::system_clock;

constexpr std::array<std::chrono::minutes, kMaxAttempts - 1> kRetryAfter{std::chrono::minutes(1), std::chrono::minutes(5),
                                                                         std::chrono::minutes(30), std::chrono::minutes(120)};

// A header value on one line whatever it holds: the texts are checked API text already, this
// only makes sure no CR or LF can start a header of its own.
std::string one_line(std::string s) {
    for (char& c : s)
        if (c == '\r' || c == '\n') c = ' ';
    return s;
}

std::string rfc5322_date(std::time_t t) {
    std::tm tm{};
    gmtime_r(&t, &tm);
    static constexpr std::array<const char*, 7> kDays{"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr std::array<const char*, 12> kMonths{"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                         "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    std::array<char, 64> buf{};
    std::snprintf(buf.data(), buf.size(), "%s, %02d %s %04d %02d:%02d:%02d +0000", kDays.at(static_cast<std::size_t>(tm.tm_wday)),
                  tm.tm_mday, kMonths.at(static_cast<std::size_t>(tm.tm_mon)), tm.tm_year + 1900, tm.tm_hour, tm.tm_min,
                  tm.tm_sec);
    return buf.data();
}

std::string rfc3339(SystemClock::time_point t) { return store::format_rfc3339(SystemClock::to_time_t(t)); }

// "=?UTF-8?B?...?=" when the subject is not plain ASCII (RFC 2047), else as it is.
std::string encoded_subject(const std::string& s) {
    bool ascii = true;
    for (unsigned char c : s) ascii = ascii && c < 0x80;
    if (ascii) return one_line(s);
    static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out = "=?UTF-8?B?";
    std::size_t i = 0;
    for (; i + 2 < s.size(); i += 3) {
        const unsigned v = (static_cast<unsigned char>(s[i]) << 16) | (static_cast<unsigned char>(s[i + 1]) << 8) |
                           static_cast<unsigned char>(s[i + 2]);
        out += {kB64[(v >> 18) & 63], kB64[(v >> 12) & 63], kB64[(v >> 6) & 63], kB64[v & 63]};
    }
    if (i < s.size()) {
        unsigned v = static_cast<unsigned char>(s[i]) << 16;
        if (i + 1 < s.size()) v |= static_cast<unsigned char>(s[i + 1]) << 8;
        out += kB64[(v >> 18) & 63];
        out += kB64[(v >> 12) & 63];
        out += i + 1 < s.size() ? kB64[(v >> 6) & 63] : '=';
        out += '=';
    }
    return out + "?=";
}

}  // namespace

std::string mail_text(const Notification& n, const std::string& from, std::time_t now) {
    std::string to;
    for (const auto& r : n.recipients) to += (to.empty() ? "" : ", ") + one_line(r);
    std::string host = from.substr(from.find('@') + 1);
    std::string m;
    m += "From: portal-keyd <" + one_line(from) + ">\n";
    m += "To: " + to + "\n";
    m += "Subject: " + encoded_subject(n.subject) + "\n";
    m += "Date: " + rfc5322_date(now) + "\n";
    m += "Message-ID: <" + one_line(n.id) + "@" + one_line(host) + ">\n";
    m += "Auto-Submitted: auto-generated\n";
    m += "MIME-Version: 1.0\n";
    m += "Content-Type: text/plain; charset=utf-8\n";
    m += "Content-Transfer-Encoding: 8bit\n";
    m += "\n";
    m += n.body;
    if (m.back() != '\n') m += '\n';
    return m;
}

Mailer::Mailer(store::Store& store, MailerSettings settings)
    : store_(store), settings_(std::move(settings)), thread_([this] { run(); }) {}

Mailer::~Mailer() {
    {
        std::lock_guard lock(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    thread_.join();
}

void Mailer::poke() {
    {
        std::lock_guard lock(mu_);
        poked_ = true;
    }
    cv_.notify_all();
}

void Mailer::run() {
    pthread_setname_np(pthread_self(), "keyd-mailer");
    std::unique_lock lock(mu_);
    while (!stop_) {
        if (poked_) {
            poked_ = false;
            lock.unlock();
            try {
                prune_daily();
            } catch (const std::exception& e) {
                log::error("notifications: cannot forget the old ones (tried again within a minute)", {{"error", e.what()}});
            }
            try {
                deliver_due();
            } catch (const std::exception& e) {
                log::error("notifications: delivery failed", {{"error", e.what()}});
            }
            lock.lock();
            continue;
        }
        lock.unlock();
        std::chrono::milliseconds wait{60000};
        try {
            wait = until_next();
        } catch (const std::exception& e) {
            log::error("notifications: cannot read the queue", {{"error", e.what()}});
        }
        lock.lock();
        if (!cv_.wait_for(lock, wait, [this] { return stop_ || poked_; })) poked_ = true;  // a retry is due
    }
}

std::chrono::milliseconds Mailer::until_next() {
    const auto next = store_.notifications().next_attempt();
    if (!next) return std::chrono::milliseconds(60000);
    const auto t = store::parse_rfc3339(*next);
    if (!t) return std::chrono::milliseconds(1000);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(SystemClock::from_time_t(*t) - SystemClock::now());
    return std::clamp(left + std::chrono::milliseconds(1000), std::chrono::milliseconds(200), std::chrono::milliseconds(60000));
}

void Mailer::prune_daily() {
    const auto now = SystemClock::now();
    if (now - last_prune_ < std::chrono::hours(24)) return;
    const auto gone = store_.notifications().prune(rfc3339(now - kNotificationsKept));
    last_prune_ = now;  // after it worked: a failed one is tried again at the next look
    if (gone > 0)
        log::info("notifications: settled ones past their keeping time forgotten",
                  {{"count", std::to_string(gone)}, {"kept_days", std::to_string(kNotificationsKept.count() / 24)}});
}

void Mailer::deliver_due() {
    for (;;) {
        const auto now = SystemClock::now();
        const auto due = store_.notifications().due(rfc3339(now), 20);
        if (due.empty()) return;
        for (const auto& n : due) {
            {
                std::lock_guard lock(mu_);
                if (stop_) return;
            }
            if (n.recipients.empty()) {
                store_.notifications().mark_kept(n.id, "the account has no contact with the security role");
                continue;
            }
            if (settings_.sendmail.empty() || ::access(settings_.sendmail.c_str(), X_OK) != 0) {
                store_.notifications().mark_kept(
                    n.id, settings_.sendmail.empty() ? "sending is off ([notifications] sendmail = \"\")"
                                                     : "no mail transfer agent here: " + settings_.sendmail.string() +
                                                           " is not an executable program");
                continue;
            }
            const auto result = run_sendmail(settings_.sendmail, mail_text(n, settings_.from, SystemClock::to_time_t(now)),
                                             settings_.timeout);
            const std::int64_t attempts = n.attempts + 1;
            if (result.ok) {
                store_.notifications().mark_sent(n.id, attempts, rfc3339(SystemClock::now()));
                log::info("notification sent", {{"id", n.id}, {"event", n.event}, {"account", n.account_id},
                                                {"recipients", std::to_string(n.recipients.size())}});
                continue;
            }
            std::optional<std::string> retry_at;
            if (attempts < kMaxAttempts)
                retry_at = rfc3339(SystemClock::now() + kRetryAfter.at(static_cast<std::size_t>(attempts - 1)));
            store_.notifications().mark_unsent(n.id, attempts, result.error, retry_at);
            log::warning(retry_at ? "notification not sent: trying again later" : "notification not sent: given up",
                         {{"id", n.id}, {"event", n.event}, {"error", result.error}, {"attempt", std::to_string(attempts)}});
        }
    }
}

}  // namespace portal::notify
