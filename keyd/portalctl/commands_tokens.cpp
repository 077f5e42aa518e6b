// tokens list|create|delete: your own API tokens, for the HTTPS API (portalctl --url, curl).
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

struct NewToken {
    std::string name;
    std::string access = "read_only";
    long expires_in = 0;  // seconds; 0: until deleted
};

}  // namespace

void register_token_commands(CLI::App& app, Context& ctx) {
    auto* tokens = app.add_subcommand("tokens", "Your API tokens for the HTTPS API (not available to root)");
    tokens->require_subcommand(1);

    auto* list = tokens->add_subcommand("list", "List your tokens (never their secrets)");
    on_run(list, ctx, [&ctx] {
        auto r = ctx.call("GET", "/v1/api_tokens");
        ctx.emit(r, [](const nlohmann::json& items) {
            Table t({"ID", "NAME", "ACCESS", "CREATED", "EXPIRES", "LAST USED"});
            if (items.is_array())
                for (const auto& i : items)
                    t.add_row({text(i, "id"), text(i, "name"), text(i, "access_level"), text(i, "created_at"),
                               text(i, "expires_at"), text(i, "last_used_at")});
            t.print(std::cout);
        });
    });

    auto n = std::make_shared<NewToken>();
    auto* create = tokens->add_subcommand("create", "Create a token; its secret is printed once");
    create->add_option("NAME", n->name, "A name to tell it by (unique among yours)")->required();
    create->add_option("--access", n->access, "read_only (GET only) or full")
        ->check(CLI::IsMember({"read_only", "full"}))
        ->capture_default_str();
    create->add_option("--expires-in", n->expires_in, "Seconds until it stops working (default: never)")
        ->check(CLI::Range(60L, 10L * 366 * 86400));
    on_run(create, ctx, [&ctx, n] {
        nlohmann::json body{{"name", n->name}, {"access_level", n->access}};
        if (n->expires_in > 0) body["expires_in"] = n->expires_in;
        auto r = ctx.call("POST", "/v1/api_tokens", &body);
        ctx.emit(r, [](const nlohmann::json& t) {
            Details d;
            d.add("ID", text(t, "id"));
            d.add("Name", text(t, "name"));
            d.add("Access", text(t, "access_level"));
            d.add("Expires", text(t, "expires_at"));
            d.print(std::cout);
            std::cout << "\nToken (shown only now; store it like a password):\n  " << text(t, "token")
                      << "\n\nUse it with: PORTAL_TOKEN=<token> portalctl --url https://<server>:8443 --pin <pin> ...\n";
        });
    });

    auto id = std::make_shared<std::string>();
    auto* del = tokens->add_subcommand("delete", "Delete one of your tokens: it stops working at once");
    del->add_option("ID", *id, "The token's id (tok_...)")->required();
    on_run(del, ctx, [&ctx, id] {
        ctx.call("DELETE", "/v1/api_tokens/" + encode_path_segment(*id));
        if (!ctx.opts.json) std::cout << "Deleted token " << term_safe(*id) << ".\n";
    });
}

}  // namespace portal::ctl
