// users list|show|add|set|remove|deactivate|activate|reset-2fa
#include <iostream>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

std::string user_path(const std::string& id) { return "/v1/account/users/" + encode_path_segment(id); }

void print_user(const nlohmann::json& u) {
    Details d;
    d.add("ID", text(u, "id"));
    d.add("Email", text(u, "email"));
    d.add("Name", text(u, "name"));
    d.add("Unix name", text(u, "unix_name"));
    d.add("UID", text(u, "uid"));
    d.add("Role", text(u, "role"));
    d.add("Status", text(u, "status"));
    d.add("2FA", flag(u, "tfa_enabled") ? "enabled" : "not enabled");
    const nlohmann::json* ll = nullptr;
    if (u.is_object() && u.contains("last_login") && u["last_login"].is_object()) ll = &u["last_login"];
    if (ll == nullptr) {
        d.add("Last login", "never");
    } else {
        d.add("Last login", text(*ll, "at") + " " + text(*ll, "method") + " from " + text(*ll, "ip") +
                                " to " + text(*ll, "host") + " (" + text(*ll, "status") + ")");
    }
    d.add("Created", text(u, "created_at"));
    d.add("Updated", text(u, "updated_at"));
    d.print(std::cout);
}

void print_users(const std::vector<nlohmann::json>& users) {
    Table t({"ID", "EMAIL", "NAME", "UNIX NAME", "UID", "ROLE", "STATUS", "2FA"});
    for (const auto& u : users)
        t.add_row({text(u, "id"), text(u, "email"), text(u, "name"), text(u, "unix_name"),
                   text(u, "uid"), text(u, "role"), text(u, "status"),
                   flag(u, "tfa_enabled") ? "yes" : "no"});
    t.print(std::cout);
}

// PUT {status} for activate/deactivate.
void set_status(Context& ctx, const std::string& who, const char* status, const char* done) {
    const std::string id = resolve_user(ctx, who);
    nlohmann::json body{{"status", status}};
    auto r = ctx.call("PUT", user_path(id), &body);
    ctx.emit(r, [&](const nlohmann::json&) {
        std::cout << "User " << term_safe(id) << ' ' << done << ".\n";
    });
}

}  // namespace

