// allowlist show|on|off|add|edit|remove: the account's IP allowlist (owners), and
// password: your own password for portal sign-in.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

struct EntryArgs {
    std::string id;
    std::string cidr;
    std::string comment;
};

void print_allowlist(const nlohmann::json& l) {
    std::cout << "IP allowlist: " << (flag(l, "active") ? "active" : "inactive (not applied)") << "\n";
    Table t({"ID", "NETWORK", "COMMENT", "CREATED"});
    if (l.contains("entries") && l["entries"].is_array())
        for (const auto& e : l["entries"]) t.add_row({text(e, "id"), text(e, "cidr"), text(e, "comment"), text(e, "created_at")});
    t.print(std::cout);
}

void print_entry(const nlohmann::json& e) {
    Details d;
    d.add("ID", text(e, "id"));
    d.add("Network", text(e, "cidr"));
    d.add("Comment", text(e, "comment"));
    d.print(std::cout);
}

void register_switch(CLI::App* parent, Context& ctx, const char* name, bool active, const char* help) {
    auto* cmd = parent->add_subcommand(name, help);
    on_run(cmd, ctx, [&ctx, active] {
        nlohmann::json body{{"active", active}};
        auto r = ctx.call("PUT", "/v1/account/ip_allowlist", &body);
        ctx.emit(r, print_allowlist);
    });
}

}  // namespace

void register_allowlist_commands(CLI::App& app, Context& ctx) {
    auto* list = app.add_subcommand(
        "allowlist", "The account's IP allowlist (owners): portal sign-in only from these networks while active");
    list->require_subcommand(1);

    auto* show = list->add_subcommand("show", "Show whether it is active, and its networks");
    on_run(show, ctx, [&ctx] {
        ctx.emit(ctx.call("GET", "/v1/account/ip_allowlist"), [&ctx](const nlohmann::json& l) {
            ctx.print_account_header();
            print_allowlist(l);
        });
    });
    register_switch(list, ctx, "on", true,
                    "Activate it: sessions from unlisted addresses end (API tokens are not affected)");
    register_switch(list, ctx, "off", false, "Deactivate it: sign-in from anywhere again");

    auto a = std::make_shared<EntryArgs>();
    auto* add = list->add_subcommand("add", "List a network (CIDR, e.g. 192.0.2.0/24 or 2001:db8::/32)");
    add->add_option("CIDR", a->cidr, "The network; a bare address is one host")->required();
    add->add_option("--comment", a->comment, "What it is (office, VPN, ...)");
    on_run(add, ctx, [&ctx, a] {
        nlohmann::json body{{"cidr", a->cidr}, {"comment", a->comment}};
        ctx.emit(ctx.call("POST", "/v1/account/ip_allowlist/entries", &body), print_entry);
    });

    auto e = std::make_shared<EntryArgs>();
    auto* edit = list->add_subcommand("edit", "Change an entry's network or comment");
    edit->add_option("ID", e->id, "The entry's id (ipa_...)")->required();
    auto* cidr = edit->add_option("--cidr", e->cidr, "The new network");
    auto* comment = edit->add_option("--comment", e->comment, "The new comment");
    on_run(edit, ctx, [&ctx, e, cidr, comment] {
        nlohmann::json body = nlohmann::json::object();
        if (cidr->count()) body["cidr"] = e->cidr;
        if (comment->count()) body["comment"] = e->comment;
        if (body.empty()) throw CLI::ValidationError("edit", "give --cidr, --comment or both");
        ctx.emit(ctx.call("PUT", "/v1/account/ip_allowlist/entries/" + encode_path_segment(e->id), &body), print_entry);
    });

    auto id = std::make_shared<std::string>();
    auto* remove = list->add_subcommand("remove", "Remove an entry (sessions it alone admitted end)");
    remove->add_option("ID", *id, "The entry's id (ipa_...)")->required();
    on_run(remove, ctx, [&ctx, id] {
        ctx.call("DELETE", "/v1/account/ip_allowlist/entries/" + encode_path_segment(*id));
        if (!ctx.opts.json) std::cout << "Removed allowlist entry " << term_safe(*id) << ".\n";
    });

    auto* password = app.add_subcommand(
        "password", "Set your password for portal sign-in (read from the terminal or stdin, never from argv)");
    on_run(password, ctx, [&ctx] {
        nlohmann::json body{{"password", read_secret("-", "New password (at least 10 characters): ")}};
        // Over HTTPS the current one is needed once one is set (the socket knows you by uid).
        if (!ctx.opts.url.empty()) body["current_password"] = read_secret("-", "Current password: ");
        ctx.call("PUT", "/v1/profile/password", &body);
        if (!ctx.opts.json) std::cout << "Password set; your other portal sessions have ended.\n";
    });
}

}  // namespace portal::ctl
