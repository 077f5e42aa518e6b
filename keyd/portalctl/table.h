// Human output: terminal-safe text and aligned tables.
#pragma once
#include <cstddef>
#include <ostream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portal::ctl {

// Everything the daemon sends is untrusted text bound for a terminal. Returns `s`
// with control characters (C0, DEL, C1), bidi overrides and invalid UTF-8 escaped
// as \n, \t, \xNN or \u{NNNN}, so nothing printed can move the cursor, change colours
// or reorder what the user reads.
std::string term_safe(std::string_view s);

// For valid JSON text: escapes the code points term_safe would as \uXXXX, except raw
// C0, which valid JSON only holds as whitespace: CR is dropped (it could overwrite the
// line), LF and TAB kept. The JSON value is unchanged.
std::string term_safe_json(std::string_view dumped);

// Columns `s` occupies (s must already be term_safe). Wide CJK/emoji count 2,
// combining marks 0.
std::size_t display_width(std::string_view s);

// Cuts term_safe text to at most `max` columns, ending with "…" when cut.
std::string truncate_to_width(std::string_view s, std::size_t max);

class Table {
public:
    explicit Table(std::vector<std::string> headers, std::size_t max_cell_width = 60);
    // Cells are raw (possibly untrusted) text; the table escapes and truncates them.
    void add_row(std::vector<std::string> cells);
    bool empty() const { return rows_.empty(); }
    void print(std::ostream& out) const;

private:
    std::vector<std::string> headers_;
    std::vector<std::vector<std::string>> rows_;
    std::size_t max_cell_width_;
};

// "Key:   value" lines with aligned values (values escaped, cut at `max_width`).
class Details {
public:
    void add(std::string key, std::string_view value);
    void print(std::ostream& out, std::size_t max_width = 4096) const;

private:
    std::vector<std::pair<std::string, std::string>> lines_;
};

}  // namespace portal::ctl
