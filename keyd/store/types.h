// Types every table of the store shares: its errors and a page of a listing.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>

namespace portal::store {

// A unique constraint was violated; `field` names the API field that collided.
struct Conflict : std::runtime_error {
    std::string field;
    Conflict(std::string f, const std::string& what) : std::runtime_error(what), field(std::move(f)) {}
};
// Anything else SQLite refused (I/O, corruption, busy past the timeout).
struct StoreError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Page {
    std::int64_t offset = 0;
    std::int64_t limit = 20;
};

}  // namespace portal::store
