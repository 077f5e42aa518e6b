// hosts list|show|enrol|delete, logins: the servers that follow the account, and what they
// reported.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

void print_host(const nlohmann::json& h) {
    Details d;
    d.add("ID", text(h, "id"));
    d.add("Hostname", text(h, "hostname"));
    d.add("Version", text(h, "version"));
    d.add("Enrolled", text(h, "created_at"));
    d.add("Status", text(h, "status"));
    d.add("Last seen", text(h, "last_seen_at"));
    d.add("Revision", text(h, "revision"));
    d.print(std::cout);
}

struct Enrol {
    std::string name;
    long expires_in = 0;
};

}  // namespace

void register_host_commands(CLI::App& app, Context& ctx) {
    auto* hosts = app.add_subcommand("hosts", "Servers that follow this account (agents)");
    hosts->require_subcommand(1);

    auto* list = hosts->add_subcommand("list", "The enrolled hosts");
    on_run(list, ctx, [&ctx] {
        auto r = ctx.call("GET", "/v1/hosts");
        ctx.emit(r, [&ctx](const nlohmann::json& items) {
            ctx.print_account_header();
            Table t({"ID", "HOSTNAME", "VERSION", "STATUS", "LAST SEEN", "REVISION"});
            if (items.is_array())
                for (const auto& h : items)
                    t.add_row({text(h, "id"), text(h, "hostname"), text(h, "version"), text(h, "status"),
                               text(h, "last_seen_at"), text(h, "revision")});
            t.print(std::cout);
        });
    });

    auto id = std::make_shared<std::string>();
    auto* show = hosts->add_subcommand("show", "One host");
    show->add_option("ID", *id, "The host's id (hst_...)")->required();
    on_run(show, ctx, [&ctx, id] {
        auto r = ctx.call("GET", "/v1/hosts/" + encode_path_segment(*id));
        ctx.emit(r, print_host);
    });

    auto e = std::make_shared<Enrol>();
    auto* enrol = hosts->add_subcommand("enrol", "A one-use enrolment token for a new server (owners)");
    enrol->add_option("--name", e->name, "The host name it is meant for");
    enrol->add_option("--expires-in", e->expires_in, "Seconds it stays valid (default 3600)")
        ->check(CLI::Range(60L, 7L * 86400));
    on_run(enrol, ctx, [&ctx, e] {
        nlohmann::json body = nlohmann::json::object();
        if (!e->name.empty()) body["name"] = e->name;
        if (e->expires_in > 0) body["expires_in"] = e->expires_in;
        auto r = ctx.call("POST", "/v1/hosts/enrolments", &body);
        ctx.emit(r, [](const nlohmann::json& t) {
            std::cout << "Enrolment token (one use, until " << text(t, "expires_at") << "):\n  " << text(t, "token")
                      << "\n";
        });
    });

    auto del_id = std::make_shared<std::string>();
    auto* del = hosts->add_subcommand("delete", "Remove a host: its token stops working at once (owners)");
    del->add_option("ID", *del_id, "The host's id (hst_...)")->required();
    on_run(del, ctx, [&ctx, del_id] {
        ctx.call("DELETE", "/v1/hosts/" + encode_path_segment(*del_id));
        if (!ctx.opts.json) std::cout << "Deleted host " << term_safe(*del_id) << ".\n";
    });

    auto la = std::make_shared<ListOptions>();
    auto* logins = app.add_subcommand("logins", "The account's login history, as its hosts reported it");
    add_list_options(logins, *la);
    on_run(logins, ctx, [&ctx, la] {
        Page p = ctx.list("/v1/account/logins", {}, *la);
        if (ctx.opts.json) return ctx.print_json(p);
        ctx.print_account_header();
        Table t({"AT", "HOST", "USER", "IP", "METHOD", "DECISION", "REASON"});
        for (const auto& ev : p.items)
            t.add_row({text(ev, "at"), text(ev, "host_id"), text(ev, "unix_name"), text(ev, "ip"), text(ev, "method"),
                       text(ev, "decision"), text(ev, "reason")});
        t.print(std::cout);
        print_page_hint(p, "logins");
    });
}

}  // namespace portal::ctl
