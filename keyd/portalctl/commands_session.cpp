// login | logout: a portal session for the commands that follow. On an agent's socket, every
// change goes to the portal with this session (or an API token in PORTAL_TOKEN), never with
// the server's own host token; with --url it is the credential for that portal.
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/session_file.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

struct Login {
    std::string email;
};

bool tfa_required(const Response& r) {
    if (r.status != 401) return false;
    const auto j = nlohmann::json::parse(r.body, nullptr, false);
    return j.is_object() && j.contains("code") && j["code"] == "TFA_REQUIRED";
}

}  // namespace

void register_session_commands(CLI::App& app, Context& ctx) {
    auto l = std::make_shared<Login>();
    auto* login = app.add_subcommand(
        "login", "Sign in to the portal (email, password, then your 2FA code if you have 2FA): changes made "
                 "through an agent's socket, or with --url, use this session until it expires or you log out");
    login->add_option("--email", l->email, "Your email (asked for when not given)");
    on_run(login, ctx, [&ctx, l] {
        ctx.opts.anonymous = true;  // the proof is the password, not an old session
        std::string email = l->email;
        if (email.empty()) {
            std::cerr << "Email: " << std::flush;
            std::getline(std::cin, email);
            while (!email.empty() && (email.back() == '\r' || email.back() == ' ')) email.pop_back();
            if (email.empty()) throw usage_error("no email given");
        }
        nlohmann::json body{{"email", email}, {"password", read_secret("-", "Password: ")}};
        Response r;
        try {
            r = ctx.api().request("POST", "/v1/auth/sessions", &body);
            if (tfa_required(r)) {
                body["tfa_code"] = read_secret("-", "Code from your authenticator app (or a recovery code): ");
                r = ctx.api().request("POST", "/v1/auth/sessions", &body);
            }
        } catch (const std::invalid_argument& e) {
            throw usage_error(e.what());
        }
        body["password"] = std::string(body["password"].get<std::string>().size(), '\0');
        if (!r.ok()) throw ApiError(std::move(r));
        const auto j = r.json();
        if (!j.is_object() || !j.contains("token") || !j["token"].is_string())
            throw ProtocolError("the portal's answer to a sign-in holds no token");
        // The portal that made it: --url's, or the one the agent behind the socket follows.
        Session session{j["token"].get<std::string>(), ctx.api().options().base_url};
        if (session.portal.empty()) session.portal = r.header("X-Portal").value_or("");
        if (session.portal.empty())
            throw CliError(kExitRefused, "this socket is the portal's own: portalctl works here by your uid, without "
                                         "signing in; to use a session elsewhere, sign in with --url");
        write_session(session);
        if (ctx.opts.json) return ctx.print_json(nlohmann::json{{"expires_at", j.value("expires_at", "")},
                                                                {"session_file", session_file_path().string()}});
        Details d;
        d.add("Signed in", term_safe(email));
        d.add("Expires", text(j, "expires_at"));
        d.add("Session kept in", term_safe(session_file_path().string()));
        d.print(std::cout);
    });

    auto* logout = app.add_subcommand("logout", "End the portal session portalctl login made, and forget it");
    on_run(logout, ctx, [&ctx] {
        const Session session = read_session();
        if (session.empty()) {
            std::cout << "Not signed in.\n";
            return;
        }
        // The session ends at the portal first; a session it no longer knows is forgotten too.
        if (std::getenv("PORTAL_TOKEN") != nullptr)
            throw usage_error("PORTAL_TOKEN is set: unset it, so that the session itself is ended");
        std::string url = ctx.opts.url;
        while (url.ends_with('/')) url.pop_back();
        if (!url.empty() && url != session.portal)
            throw usage_error("your session is for " + session.portal + ", not " + url);
        Response r;
        try {
            r = ctx.api().request("DELETE", "/v1/auth/sessions/current");
        } catch (const std::invalid_argument& e) {
            throw usage_error(e.what());
        }
        // 401 with error="invalid_token": the portal no longer knows it. Any other 401 (an
        // agent that follows another portal) leaves the session as it is.
        const bool gone = r.status == 401 && r.header("WWW-Authenticate").value_or("").find("invalid_token") != std::string::npos;
        if (!r.ok() && !gone && r.status == 401) throw ApiError(std::move(r));
        remove_session_token();
        if (r.ok()) std::cout << "Signed out.\n";
        else if (gone) std::cout << "The session had already ended; forgotten.\n";
        else {
            std::cout << "Forgotten here; the portal did not end the session (HTTP " << r.status
                      << "), so it lasts until it expires. An agent's socket, or --url, can end it.\n";
            throw ApiError(std::move(r));
        }
    });
}

}  // namespace portal::ctl
