// portalctl: the admin CLI for portal-keyd's v1 API on its local socket, or on a remote
// authority over HTTPS (--url, with an API token).
#include <iostream>
#include <string>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/api_client.h"
#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace {

constexpr const char* kFooter = R"(Exit codes:
  0  success
  1  the API refused the request (4xx other than below)
  2  usage error
  3  cannot reach portal-keyd (connect failed or timed out)
  4  server error (5xx) or an unusable reply
  5  not found (404)
  6  forbidden (403)
  7  conflict (409))";

}  // namespace

int main(int argc, char** argv) {
    using namespace portal::ctl;
    Context ctx;

    CLI::App app{"portalctl: manage the portal's accounts, users, 2FA and SSH keys through "
                 "portal-keyd's local API"};
    app.footer(kFooter);
    app.fallthrough();  // global options may follow the subcommand; set before adding them
    app.require_subcommand(1);
    app.add_option("--socket", ctx.opts.socket, "portal-keyd API socket")
        ->envname("PORTAL_KEYD_SOCKET")
        ->capture_default_str();
    app.add_option("--account", ctx.opts.account, "Account to act on (X-Account-ID)");
    app.add_flag("--json", ctx.opts.json, "Print the API's JSON instead of tables");
    app.add_option("--timeout", ctx.opts.timeout_seconds, "Seconds to wait for the daemon")
        ->check(CLI::Range(0.001, 3600.0))
        ->capture_default_str();
    app.add_option("--url", ctx.opts.url, "A remote authority's HTTPS API (https://host:port) instead of the socket")
        ->envname("PORTAL_URL");
    app.add_option("--token-file", ctx.opts.token_file,
                   "With --url: file holding the API token ('-': stdin); default $PORTAL_TOKEN");
    app.add_option("--pin", ctx.opts.pin, "With --url: the server's key pin, sha256//... (portal-keyd --print-pin)")
        ->envname("PORTAL_PIN");
    app.add_option("--cacert", ctx.opts.cacert, "With --url: trust the server through this CA file");

    register_account_commands(app, ctx);
    register_user_commands(app, ctx);
    register_profile_commands(app, ctx);
    register_invitation_commands(app, ctx);
    register_key_commands(app, ctx);
    register_status_command(app, ctx);
    register_token_commands(app, ctx);
    register_host_commands(app, ctx);
    register_allowlist_commands(app, ctx);
    register_server_commands(app, ctx);
    register_session_commands(app, ctx);
    register_contact_commands(app, ctx);
    register_ticket_commands(app, ctx);
    register_support_commands(app, ctx);
    register_notification_commands(app, ctx);
    register_homes_command(app, ctx);
    register_why_command(app, ctx);

    try {
        app.parse(argc, argv);
    } catch (const CLI::ParseError& e) {
        // "portalctl account frobnicate": CLI11 reports the missing subcommand, not the word it
        // did not know; name that word.
        if (dynamic_cast<const CLI::RequiredError*>(&e) != nullptr &&
            std::string(e.what()).find("ubcommand") != std::string::npos) {
            const auto left = app.remaining(true);
            if (!left.empty() && !left.front().empty() && left.front().front() != '-') {
                std::cerr << "portalctl: unknown command '" << term_safe(left.front())
                          << "' (portalctl --help lists the commands)\n";
                return kExitUsage;
            }
        }
        const int rc = app.exit(e);  // prints help, or the error with a hint
        return rc == 0 ? kExitOk : kExitUsage;
    }

    try {
        if (!ctx.action) {
            std::cerr << app.help();
            return kExitUsage;
        }
        ctx.action();
        std::cout.flush();
        return kExitOk;
    } catch (const ApiError& e) {
        std::cout.flush();
        const int rc = report(e);
        if (ctx.selected_account_used() && (e.response.status == 403 || e.response.status == 404))
            std::cerr << "portalctl: (the account is the one 'portalctl accounts use' selected; --account ID picks "
                         "another, 'portalctl accounts use --none' forgets it)\n";
        return rc;
    } catch (const CliError& e) {
        std::cerr << "portalctl: " << term_safe(e.what()) << '\n';
        return e.exit_code;
    } catch (const TransportError& e) {
        std::cerr << "portalctl: " << term_safe(e.what()) << '\n';
        return kExitUnreachable;
    } catch (const ProtocolError& e) {
        std::cerr << "portalctl: " << term_safe(e.what()) << '\n';
        return kExitServer;
    } catch (const std::exception& e) {
        std::cerr << "portalctl: " << term_safe(e.what()) << '\n';
        return kExitServer;
    }
}
