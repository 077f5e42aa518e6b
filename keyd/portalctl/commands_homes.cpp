// homes: the home directories of portal uids on this server. Removing a member leaves their
// home (their files may matter to the account); this is how a sysadmin finds the ones no
// user owns any more. portalctl looks itself (the daemon cannot see /home: ProtectHome); the
// daemon says where homes are and which uids are the portal's (GET /v1/server).
#include <pwd.h>
#include <sys/stat.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

struct Home {
    std::string path;
    std::uint32_t uid = 0;
    std::optional<std::string> owner;  // the user this uid is now, if any
};

std::optional<std::string> user_of(std::uint32_t uid) {
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    if (getpwuid_r(uid, &pw, buf.data(), buf.size(), &found) != 0 || !found) return std::nullopt;
    return std::string(pw.pw_name);
}

// The directories right under `base` owned by a uid in [min, max] (links are not followed).
// A base that does not exist yet holds none.
std::vector<Home> homes_under(const std::filesystem::path& base, std::uint32_t min, std::uint32_t max) {
    std::vector<Home> out;
    std::error_code ec;
    std::filesystem::directory_iterator it(base, ec);
    if (ec == std::errc::no_such_file_or_directory) return out;
    if (ec) throw CliError(kExitRefused, "cannot read " + base.string() + ": " + ec.message());
    for (; it != std::filesystem::directory_iterator(); it.increment(ec)) {
        if (ec) throw CliError(kExitRefused, "cannot read " + base.string() + ": " + ec.message());
        struct stat st {};
        if (::lstat(it->path().c_str(), &st) != 0 || !S_ISDIR(st.st_mode)) continue;
        if (st.st_uid < min || st.st_uid > max) continue;
        out.push_back({it->path().string(), static_cast<std::uint32_t>(st.st_uid), user_of(st.st_uid)});
    }
    if (ec) throw CliError(kExitRefused, "cannot read " + base.string() + ": " + ec.message());
    std::sort(out.begin(), out.end(), [](const Home& a, const Home& b) { return a.path < b.path; });
    return out;
}

// The uids of the account's members as the daemon knows them: a home whose uid this machine
// does not resolve (nss-systemd off, the member not published here) is still not orphaned.
std::set<std::uint32_t> member_uids(Context& ctx) {
    std::set<std::uint32_t> out;
    ListOptions all;
    all.all = true;
    for (const auto& u : ctx.list("/v1/account/users", {}, all).items)
        if (u.contains("uid") && u["uid"].is_number_unsigned()) out.insert(u["uid"].get<std::uint32_t>());
    return out;
}

}  // namespace

void register_homes_command(CLI::App& app, Context& ctx) {
    auto orphaned_only = std::make_shared<bool>(false);
    auto* homes = app.add_subcommand(
        "homes", "Home directories of portal uids here; orphaned: no user has that uid (a removed member's)");
    homes->add_flag("--orphaned", *orphaned_only, "Only the orphaned ones");
    on_run(homes, ctx, [&ctx, orphaned_only] {
        if (!ctx.opts.url.empty()) throw usage_error("homes looks at this server's file system: no --url");
        const auto server = ctx.call("GET", "/v1/server").json();
        const auto users = server.value("users", nlohmann::json::object());
        if (!users.is_object() || !users.contains("home_base") || !users["home_base"].is_string() ||
            !users.contains("uid_min") || !users["uid_min"].is_number_unsigned() || !users.contains("uid_max") ||
            !users["uid_max"].is_number_unsigned())
            throw CliError(kExitServer, "the daemon's GET /v1/server has no usable 'users' (an older daemon?)");
        const std::filesystem::path base = users["home_base"].get<std::string>();
        if (!base.is_absolute()) throw CliError(kExitServer, "the daemon's users.home_base is not an absolute path");
        const auto found = homes_under(base, users["uid_min"].get<std::uint32_t>(), users["uid_max"].get<std::uint32_t>());

        std::set<std::uint32_t> members;
        if (std::any_of(found.begin(), found.end(), [](const Home& h) { return !h.owner; })) members = member_uids(ctx);

        nlohmann::json rows = nlohmann::json::array();
        Table t({"PATH", "UID", "OWNER", "STATE"});
        for (const auto& h : found) {
            const bool member = members.count(h.uid) != 0;
            const bool orphaned = !h.owner && !member;
            if (*orphaned_only && !orphaned) continue;
            rows.push_back({{"path", h.path},
                            {"uid", h.uid},
                            {"owner", h.owner ? nlohmann::json(*h.owner) : nlohmann::json(nullptr)},
                            {"orphaned", orphaned}});
            t.add_row({h.path, std::to_string(h.uid), h.owner.value_or("-"),
                       h.owner ? "in use" : (member ? "a member's (not resolved here)" : "orphaned")});
        }
        if (ctx.opts.json) return ctx.print_json(rows);
        if (t.empty()) {
            std::cout << (*orphaned_only ? "No orphaned home directories under " : "No portal home directories under ")
                      << term_safe(base.string()) << ".\n";
            return;
        }
        t.print(std::cout);
    });
}

}  // namespace portal::ctl
