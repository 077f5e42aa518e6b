#include "shared/unix_name.h"

#include <algorithm>
#include <array>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <stdexcept>

namespace portal {
namespace {

constexpr std::size_t kMaxName = 32;
// Enough for any real collision chain; a predicate that always answers "taken" must
// not spin forever.
constexpr int kMaxSuffix = 100000;

bool is_lower(char c) { return c >= 'a' && c <= 'z'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_sep(char c) { return c == '_' || c == '-'; }

// Debian base-passwd and common package users/groups, administrative groups, and
// portal-keyd's own names. Sorted: looked up by binary search.
constexpr std::string_view kReserved[] = {
    "adm", "admin", "administrator", "amavis", "apache", "apache2", "audio", "avahi",
    "avahi-autoipd", "backup", "bin", "bind", "cdrom", "centos", "chrony", "clamav",
    "cloud-user", "colord", "crontab", "daemon", "debian", "dhcpcd", "dialout", "dip",
    "disk", "dnsmasq", "docker", "dovecot", "dovenull", "ec2-user", "exim", "fax", "fedora",
    "floppy", "ftp", "games", "gdm", "geoclue", "gnats", "guest", "halt", "httpd", "input",
    "irc", "kmem", "kvm", "libvirt", "libvirt-qemu", "lightdm", "list", "lp", "lpadmin",
    "lxd", "mail", "man", "messagebus", "mysql", "named", "netdev", "news", "nfsnobody",
    "nginx", "nobody", "nogroup", "nscd", "ntp", "ntpsec", "operator", "plugdev", "polkitd",
    "portal", "portal-2fa", "portal-keyd", "postdrop", "postfix", "postgres", "proxy",
    "pulse", "qemu", "redis", "render", "root", "rpc", "rtkit", "sasl", "scanner", "sddm",
    "sgx", "shadow", "shutdown", "smmsp", "src", "sshd", "ssl-cert", "staff", "statd",
    "sudo", "support", "sync", "sys", "tape", "tcpdump", "tss", "tty", "ubuntu", "unbound",
    "usbmux", "users", "utmp", "uucp", "uuidd", "video", "voice", "wheel", "www",
    "www-data",
};
static_assert(std::is_sorted(std::begin(kReserved), std::end(kReserved)));

// Prefixes owned by the system: every name that starts with one is reserved, so a
// derived name must not start with one (appending a number would never help).
bool has_reserved_prefix(std::string_view name) {
    return name.starts_with('_') || name.starts_with("systemd-") || name.starts_with("portal-");
}

// Folds U+00C0..U+017F (Latin-1 Supplement, Latin Extended-A) to ASCII; "" = drop.
std::string_view fold_latin(std::uint32_t cp) {
    if (cp >= 0xC0 && cp <= 0xFF) {
        if (cp == 0xD7 || cp == 0xF7) return "";  // multiplication / division signs
        if (cp == 0xDF) return "ss";
        if (cp == 0xFF) return "y";
        static constexpr std::array<std::string_view, 32> kLatin1 = {
            "a", "a", "a", "a", "a", "a", "ae", "c", "e", "e", "e", "e", "i", "i", "i", "i",
            "d", "n", "o", "o", "o", "o", "o",  "",  "o", "u", "u", "u", "u", "y", "th", "ss"};
        return kLatin1[cp & 0x1F];
    }
    if (cp >= 0x100 && cp <= 0x17F) {
        if (cp == 0x132 || cp == 0x133) return "ij";
        if (cp == 0x152 || cp == 0x153) return "oe";
        static constexpr std::string_view kExtA =
            "aaaaaaccccccccdd" "ddeeeeeeeeeegggg" "gggghhhhiiiiiiii" "ii??jjkkklllllll"
            "lllnnnnnnnnnoooo" "oo??rrrrrrssssss" "ssttttttuuuuuuuu" "uuuuwwyyyzzzzzzs";
        return kExtA.substr(cp - 0x100, 1);
    }
    return "";
}

// Decodes one UTF-8 sequence at s[i]; returns the code point and advances i. Invalid
// or overlong sequences consume one byte and yield U+FFFD (dropped by the caller).
std::uint32_t next_code_point(std::string_view s, std::size_t& i) {
    const auto b0 = static_cast<unsigned char>(s[i]);
    if (b0 < 0x80) {
        ++i;
        return b0;
    }
    std::size_t len = 0;
    std::uint32_t cp = 0;
    if ((b0 & 0xE0) == 0xC0) {
        len = 2;
        cp = b0 & 0x1Fu;
    } else if ((b0 & 0xF0) == 0xE0) {
        len = 3;
        cp = b0 & 0x0Fu;
    } else if ((b0 & 0xF8) == 0xF0) {
        len = 4;
        cp = b0 & 0x07u;
    } else {
        ++i;
        return 0xFFFD;
    }
    if (i + len > s.size()) {
        ++i;
        return 0xFFFD;
    }
    for (std::size_t k = 1; k < len; ++k) {
        const auto b = static_cast<unsigned char>(s[i + k]);
        if ((b & 0xC0) != 0x80) {
            ++i;
            return 0xFFFD;
        }
        cp = (cp << 6) | (b & 0x3Fu);
    }
    static constexpr std::array<std::uint32_t, 5> kMin = {0, 0, 0x80, 0x800, 0x10000};
    if (cp < kMin[len] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        ++i;
        return 0xFFFD;
    }
    i += len;
    return cp;
}

void trim_trailing_seps(std::string& s) {
    while (!s.empty() && is_sep(s.back())) s.pop_back();
}

// Cuts to at most n characters without leaving a trailing separator.
std::string fit(std::string s, std::size_t n) {
    if (s.size() > n) s.resize(n);
    trim_trailing_seps(s);
    return s;
}

// The name before any collision suffix: always valid, and never starting with a
// reserved prefix.
std::string base_name(std::string_view email) {
    std::string_view local = email;
    if (const auto at = local.rfind('@'); at != std::string_view::npos) local = local.substr(0, at);
    if (const auto plus = local.find('+'); plus != std::string_view::npos) local = local.substr(0, plus);

    std::string out;
    auto push = [&out](char c) {
        if (is_sep(c)) {
            // Collapse runs and drop leading separators: they carry no information.
            if (out.empty() || is_sep(out.back())) return;
        }
        out.push_back(c);
    };
    for (std::size_t i = 0; i < local.size() && out.size() <= 4 * kMaxName;) {
        const std::uint32_t cp = next_code_point(local, i);
        if (cp < 0x80) {
            auto c = static_cast<char>(cp);
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
            push(is_lower(c) || is_digit(c) || c == '-' ? c : '_');  // '.', '!', ... -> '_'
        } else {
            for (const char c : fold_latin(cp)) push(c);  // other scripts are dropped
        }
    }
    out = fit(std::move(out), kMaxName);
    if (out.empty()) return "user";
    if (is_digit(out.front()) || has_reserved_prefix(out)) out = fit("u" + out, kMaxName);
    return out;
}

}  // namespace

bool is_valid_unix_name(std::string_view name) {
    if (name.empty() || name.size() > kMaxName) return false;
    if (!is_lower(name.front()) && name.front() != '_') return false;
    const bool chars_ok = std::all_of(name.begin(), name.end(),
                                      [](char c) { return is_lower(c) || is_digit(c) || is_sep(c); });
    const bool all_digits = std::all_of(name.begin(), name.end(), is_digit);
    return chars_ok && !all_digits;
}

bool is_reserved_unix_name(std::string_view name) {
    if (has_reserved_prefix(name)) return true;
    return std::binary_search(std::begin(kReserved), std::end(kReserved), name);
}

std::string derive_unix_name(std::string_view email,
                             const std::function<bool(std::string_view)>& is_taken) {
    const std::string base = base_name(email);
    auto usable = [&is_taken](const std::string& name) {
        return is_valid_unix_name(name) && !is_reserved_unix_name(name) && !(is_taken && is_taken(name));
    };
    if (usable(base)) return base;
    for (int n = 2; n <= kMaxSuffix; ++n) {
        const std::string suffix = std::to_string(n);
        std::string candidate = fit(base, kMaxName - suffix.size()) + suffix;
        if (usable(candidate)) return candidate;
    }
    throw std::runtime_error("derive_unix_name: no free name for base '" + base + "'");
}

}  // namespace portal
