// Versioned schema migrations. The schema version lives in PRAGMA user_version and
// each applied step is also recorded in schema_migrations (version, name, applied_at).
// Steps are append-only: never edit one that has shipped, add a new one.
#pragma once
#include <string_view>
#include <vector>

#include "keyd/store/sqlite.h"

namespace portal::store {

struct Migration {
    int version;           // 1, 2, 3, ... in order, no gaps
    std::string_view name;
    std::string_view sql;  // may hold several statements
};

// All known steps, ordered by version.
const std::vector<Migration>& migrations();
int latest_schema_version();

// Applies every step newer than the database's version, each in its own
// BEGIN IMMEDIATE transaction (a crash leaves the database at a step boundary).
// Throws StoreError when the database is newer than this build knows.
// Returns the resulting version.
int migrate(sqlite::Db& db);

}  // namespace portal::store
