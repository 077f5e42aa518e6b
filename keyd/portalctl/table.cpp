#include "keyd/portalctl/table.h"

#include <algorithm>
#include <cstdint>

namespace portal::ctl {
namespace {

// Decodes one UTF-8 sequence at s[i]; returns its length, or 0 if invalid
// (overlong, surrogate, > U+10FFFF, truncated).
std::size_t decode_utf8(std::string_view s, std::size_t i, char32_t& cp) {
    auto b = [&](std::size_t k) { return static_cast<unsigned char>(s[i + k]); };
    const unsigned char c = b(0);
    std::size_t len = 0;
    char32_t min = 0;
    if (c < 0x80) {
        cp = c;
        return 1;
    } else if ((c & 0xE0) == 0xC0) {
        len = 2, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
        len = 3, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
        len = 4, cp = c & 0x07, min = 0x10000;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    for (std::size_t k = 1; k < len; ++k) {
        if ((b(k) & 0xC0) != 0x80) return 0;
        cp = (cp << 6) | (b(k) & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
    return len;
}

bool must_escape(char32_t cp) {
    return cp < 0x20 || (cp >= 0x7F && cp <= 0x9F) ||       // C0, DEL, C1 (0x9B is CSI)
           cp == 0x061C || cp == 0x200E || cp == 0x200F ||  // bidi marks
           (cp >= 0x202A && cp <= 0x202E) ||                // bidi embeddings/overrides
           (cp >= 0x2066 && cp <= 0x2069) ||                // bidi isolates
           cp == 0x2028 || cp == 0x2029 || cp == 0xFEFF;    // line/para separators, BOM
}

bool is_combining(char32_t cp) {
    return (cp >= 0x0300 && cp <= 0x036F) || (cp >= 0x1AB0 && cp <= 0x1AFF) ||
           (cp >= 0x1DC0 && cp <= 0x1DFF) || (cp >= 0x20D0 && cp <= 0x20FF) ||
           (cp >= 0xFE00 && cp <= 0xFE0F) || (cp >= 0xFE20 && cp <= 0xFE2F) ||
           cp == 0x200B || cp == 0x200C || cp == 0x200D;
}

bool is_wide(char32_t cp) {
    return (cp >= 0x1100 && cp <= 0x115F) || (cp >= 0x2E80 && cp <= 0x303E) ||
           (cp >= 0x3041 && cp <= 0x33FF) || (cp >= 0x3400 && cp <= 0x4DBF) ||
           (cp >= 0x4E00 && cp <= 0x9FFF) || (cp >= 0xA000 && cp <= 0xA4CF) ||
           (cp >= 0xAC00 && cp <= 0xD7A3) || (cp >= 0xF900 && cp <= 0xFAFF) ||
           (cp >= 0xFE30 && cp <= 0xFE4F) || (cp >= 0xFF00 && cp <= 0xFF60) ||
           (cp >= 0xFFE0 && cp <= 0xFFE6) || (cp >= 0x1F300 && cp <= 0x1F64F) ||
           (cp >= 0x1F900 && cp <= 0x1F9FF) || (cp >= 0x20000 && cp <= 0x3FFFD);
}

void append_hex(std::string& out, std::uint32_t v, int digits) {
    static constexpr char hex[] = "0123456789abcdef";
    for (int d = digits - 1; d >= 0; --d) out.push_back(hex[(v >> (d * 4)) & 0xF]);
}

}  // namespace

std::string term_safe(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        const std::size_t len = decode_utf8(s, i, cp);
        if (len == 0) {
            out += "\\x";
            append_hex(out, static_cast<unsigned char>(s[i]), 2);
            ++i;
            continue;
        }
        if (!must_escape(cp)) {
            out.append(s.substr(i, len));
        } else if (cp == '\n') {
            out += "\\n";
        } else if (cp == '\t') {
            out += "\\t";
        } else if (cp == '\r') {
            out += "\\r";
        } else if (cp < 0x80) {
            out += "\\x";
            append_hex(out, static_cast<std::uint32_t>(cp), 2);
        } else {
            out += "\\u{";
            append_hex(out, static_cast<std::uint32_t>(cp), 4);
            out += '}';
        }
        i += len;
    }
    return out;
}

std::string term_safe_json(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        std::size_t len = decode_utf8(s, i, cp);
        if (len == 0) {  // not expected from a serializer; never pass it through raw
            out += "\\ufffd";
            ++i;
            continue;
        }
        if (cp == '\r') {
            // whitespace between tokens: dropping it keeps the value
        } else if (cp >= 0x20 && must_escape(cp)) {
            out += "\\u";
            append_hex(out, static_cast<std::uint32_t>(cp), 4);
        } else {
            out.append(s.substr(i, len));
        }
        i += len;
    }
    return out;
}

std::size_t display_width(std::string_view s) {
    std::size_t w = 0;
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        std::size_t len = decode_utf8(s, i, cp);
        if (len == 0) len = 1, cp = '?';
        w += is_combining(cp) ? 0 : is_wide(cp) ? 2 : 1;
        i += len;
    }
    return w;
}

std::string truncate_to_width(std::string_view s, std::size_t max) {
    if (display_width(s) <= max) return std::string(s);
    if (max == 0) return {};
    std::string out;
    std::size_t w = 0;
    for (std::size_t i = 0; i < s.size();) {
        char32_t cp = 0;
        std::size_t len = decode_utf8(s, i, cp);
        if (len == 0) len = 1, cp = '?';
        const std::size_t cw = is_combining(cp) ? 0 : is_wide(cp) ? 2 : 1;
        if (w + cw > max - 1) break;  // keep one column for the ellipsis
        out.append(s.substr(i, len));
        w += cw;
        i += len;
    }
    return out + "\u2026";
}

Table::Table(std::vector<std::string> headers, std::size_t max_cell_width)
    : headers_(std::move(headers)), max_cell_width_(max_cell_width) {}

void Table::add_row(std::vector<std::string> cells) {
    cells.resize(headers_.size());
    for (auto& c : cells) c = truncate_to_width(term_safe(c), max_cell_width_);
    rows_.push_back(std::move(cells));
}

void Table::print(std::ostream& out) const {
    std::vector<std::size_t> width(headers_.size());
    for (std::size_t i = 0; i < headers_.size(); ++i) width[i] = display_width(headers_[i]);
    for (const auto& row : rows_)
        for (std::size_t i = 0; i < row.size(); ++i)
            width[i] = std::max(width[i], display_width(row[i]));

    auto line = [&](const std::vector<std::string>& cells) {
        std::string text;
        for (std::size_t i = 0; i < cells.size(); ++i) {
            text += cells[i];
            if (i + 1 < cells.size())
                text.append(width[i] - display_width(cells[i]) + 2, ' ');
        }
        out << text << '\n';
    };
    line(headers_);
    for (const auto& row : rows_) line(row);
}

void Details::add(std::string key, std::string_view value) {
    lines_.emplace_back(std::move(key), std::string(value));
}

void Details::print(std::ostream& out, std::size_t max_width) const {
    std::size_t kw = 0;
    for (const auto& [k, v] : lines_) kw = std::max(kw, display_width(k));
    for (const auto& [k, v] : lines_) {
        out << k << ':' << std::string(kw - display_width(k) + 2, ' ')
            << truncate_to_width(term_safe(v), max_width) << '\n';
    }
}

}  // namespace portal::ctl
