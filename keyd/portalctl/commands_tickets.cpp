// tickets list|show|open|reply|close: the account's support tickets (any active member).
// Message text comes from --body or, without it, from stdin (a terminal ends it with Ctrl-D).
#include <unistd.h>

#include <iostream>
#include <memory>
#include <string_view>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

constexpr std::size_t kBodyMax = 16384;  // the API's limit per message

struct TicketArgs {
    std::string id, subject, body, status;
};

// Text for the API: valid UTF-8 (a Latin-1 file is the usual mistake), said before sending.
std::string checked_text(std::string text, const char* what) {
    try {
        (void)nlohmann::json(text).dump();
    } catch (const nlohmann::json::exception&) {
        throw usage_error(std::string(what) + " is not UTF-8 text (convert it first, e.g. iconv -f latin1 -t utf-8)");
    }
    return text;
}

std::string message_text(const CLI::App* cmd, const TicketArgs& a) {
    if (cmd->count("--body")) return checked_text(a.body, "--body");
    if (::isatty(STDIN_FILENO)) std::cerr << "Message (end with Ctrl-D):\n";
    return checked_text(read_stdin(2 * kBodyMax), "the message on stdin");  // CRLF counts once at the portal
}

void print_ticket(const nlohmann::json& t) {
    Details d;
    d.add("ID", text(t, "id"));
    d.add("Subject", text(t, "subject"));
    d.add("Status", text(t, "status"));
    d.add("Opened", text(t, "created_at"));
    if (t.contains("closed_at") && !t["closed_at"].is_null()) d.add("Closed", text(t, "closed_at"));
    d.print(std::cout);
    if (!t.contains("messages") || !t["messages"].is_array()) return;
    for (const auto& m : t["messages"]) {
        // Message text is the sender's: shown line by line, every line escaped for the terminal.
        std::cout << "\n--- " << term_safe(text(m, "author_name")) << ", " << term_safe(text(m, "created_at")) << "\n";
        const std::string body = m.contains("body") && m["body"].is_string() ? m["body"].get<std::string>() : "";
        std::string_view rest = body;
        while (!rest.empty()) {
            const auto nl = rest.find('\n');
            std::cout << term_safe(rest.substr(0, nl)) << "\n";
            if (nl == std::string_view::npos) break;
            rest.remove_prefix(nl + 1);
        }
    }
}

}  // namespace

void register_ticket_commands(CLI::App& app, Context& ctx) {
    auto* tickets = app.add_subcommand("tickets", "The account's support tickets");
    tickets->require_subcommand(1);

    auto la = std::make_shared<ListOptions>();
    auto ls = std::make_shared<TicketArgs>();
    auto* list = tickets->add_subcommand("list", "List tickets, newest first");
    add_list_options(list, *la);
    list->add_option("--status", ls->status, "Only open or closed ones")->check(CLI::IsMember({"open", "closed"}));
    on_run(list, ctx, [&ctx, la, ls] {
        Query q;
        if (!ls->status.empty()) q.emplace_back("status", ls->status);
        Page p = ctx.list("/v1/support/tickets", q, *la);
        if (ctx.opts.json) return ctx.print_json(p);
        ctx.print_account_header();
        Table t({"ID", "STATUS", "SUBJECT", "MESSAGES", "UPDATED"});
        for (const auto& item : p.items)
            t.add_row({text(item, "id"), text(item, "status"), text(item, "subject"), text(item, "message_count"),
                       text(item, "updated_at")});
        t.print(std::cout);
        print_page_hint(p, "tickets");
    });

    auto sid = std::make_shared<std::string>();
    auto* show = tickets->add_subcommand("show", "Show a ticket and its messages");
    show->add_option("ID", *sid, "The ticket's id (tkt_...)")->required();
    on_run(show, ctx, [&ctx, sid] {
        ctx.emit(ctx.call("GET", "/v1/support/tickets/" + encode_path_segment(*sid)), print_ticket);
    });

    auto o = std::make_shared<TicketArgs>();
    auto* open = tickets->add_subcommand("open", "Open a ticket: --subject, and the message from --body or stdin");
    open->add_option("--subject", o->subject, "What it is about (one line)")->required();
    open->add_option("--body", o->body, "The message (else read from stdin)");
    on_run(open, ctx, [&ctx, open, o] {
        nlohmann::json body{{"subject", checked_text(o->subject, "--subject")}, {"body", message_text(open, *o)}};
        ctx.emit(ctx.call("POST", "/v1/support/tickets", &body), print_ticket);
    });

    auto r = std::make_shared<TicketArgs>();
    auto* reply = tickets->add_subcommand("reply", "Add a message to an open ticket (--body or stdin)");
    reply->add_option("ID", r->id, "The ticket's id (tkt_...)")->required();
    reply->add_option("--body", r->body, "The message (else read from stdin)");
    on_run(reply, ctx, [&ctx, reply, r] {
        nlohmann::json body{{"body", message_text(reply, *r)}};
        auto resp = ctx.call("POST", "/v1/support/tickets/" + encode_path_segment(r->id) + "/messages", &body);
        if (ctx.opts.json) return ctx.emit(resp, [](const nlohmann::json&) {});
        std::cout << "Added to ticket " << term_safe(r->id) << ".\n";
    });

    auto cid = std::make_shared<std::string>();
    auto* close = tickets->add_subcommand("close", "Close a ticket (it takes no more messages)");
    close->add_option("ID", *cid, "The ticket's id (tkt_...)")->required();
    on_run(close, ctx, [&ctx, cid] {
        nlohmann::json body = nlohmann::json::object();
        ctx.emit(ctx.call("POST", "/v1/support/tickets/" + encode_path_segment(*cid) + "/close", &body), print_ticket);
    });
}

}  // namespace portal::ctl
