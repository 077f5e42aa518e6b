#include "keyd/api/percent_encoding.h"

namespace portal::api {
namespace {

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

bool unreserved(unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
           c == '.' || c == '~';
}

}  // namespace

bool percent_decode(std::string_view in, bool plus_is_space, std::string& out) {
    out.clear();
    out.reserve(in.size());
    for (std::size_t i = 0; i < in.size(); ++i) {
        char c = in[i];
        if (c == '%') {
            if (i + 2 >= in.size()) return false;
            const int hi = hex_value(in[i + 1]);
            const int lo = hex_value(in[i + 2]);
            if (hi < 0 || lo < 0) return false;
            c = static_cast<char>(hi * 16 + lo);
            i += 2;
        } else if (c == '+' && plus_is_space) {
            c = ' ';
        }
        if (c == '\0') return false;
        out += c;
    }
    return true;
}

std::string percent_encode(std::string_view in) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(in.size());
    for (char ch : in) {
        const auto c = static_cast<unsigned char>(ch);
        if (unreserved(c)) {
            out += ch;
        } else {
            out += '%';
            out += hex[c >> 4];
            out += hex[c & 15];
        }
    }
    return out;
}

bool parse_target(std::string_view target, std::string& path,
                  std::multimap<std::string, std::string>& query) {
    if (target.empty() || target.front() != '/') return false;
    std::string_view raw_path = target;
    std::string_view raw_query;
    if (auto q = target.find('?'); q != std::string_view::npos) {
        raw_path = target.substr(0, q);
        raw_query = target.substr(q + 1);
    }
    if (auto h = raw_query.find('#'); h != std::string_view::npos) raw_query = raw_query.substr(0, h);
    std::string decoded;
    if (!percent_decode(raw_path, false, decoded)) return false;  // malformed escapes are refused here
    path.assign(raw_path.data(), raw_path.size());
    while (!raw_query.empty()) {
        auto amp = raw_query.find('&');
        std::string_view pair = raw_query.substr(0, amp);
        raw_query = amp == std::string_view::npos ? std::string_view{} : raw_query.substr(amp + 1);
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        std::string key;
        std::string value;
        if (!percent_decode(pair.substr(0, eq), true, key)) return false;
        if (eq != std::string_view::npos && !percent_decode(pair.substr(eq + 1), true, value)) return false;
        query.emplace(std::move(key), std::move(value));
    }
    return true;
}

}  // namespace portal::api
