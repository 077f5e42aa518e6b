#include "keyd/log/log.h"

#include <syslog.h>
#include <systemd/sd-journal.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <mutex>

namespace portal::log {
namespace {

std::atomic<Level> g_min{Level::info};
std::atomic<bool> g_journal{false};
std::mutex g_stderr_mutex;

int priority(Level l) {
    switch (l) {
        case Level::debug: return LOG_DEBUG;
        case Level::info: return LOG_INFO;
        case Level::warning: return LOG_WARNING;
        case Level::error: return LOG_ERR;
    }
    return LOG_INFO;
}

std::string_view name(Level l) {
    switch (l) {
        case Level::debug: return "debug";
        case Level::info: return "info";
        case Level::warning: return "warning";
        case Level::error: return "error";
    }
    return "info";
}

bool needs_quotes(std::string_view v) {
    if (v.empty()) return true;
    for (char c : v)
        if (c == ' ' || c == '"' || c == '=') return true;
    return false;
}

}  // namespace

std::string sanitize(std::string_view in, std::size_t max_len) {
    std::string out;
    out.reserve(std::min(in.size(), max_len) + 8);
    static const char hex[] = "0123456789abcdef";
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (out.size() >= max_len) {
            out += "...";
            break;
        }
        auto c = static_cast<unsigned char>(in[i]);
        if (c == '\\' || c == '"') {
            out += '\\';
            out += static_cast<char>(c);
        } else if (c < 0x20 || c >= 0x7f) {
            out += "\\x";
            out += hex[c >> 4];
            out += hex[c & 15];
        } else {
            out += static_cast<char>(c);
        }
    }
    return out;
}

void init(Level min_level) {
    g_min = min_level;
    // systemd sets JOURNAL_STREAM for services whose stderr goes to the journal.
    g_journal = std::getenv("JOURNAL_STREAM") != nullptr && std::getenv("PORTAL_KEYD_LOG_STDERR") == nullptr;
}

void set_level(Level min_level) { g_min = min_level; }

bool parse_level(std::string_view t, Level& out) {
    if (t == "debug") out = Level::debug;
    else if (t == "info") out = Level::info;
    else if (t == "warning") out = Level::warning;
    else if (t == "error") out = Level::error;
    else return false;
    return true;
}

void write(Level level, std::string_view message, const Fields& fields) {
    if (level < g_min.load()) return;
    std::string line(message);
    for (const auto& [k, v] : fields) {
        std::string value = sanitize(v);
        line += ' ';
        line += k;
        line += '=';
        if (needs_quotes(value)) {
            line += '"';
            line += value;
            line += '"';
        } else {
            line += value;
        }
    }
    if (g_journal) {
        sd_journal_send("MESSAGE=%s", line.c_str(), "PRIORITY=%d", priority(level), "SYSLOG_IDENTIFIER=portal-keyd",
                        nullptr);
        return;
    }
    std::lock_guard lock(g_stderr_mutex);
    std::fprintf(stderr, "portal-keyd[%d]: %.*s: %s\n", static_cast<int>(getpid()), static_cast<int>(name(level).size()),
                 name(level).data(), line.c_str());
    std::fflush(stderr);
}

}  // namespace portal::log
