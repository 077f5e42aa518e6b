// notifications [list] | show ID: the account's security notifications (owners), newest first,
// and what became of each: sent, queued (a retry is due), failed, or kept (no MTA on the
// portal server, or no contact with the security role). The daemon has no filter and no
// per-notice endpoint: --status filters here, and show looks the notice up in the list.
#include <iostream>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

struct NoticeListArgs {
    ListOptions list;
    std::string status;
};

std::string notice_recipients(const nlohmann::json& n) {
    if (!n.is_object() || !n.contains("recipients") || !n["recipients"].is_array()) return "-";
    std::string out;
    for (const auto& r : n["recipients"]) out += (out.empty() ? "" : ", ") + (r.is_string() ? r.get<std::string>() : "?");
    return out.empty() ? "-" : out;
}

bool notice_has_status(const nlohmann::json& n, const std::string& status) {
    return n.is_object() && n.contains("status") && n["status"] == status;
}

// Why a notice is not (yet) sent, in words: "" for a sent one.
std::string notice_reason(const nlohmann::json& n) {
    const std::string status = text(n, "status");
    if (status == "sent") return "";
    const std::string error = text(n, "last_error");
    const std::string attempts = text(n, "attempts");
    if (status == "queued")
        return attempts == "0" || attempts == "-" ? "not tried yet" : "attempt " + attempts + " failed, trying again: " + error;
    if (status == "failed") return "gave up after " + attempts + " attempts: " + error;
    return error;  // kept: the daemon says which (no MTA, no security contact)
}

void notice_add_options(CLI::App* cmd, NoticeListArgs& a) {
    add_list_options(cmd, a.list);
    cmd->add_option("--status", a.status,
                    "Only these: queued, sent, failed or kept (filtered by portalctl, as the API has no filter: "
                    "over every page unless --page is given)")
        ->check(CLI::IsMember({"queued", "sent", "failed", "kept"}));
}

void notice_list(Context& ctx, const NoticeListArgs& a) {
    ListOptions lo = a.list;
    if (!a.status.empty() && lo.page == 0) lo.all = true;  // a filter over one page would hide the rest
    Page p = ctx.list("/v1/notifications", {}, lo);
    std::vector<nlohmann::json> shown;
    for (auto& n : p.items)
        if (a.status.empty() || notice_has_status(n, a.status)) shown.push_back(std::move(n));

    if (ctx.opts.json) {
        if (a.status.empty()) return ctx.print_json(p);
        return ctx.print_json(nlohmann::json(shown));
    }
    ctx.print_account_header();
    if (shown.empty()) {
        std::cout << (a.status.empty() ? "No notifications.\n" : "No " + a.status + " notifications.\n");
        print_page_hint(p, "notifications");
        return;
    }
    Table t({"ID", "WHEN", "EVENT", "STATUS", "TO", "SUBJECT"});
    for (const auto& n : shown)
        t.add_row({text(n, "id"), text(n, "created_at"), text(n, "event"), text(n, "status"), notice_recipients(n),
                   text(n, "subject")});
    t.print(std::cout);
    // Why the others did not go out, whole (a table cell would cut it).
    bool first = true;
    for (const auto& n : shown) {
        const std::string reason = notice_reason(n);
        if (reason.empty()) continue;
        if (first) std::cout << "\nNot sent:\n";
        first = false;
        std::cout << "  " << term_safe(text(n, "id")) << " (" << term_safe(text(n, "status")) << "): " << term_safe(reason)
                  << '\n';
    }
    print_page_hint(p, "notifications");
}

void print_notice(const nlohmann::json& n) {
    Details d;
    d.add("ID", text(n, "id"));
    d.add("Event", text(n, "event"));
    d.add("Status", text(n, "status"));
    const std::string reason = notice_reason(n);
    if (!reason.empty()) d.add("Reason", reason);
    d.add("Attempts", text(n, "attempts"));
    d.add("Created", text(n, "created_at"));
    d.add("Sent", text(n, "sent_at"));
    d.add("To", notice_recipients(n));
    d.add("Subject", text(n, "subject"));
    d.print(std::cout);
    // The body as mailed, line by line, every line escaped for the terminal.
    const std::string body = n.is_object() && n.contains("body") && n["body"].is_string() ? n["body"].get<std::string>() : "";
    std::cout << '\n';
    std::string_view rest = body;
    while (!rest.empty()) {
        const auto nl = rest.find('\n');
        std::cout << term_safe(rest.substr(0, nl)) << '\n';
        if (nl == std::string_view::npos) break;
        rest.remove_prefix(nl + 1);
    }
}

void notice_show(Context& ctx, const std::string& id) {
    ListOptions all;
    all.all = true;
    for (const auto& n : ctx.list("/v1/notifications", {}, all).items) {
        if (!n.is_object() || !n.contains("id") || n["id"] != id) continue;
        if (ctx.opts.json) return ctx.print_json(n);
        ctx.print_account_header();
        return print_notice(n);
    }
    throw CliError(kExitNotFound, "the account has no notification " + id);
}

}  // namespace

void register_notification_commands(CLI::App& app, Context& ctx) {
    auto* notifications = app.add_subcommand(
        "notifications",
        "The account's security notifications to its security contacts, and whether they were sent (owners)");
    notifications->require_subcommand(0, 1);

    // `notifications` alone lists, taking the list's options.
    auto args = std::make_shared<NoticeListArgs>();
    notice_add_options(notifications, *args);
    auto* list = notifications->add_subcommand("list", "List them, newest first (the default)");
    notice_add_options(list, *args);
    on_run(list, ctx, [&ctx, args] { notice_list(ctx, *args); });
    // Runs after a subcommand's callback: only takes over when none was given.
    notifications->callback([&ctx, notifications, args] {
        if (notifications->get_subcommands().empty()) ctx.action = [&ctx, args] { notice_list(ctx, *args); };
    });

    auto id = std::make_shared<std::string>();
    auto* show = notifications->add_subcommand("show", "Show one: recipients, status, subject and the whole text");
    show->add_option("ID", *id, "The notification's id (ntf_...)")->required();
    on_run(show, ctx, [&ctx, id] { notice_show(ctx, *id); });
}

}  // namespace portal::ctl
