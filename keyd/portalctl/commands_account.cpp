// account show|set|enforce-2fa, accounts list|create
#include <algorithm>
#include <iostream>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/session_file.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

void print_account(const nlohmann::json& a) {
    Details d;
    d.add("ID", text(a, "id"));
    d.add("Name", text(a, "name"));
    d.add("Enforce 2FA", flag(a, "enforce_2fa") ? "on" : "off");
    d.add("Created", text(a, "created_at"));
    d.print(std::cout);
}

void enforce_2fa(Context& ctx, const std::string& state, const std::string& confirm) {
    const bool on = state == "on";
    if (confirm.empty()) {
        // Like the portal: the owner types the account id. Name it to make that easy,
        // but never fill it in on their behalf.
        std::string hint = "<account id>";
        try {
            auto a = ctx.get("/v1/account");
            if (a.is_object() && a.contains("id") && a["id"].is_string())
                hint = term_safe(a["id"].get<std::string>());
        } catch (const std::exception&) {
            // best effort: the usage error below is the message that matters
        }
        throw usage_error(std::string("turning Enforce 2FA ") + (on ? "on" : "off") +
                          " must be confirmed with the account id: pass --confirm " + hint);
    }
    nlohmann::json body{{"enforce_2fa", on}, {"confirm", confirm}};
    auto r = ctx.call("PUT", "/v1/account", &body);
    ctx.emit(r, [&](const nlohmann::json& a) {
        std::cout << "Enforce 2FA is now " << (on ? "on" : "off") << ".\n";
        if (on)
            std::cout << "Members without 2FA can only enrol 2FA until they do "
                         "(portalctl tfa enable).\n";
        if (a.is_object()) print_account(a);
    });
}

}  // namespace

void register_account_commands(CLI::App& app, Context& ctx) {
    auto* account = app.add_subcommand("account", "Show or change the selected account");
    account->require_subcommand(1);

    auto* show = account->add_subcommand("show", "Show the account");
    on_run(show, ctx, [&ctx] {
        auto r = ctx.call("GET", "/v1/account");
        ctx.emit(r, print_account);
    });

    auto name = std::make_shared<std::string>();
    auto* set = account->add_subcommand("set", "Change the account's settings (owner)");
    set->add_option("--name", *name, "New account name")->required();
    on_run(set, ctx, [&ctx, name] {
        nlohmann::json body{{"name", *name}};
        auto r = ctx.call("PUT", "/v1/account", &body);
        ctx.emit(r, print_account);
    });

    auto state = std::make_shared<std::string>();
    auto confirm = std::make_shared<std::string>();
    auto* enforce = account->add_subcommand(
        "enforce-2fa", "Require 2FA of every member (owner; confirm with the account id)");
    enforce->add_option("STATE", *state, "on or off")->required()->check(CLI::IsMember({"on", "off"}));
    enforce->add_option("--confirm", *confirm, "The account id, to confirm");
    on_run(enforce, ctx, [&ctx, state, confirm] { enforce_2fa(ctx, *state, *confirm); });

    auto* accounts = app.add_subcommand("accounts", "Your accounts (memberships)");
    accounts->require_subcommand(1);

    auto lo = std::make_shared<ListOptions>();
    auto* list = accounts->add_subcommand("list", "List the accounts you belong to");
    add_list_options(list, *lo);
    on_run(list, ctx, [&ctx, lo] {
        Page p = ctx.list("/v1/accounts", {}, *lo);
        if (ctx.opts.json) return ctx.print_json(p);
        Table t({"ID", "NAME", "ROLE"});
        for (const auto& a : p.items) t.add_row({text(a, "id"), text(a, "name"), text(a, "role")});
        t.print(std::cout);
        print_page_hint(p, "accounts");
    });

    // The account later commands act on when --account is not given: remembered for this user
    // on this machine, checked against the memberships first.
    auto use_id = std::make_shared<std::string>();
    auto use_none = std::make_shared<bool>(false);
    auto* use = accounts->add_subcommand("use", "Act on this account from now on (remembered for you; --account overrides)");
    use->add_option("ID", *use_id, "The account's id (portalctl accounts list)");
    use->add_flag("--none", *use_none, "Forget the choice: your first account again");
    on_run(use, ctx, [&ctx, use_id, use_none] {
        if (!ctx.opts.url.empty()) throw usage_error("accounts use is remembered for this server's socket: no --url");
        if (*use_none == !use_id->empty()) throw usage_error("accounts use: give an account ID, or --none");
        if (*use_none) {
            const bool had = clear_selected_account();
            std::cout << (had ? "Forgot the selected account: commands act on your first account again.\n"
                              : "No account was selected.\n");
            return;
        }
        ListOptions all;
        all.all = true;
        Page p = ctx.list("/v1/accounts", {}, all);
        const auto it = std::find_if(p.items.begin(), p.items.end(), [&](const nlohmann::json& a) {
            return a.contains("id") && a["id"].is_string() && a["id"].get<std::string>() == *use_id;
        });
        if (it == p.items.end())
            throw CliError(kExitNotFound, "you are not an active member of an account " + *use_id +
                                              " (portalctl accounts list; invitations are accepted first)");
        write_selected_account(*use_id);
        if (ctx.opts.json) return ctx.print_json(*it);
        std::cout << "Using account " << term_safe(text(*it, "name")) << " (" << term_safe(*use_id) << "), as "
                  << term_safe(text(*it, "role")) << ".\n";
    });

    auto new_name = std::make_shared<std::string>();
    auto owner = std::make_shared<std::string>();
    auto* create = accounts->add_subcommand("create", "Create an account; you become its owner");
    create->add_option("NAME", *new_name, "Account name")->required();
    create->add_option("--owner", *owner,
                       "First owner's user id (required when run as root)");
    on_run(create, ctx, [&ctx, new_name, owner] {
        nlohmann::json body{{"name", *new_name}};
        if (!owner->empty()) body["owner_user_id"] = *owner;
        auto r = ctx.call("POST", "/v1/accounts", &body);
        ctx.emit(r, [](const nlohmann::json& a) {
            std::cout << "Created account " << term_safe(text(a, "id")) << ".\n";
            Details d;
            d.add("ID", text(a, "id"));
            d.add("Name", text(a, "name"));
            d.add("Role", text(a, "role"));
            d.print(std::cout);
        });
    });
}

}  // namespace portal::ctl
