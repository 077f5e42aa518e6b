// Logging: the journal when running under systemd, stderr otherwise. Messages are
// a fixed text plus key=value fields; values are escaped and truncated, so a remote
// user's strings cannot forge log lines. Callers never pass secrets.
#pragma once
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portal::log {

enum class Level { debug, info, warning, error };

using Fields = std::vector<std::pair<std::string_view, std::string>>;

void init(Level min_level);                 // picks journal or stderr
void set_level(Level min_level);
bool parse_level(std::string_view text, Level& out);
void write(Level level, std::string_view message, const Fields& fields = {});

inline void debug(std::string_view m, const Fields& f = {}) { write(Level::debug, m, f); }
inline void info(std::string_view m, const Fields& f = {}) { write(Level::info, m, f); }
inline void warning(std::string_view m, const Fields& f = {}) { write(Level::warning, m, f); }
inline void error(std::string_view m, const Fields& f = {}) { write(Level::error, m, f); }

// Escapes control and non-ASCII bytes and bounds the length (OpenSSH's %.200s habit).
std::string sanitize(std::string_view untrusted, std::size_t max_len = 200);

}  // namespace portal::log
