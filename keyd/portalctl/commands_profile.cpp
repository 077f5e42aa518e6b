// profile show|set, tfa enable|confirm|disable
#include <unistd.h>

#include <iostream>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/qr.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

void print_profile(const nlohmann::json& u) {
    Details d;
    d.add("ID", text(u, "id"));
    d.add("Email", text(u, "email"));
    d.add("Name", text(u, "name"));
    d.add("Unix name", text(u, "unix_name"));
    d.add("UID", text(u, "uid"));
    d.add("2FA", flag(u, "tfa_enabled") ? "enabled" : "not enabled");
    d.print(std::cout);
    if (u.is_object() && u.contains("accounts") && u["accounts"].is_array()) {
        std::cout << '\n';
        Table t({"ACCOUNT", "NAME", "ROLE", "STATUS"});
        for (const auto& a : u["accounts"])
            t.add_row({text(a, "id"), text(a, "name"), text(a, "role"), text(a, "status")});
        t.print(std::cout);
    }
}

void tfa_enable(Context& ctx, bool no_qr) {
    auto r = ctx.call("POST", "/v1/profile/tfa/enable");
    ctx.emit(r, [&](const nlohmann::json& e) {
        const std::string uri = text(e, "otpauth_uri");
        std::cout << "Add this account to your authenticator app";
        if (!no_qr && uri != "-") {
            std::cout << " by scanning the QR code or entering the secret:\n\n";
            try {
                std::cout << render_qr(uri, isatty(STDOUT_FILENO) ? QrStyle::ansi : QrStyle::plain);
            } catch (const std::exception& ex) {
                std::cout << "(no QR code: " << ex.what() << ")\n";
            }
            std::cout << '\n';
        } else {
            std::cout << " by entering the secret:\n\n";
        }
        Details d;
        d.add("Secret", text(e, "secret"));
        d.add("URI", uri);
        d.add("Expires", text(e, "expires_at"));
        d.print(std::cout);
        std::cout << "\nThen confirm with the code the app shows: portalctl tfa confirm -\n";
    });
}

}  // namespace

void register_profile_commands(CLI::App& app, Context& ctx) {
    auto* profile = app.add_subcommand("profile", "Your own user (not available to root)");
    profile->require_subcommand(1);

    auto* show = profile->add_subcommand("show", "Show your profile");
    on_run(show, ctx, [&ctx] {
        auto r = ctx.call("GET", "/v1/profile");
        ctx.emit(r, print_profile);
    });

    auto name = std::make_shared<std::string>();
    auto* set = profile->add_subcommand("set", "Change your name");
    set->add_option("--name", *name, "Full name")->required();
    on_run(set, ctx, [&ctx, name] {
        nlohmann::json body{{"name", *name}};
        auto r = ctx.call("PUT", "/v1/profile", &body);
        ctx.emit(r, print_profile);
    });

    auto* tfa = app.add_subcommand("tfa", "Your two-factor authentication (TOTP)");
    tfa->require_subcommand(1);

    auto no_qr = std::make_shared<bool>(false);
    auto* enable = tfa->add_subcommand("enable", "Start enrolment: prints the secret and a QR code");
    enable->add_flag("--no-qr", *no_qr, "Do not draw the QR code");
    on_run(enable, ctx, [&ctx, no_qr] { tfa_enable(ctx, *no_qr); });

    auto confirm_code = std::make_shared<std::string>("-");
    auto* confirm = tfa->add_subcommand("confirm", "Finish enrolment with a current code");
    confirm->add_option("CODE", *confirm_code,
                        "The 6-digit code; '-' or omitted reads it from stdin (keeps it out of argv)");
    on_run(confirm, ctx, [&ctx, confirm_code] {
        nlohmann::json body{{"code", read_secret(*confirm_code, "Code from your authenticator app: ")}};
        auto r = ctx.call("POST", "/v1/profile/tfa/confirm", &body);
        ctx.emit(r, [](const nlohmann::json& c) {
            std::cout << "Two-factor authentication is on.\n\n"
                         "Recovery codes (shown only now; keep them somewhere safe, each works once):\n";
            if (c.is_object() && c.contains("recovery_codes") && c["recovery_codes"].is_array()) {
                for (const auto& code : c["recovery_codes"])
                    std::cout << "  " << term_safe(code.is_string() ? code.get<std::string>() : code.dump())
                              << '\n';
            }
        });
    });

    auto disable_code = std::make_shared<std::string>("-");
    auto* disable = tfa->add_subcommand("disable", "Turn your 2FA off");
    disable->add_option("CODE", *disable_code,
                        "A current code or a recovery code; '-' or omitted reads it from stdin");
    on_run(disable, ctx, [&ctx, disable_code] {
        nlohmann::json body{{"code", read_secret(*disable_code, "Code or recovery code: ")}};
        auto r = ctx.call("POST", "/v1/profile/tfa/disable", &body);
        ctx.emit(r, [](const nlohmann::json&) { std::cout << "Two-factor authentication is off.\n"; });
    });
}

}  // namespace portal::ctl
