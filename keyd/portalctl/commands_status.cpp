// status: the account at a glance. Later features add lines here.
#include <iostream>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

// Total items of a list endpoint: X-Total of a one-item page, else counts every page.
long count(Context& ctx, std::string_view path) {
    ListOptions one;
    one.per_page = 1;
    Page p = ctx.list(path, {}, one);
    if (p.total) return *p.total;
    ListOptions all;
    all.all = true;
    return static_cast<long>(ctx.list(path, {}, all).items.size());
}

}  // namespace

void register_status_command(CLI::App& app, Context& ctx) {
    auto* status = app.add_subcommand("status", "The selected account at a glance");
    on_run(status, ctx, [&ctx] {
        const nlohmann::json account = ctx.get("/v1/account");
        const long users = count(ctx, "/v1/account/users");
        const long keys = count(ctx, "/v1/ssh_keys");
        // This server's side: only when its logins follow the selected account (404 otherwise).
        nlohmann::json server;
        try {
            server = ctx.get("/v1/server");
        } catch (const ApiError& e) {
            if (e.response.status != 404) throw;
        }
        if (ctx.opts.json) {
            return ctx.print_json({{"account", account},
                                   {"users", {{"total", users}}},
                                   {"ssh_keys", {{"total", keys}}},
                                   {"server", server}});
        }
        Details d;
        d.add("Daemon", ctx.opts.url.empty() ? "reachable on " + ctx.opts.socket : "reachable at " + ctx.opts.url);
        d.add("Account", text(account, "name") + " (" + text(account, "id") + ")");
        d.add("Enforce 2FA", flag(account, "enforce_2fa") ? "on" : "off");
        d.add("Users", std::to_string(users));
        d.add("SSH keys", std::to_string(keys));
        if (server.is_null()) {
            d.add("This server", "its logins follow another account");
        } else {
            const auto& file = server.value("state_file", nlohmann::json::object());
            d.add("Login state", "revision " + std::to_string(server.value("revision", 0)) + ", fallback file " +
                                     (file.value("current", false) ? "current" : "NOT current: " + file.value("error", std::string("not written yet"))));
            const auto& collisions = server.value("collisions", nlohmann::json::array());
            d.add("Not published", collisions.empty() ? "none" : std::to_string(collisions.size()) + " (name or uid taken locally)");
            for (const auto& c : collisions)
                d.add("  " + text(c, "unix_name"), "uid " + std::to_string(c.value("uid", 0)) + ": " + text(c, "reason"));
            const auto https = server.value("https", nlohmann::json());
            if (!https.is_object()) {
                d.add("HTTPS", "off");
            } else if (https.contains("error")) {
                d.add("HTTPS", "NOT listening: " + text(https, "error"));
            } else {
                std::string where;
                for (const auto& e : https.value("listening", nlohmann::json::array()))
                    if (e.is_string()) where += (where.empty() ? "" : ", ") + e.get<std::string>();
                d.add("HTTPS", where);
                d.add("  pin", text(https, "pin"));
            }
        }
        d.print(std::cout);
    });
}

}  // namespace portal::ctl
