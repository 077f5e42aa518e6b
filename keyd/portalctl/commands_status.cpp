// status: the account at a glance. Later features add lines here.
#include <algorithm>
#include <chrono>
#include <ctime>
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

std::string when(std::int64_t unix_seconds) {
    if (unix_seconds <= 0) return "never";
    const auto now = std::chrono::duration_cast<std::chrono::seconds>(
                         std::chrono::system_clock::now().time_since_epoch()).count();
    const std::time_t t = static_cast<std::time_t>(unix_seconds);
    char buf[32];
    std::tm tm{};
    ::gmtime_r(&t, &tm);
    std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
    return std::string(buf) + " (" + std::to_string(std::max<std::int64_t>(0, now - unix_seconds)) + " s ago)";
}

void add_collisions(Details& d, const nlohmann::json& server) {
    const auto& collisions = server.value("collisions", nlohmann::json::array());
    d.add("Not published", collisions.empty() ? "none" : std::to_string(collisions.size()) + " (name or uid taken locally)");
    for (const auto& c : collisions)
        d.add("  " + text(c, "unix_name"), "uid " + std::to_string(c.value("uid", 0)) + ": " + text(c, "reason"));
}

// An agent: where its state comes from and how current it is (the account API is the portal's).
void print_agent(Context& ctx, const nlohmann::json& server) {
    if (ctx.opts.json) return ctx.print_json(nlohmann::json{{"server", server}});
    const auto& sync = server.value("sync", nlohmann::json::object());
    Details d;
    d.add("Mode", "agent");
    d.add("Portal", text(sync, "portal_url"));
    if (!sync.value("pin", std::string()).empty()) d.add("  pin", text(sync, "pin"));
    if (!sync.value("host_id", std::string()).empty()) d.add("  host id", text(sync, "host_id"));
    d.add("Account", text(server, "account_id").empty() ? "none yet" : text(server, "account_id"));
    d.add("Applied revision", std::to_string(sync.value("revision", 0)));
    d.add("Last sync", when(sync.value("last_sync", std::int64_t{0})));
    const auto offline = sync.value("offline_since", std::int64_t{0});
    d.add("Offline since", offline > 0 ? when(offline) + ": " + text(sync, "last_error") : "online");
    if (sync.value("host_token_refused", false))
        d.add("Host token", "REFUSED by the portal: portal members cannot log in here; enrol this host again");
    else if (sync.value("members_refused", false))
        d.add("Portal members", "REFUSED: the portal has not answered for longer than [portal] offline_grace");
    if (sync.value("rejected_answers", 0) > 0)
        d.add("Rejected answers", std::to_string(sync.value("rejected_answers", 0)) + " (see the journal)");
    if (sync.contains("login_events_queued")) {
        d.add("Login events", std::to_string(sync.value("login_events_queued", 0)) + " queued, " +
                                  std::to_string(sync.value("login_events_dropped", 0)) + " dropped");
    }
    const auto& file = server.value("state_file", nlohmann::json::object());
    d.add("Login state", "revision " + std::to_string(server.value("revision", 0)) + ", fallback file " +
                             (file.value("current", false) ? "current" : "NOT current: " + file.value("error", std::string("not written yet"))));
    add_collisions(d, server);
    d.print(std::cout);
}

}  // namespace

void register_status_command(CLI::App& app, Context& ctx) {
    auto* status = app.add_subcommand("status", "The selected account at a glance");
    on_run(status, ctx, [&ctx] {
        // This server's side: only when its logins follow the selected account (404 otherwise).
        nlohmann::json server;
        try {
            server = ctx.get("/v1/server");
        } catch (const ApiError& e) {
            if (e.response.status != 404) throw;
        }
        if (server.is_object() && server.value("mode", std::string()) == "agent") return print_agent(ctx, server);
        const nlohmann::json account = ctx.get("/v1/account");
        const long users = count(ctx, "/v1/account/users");
        const long keys = count(ctx, "/v1/ssh_keys");
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
            add_collisions(d, server);
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
