// contacts list|show|add|set|remove: who hears from the provider about the account (members
// read; owners change).
#include <iostream>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

struct ContactArgs {
    std::string id, name, email, phone, roles;
};

// "security,technical" -> ["security", "technical"]; "" -> [] (no roles).
nlohmann::json role_list(const std::string& csv) {
    nlohmann::json out = nlohmann::json::array();
    std::stringstream in(csv);
    std::string role;
    while (std::getline(in, role, ','))
        if (!role.empty()) out.push_back(role);
    return out;
}

std::string roles_text(const nlohmann::json& c) {
    if (!c.contains("notification_roles") || !c["notification_roles"].is_array()) return "-";
    std::string out;
    for (const auto& r : c["notification_roles"]) out += (out.empty() ? "" : ",") + (r.is_string() ? r.get<std::string>() : "?");
    return out.empty() ? "-" : out;
}

void print_contact(const nlohmann::json& c) {
    Details d;
    d.add("ID", text(c, "id"));
    d.add("Name", text(c, "name"));
    d.add("Email", text(c, "email"));
    d.add("Phone", text(c, "phone"));
    d.add("Notified of", roles_text(c));
    d.add("Updated", text(c, "updated_at"));
    d.print(std::cout);
}

// The fields given on the command line, as the API's body.
void add_fields(CLI::App* cmd, ContactArgs& a) {
    cmd->add_option("--name", a.name, "The contact's name");
    cmd->add_option("--email", a.email, "Where notifications go");
    cmd->add_option("--phone", a.phone, "E.164, e.g. +4930901820 (\"\" for none)");
    cmd->add_option("--roles", a.roles,
                    "What they hear about, comma-separated: billing, technical, emergency, abuse, security "
                    "(\"\" for nothing)");
}
nlohmann::json given(const CLI::App* cmd, const ContactArgs& a) {
    nlohmann::json body = nlohmann::json::object();
    if (cmd->count("--name")) body["name"] = a.name;
    if (cmd->count("--email")) body["email"] = a.email;
    if (cmd->count("--phone")) body["phone"] = a.phone;
    if (cmd->count("--roles")) body["notification_roles"] = role_list(a.roles);
    return body;
}

}  // namespace

void register_contact_commands(CLI::App& app, Context& ctx) {
    auto* contacts = app.add_subcommand("contacts", "The account's contacts: who is notified of what (owners change them)");
    contacts->require_subcommand(1);

    auto la = std::make_shared<ListOptions>();
    auto* list = contacts->add_subcommand("list", "List the contacts");
    add_list_options(list, *la);
    on_run(list, ctx, [&ctx, la] {
        Page p = ctx.list("/v1/contacts", {}, *la);
        if (ctx.opts.json) return ctx.print_json(p);
        ctx.print_account_header();
        Table t({"ID", "NAME", "EMAIL", "PHONE", "NOTIFIED OF"});
        for (const auto& c : p.items)
            t.add_row({text(c, "id"), text(c, "name"), text(c, "email"), text(c, "phone"), roles_text(c)});
        t.print(std::cout);
        print_page_hint(p, "contacts");
    });

    auto id = std::make_shared<std::string>();
    auto* show = contacts->add_subcommand("show", "Show one contact");
    show->add_option("ID", *id, "The contact's id (con_...)")->required();
    on_run(show, ctx, [&ctx, id] { ctx.emit(ctx.call("GET", "/v1/contacts/" + encode_path_segment(*id)), print_contact); });

    auto a = std::make_shared<ContactArgs>();
    auto* add = contacts->add_subcommand("add", "Add a contact (--name and --email required)");
    add_fields(add, *a);
    add->get_option("--name")->required();
    add->get_option("--email")->required();
    on_run(add, ctx, [&ctx, add, a] {
        auto body = given(add, *a);
        ctx.emit(ctx.call("POST", "/v1/contacts", &body), print_contact);
    });

    auto s = std::make_shared<ContactArgs>();
    auto* set = contacts->add_subcommand("set", "Change a contact: the options given, the rest as it was");
    set->add_option("ID", s->id, "The contact's id (con_...)")->required();
    add_fields(set, *s);
    on_run(set, ctx, [&ctx, set, s] {
        auto body = given(set, *s);
        if (body.empty()) throw usage_error("contacts set: give --name, --email, --phone or --roles");
        ctx.emit(ctx.call("PUT", "/v1/contacts/" + encode_path_segment(s->id), &body), print_contact);
    });

    auto rid = std::make_shared<std::string>();
    auto* remove = contacts->add_subcommand("remove", "Remove a contact");
    remove->add_option("ID", *rid, "The contact's id (con_...)")->required();
    on_run(remove, ctx, [&ctx, rid] {
        ctx.call("DELETE", "/v1/contacts/" + encode_path_segment(*rid));
        if (!ctx.opts.json) std::cout << "Removed contact " << term_safe(*rid) << ".\n";
    });
}

}  // namespace portal::ctl