void register_user_commands(CLI::App& app, Context& ctx) {
    auto* users = app.add_subcommand("users", "Members of the selected account");
    users->require_subcommand(1);

    struct ListArgs {
        ListOptions page;
        std::string search, role, status;
    };
    auto la = std::make_shared<ListArgs>();
    auto* list = users->add_subcommand("list", "List members");
    add_list_options(list, la->page);
    list->add_option("--search", la->search, "Substring of email, name or unix name");
    list->add_option("--role", la->role, "owner, manager or support")
        ->check(CLI::IsMember({"owner", "manager", "support"}));
    list->add_option("--status", la->status, "invited, active or deactivated")
        ->check(CLI::IsMember({"invited", "active", "deactivated"}));
    on_run(list, ctx, [&ctx, la] {
        Query q;
        if (!la->search.empty()) q.emplace_back("search_pattern", la->search);
        if (!la->role.empty()) q.emplace_back("role", la->role);
        if (!la->status.empty()) q.emplace_back("status", la->status);
        Page p = ctx.list("/v1/account/users", q, la->page);
        if (ctx.opts.json) return ctx.print_json(p);
        ctx.print_account_header();
        print_users(p.items);
        print_page_hint(p, "users");
    });

    auto show_id = std::make_shared<std::string>();
    auto* show = users->add_subcommand("show", "Show one member");
    show->add_option("ID", *show_id, "User id or email")->required();
    on_run(show, ctx, [&ctx, show_id] {
        auto r = ctx.call("GET", user_path(resolve_user(ctx, *show_id)));
        ctx.emit(r, print_user);
    });

    struct AddArgs {
        std::string email, name, role;
        bool invited = false;
    };
    auto aa = std::make_shared<AddArgs>();
    auto* add = users->add_subcommand("add", "Add a member (owner)");
    add->add_option("--email", aa->email, "Email address")->required();
    add->add_option("--name", aa->name, "Full name")->required();
    add->add_option("--role", aa->role, "owner or manager")
        ->required()
        ->check(CLI::IsMember({"owner", "manager"}));
    add->add_flag("--invited", aa->invited, "Add as invited instead of active");
    on_run(add, ctx, [&ctx, aa] {
        nlohmann::json body{{"email", aa->email}, {"name", aa->name}, {"role", aa->role}};
        if (aa->invited) body["status"] = "invited";
        auto r = ctx.call("POST", "/v1/account/users", &body);
        ctx.emit(r, [](const nlohmann::json& u) {
            std::cout << "Added user " << term_safe(text(u, "id")) << ".\n";
            print_user(u);
        });
    });

    struct SetArgs {
        std::string id, name, role, status;
    };
    auto sa = std::make_shared<SetArgs>();
    auto* set = users->add_subcommand("set", "Change a member's name, role or status (owner)");
    set->add_option("ID", sa->id, "User id or email")->required();
    auto* name_opt = set->add_option("--name", sa->name, "Full name");
    auto* role_opt = set->add_option("--role", sa->role, "owner or manager")
                         ->check(CLI::IsMember({"owner", "manager"}));
    auto* status_opt = set->add_option("--status", sa->status, "active or deactivated")
                           ->check(CLI::IsMember({"active", "deactivated"}));
    on_run(set, ctx, [&ctx, sa, name_opt, role_opt, status_opt] {
        nlohmann::json body = nlohmann::json::object();
        if (name_opt->count() > 0) body["name"] = sa->name;
        if (role_opt->count() > 0) body["role"] = sa->role;
        if (status_opt->count() > 0) body["status"] = sa->status;
        if (body.empty()) throw usage_error("nothing to change: pass --name, --role or --status");
        auto r = ctx.call("PUT", user_path(resolve_user(ctx, sa->id)), &body);
        ctx.emit(r, print_user);
    });

    auto rm_id = std::make_shared<std::string>();
    auto* remove = users->add_subcommand(
        "remove", "Remove a member from the account, with their SSH keys here (owner)");
    remove->add_option("ID", *rm_id, "User id or email")->required();
    on_run(remove, ctx, [&ctx, rm_id] {
        const std::string id = resolve_user(ctx, *rm_id);
        auto r = ctx.call("DELETE", user_path(id));
        ctx.emit(r, [&](const nlohmann::json&) {
            std::cout << "Removed user " << term_safe(id) << " from the account.\n";
        });
    });

    auto de_id = std::make_shared<std::string>();
    auto* deactivate = users->add_subcommand("deactivate", "Deactivate a member (owner)");
    deactivate->add_option("ID", *de_id, "User id or email")->required();
    on_run(deactivate, ctx, [&ctx, de_id] { set_status(ctx, *de_id, "deactivated", "deactivated"); });

    auto ac_id = std::make_shared<std::string>();
    auto* activate = users->add_subcommand("activate", "Activate a member (owner)");
    activate->add_option("ID", *ac_id, "User id or email")->required();
    on_run(activate, ctx, [&ctx, ac_id] { set_status(ctx, *ac_id, "active", "activated"); });

    auto rs_id = std::make_shared<std::string>();
    auto* reset = users->add_subcommand("reset-2fa", "Clear a member's 2FA so they can re-enrol (owner)");
    reset->add_option("ID", *rs_id, "User id or email")->required();
    on_run(reset, ctx, [&ctx, rs_id] {
        const std::string id = resolve_user(ctx, *rs_id);
        auto r = ctx.call("POST", user_path(id) + "/tfa/reset");
        ctx.emit(r, [&](const nlohmann::json&) {
            std::cout << "2FA of user " << term_safe(id) << " was reset.\n";
        });
    });
}

}  // namespace portal::ctl
