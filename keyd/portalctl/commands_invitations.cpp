// invitations [list] | accept ACCOUNT_ID | decline ACCOUNT_ID
#include <iostream>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

std::string invitation_path(const std::string& account_id, const char* answer) {
    return "/v1/profile/invitations/" + encode_path_segment(account_id) + "/" + answer;
}

void list_invitations(Context& ctx) {
    auto r = ctx.call("GET", "/v1/profile/invitations");
    ctx.emit(r, [](const nlohmann::json& list) {
        Table t({"ACCOUNT", "NAME", "ROLE", "INVITED"});
        if (list.is_array())
            for (const auto& i : list)
                t.add_row({text(i, "account_id"), text(i, "account_name"), text(i, "role"), text(i, "invited_at")});
        if (t.empty()) {
            std::cout << "No pending invitations.\n";
            return;
        }
        t.print(std::cout);
    });
}

}  // namespace

void register_invitation_commands(CLI::App& app, Context& ctx) {
    auto* inv = app.add_subcommand("invitations", "Accounts you were invited to (accept to join)");
    auto* list = inv->add_subcommand("list", "List pending invitations (the default)");
    on_run(list, ctx, [&ctx] { list_invitations(ctx); });
    // Bare `invitations` lists. CLI11 runs this parent's callback after the subcommand's: it must
    // not replace the action `accept`/`decline` set (it did, and they silently did nothing).
    inv->callback([&ctx, inv] {
        if (inv->get_subcommands().empty()) ctx.action = [&ctx] { list_invitations(ctx); };
    });

    for (const char* answer : {"accept", "decline"}) {
        auto account = std::make_shared<std::string>();
        auto* cmd = inv->add_subcommand(answer, std::string(answer) == std::string("accept")
                                                    ? "Join the account you were invited to"
                                                    : "Decline the invitation (the membership is removed)");
        cmd->add_option("ACCOUNT_ID", *account, "The account's id (see 'portalctl invitations')")->required();
        on_run(cmd, ctx, [&ctx, account, answer] {
            auto r = ctx.call("POST", invitation_path(*account, answer));
            ctx.emit(r, [&](const nlohmann::json&) {
                if (std::string(answer) == "accept") std::cout << "You are now a member of " << term_safe(*account) << ".\n";
                else std::cout << "Invitation to " << term_safe(*account) << " declined.\n";
            });
        });
    }
}

}  // namespace portal::ctl
