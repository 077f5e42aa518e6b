// join, leave: this server follows a remote portal as its agent, or stops following it. Root
// asks the daemon behind the socket (--socket) to do it: the daemon registers at the portal,
// keeps the host token and settings in its state directory, and restarts in its new mode.
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <thread>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

struct Join {
    std::string url;
    bool discard_local_accounts = false;
};

// The enrolment token: --token-file FILE or '-' (stdin, prompted on a terminal), else
// $PORTAL_ENROLMENT_TOKEN. Never an argument: other local users read the command lines of
// processes, and a one-use token seen there could register their host first.
std::string enrolment_token(const GlobalOptions& opts) {
    std::string token;
    if (opts.token_file == "-") {
        token = read_secret("-", "Enrolment token: ");
    } else if (!opts.token_file.empty()) {
        std::ifstream in(opts.token_file);
        if (!in) throw usage_error("cannot read --token-file " + opts.token_file);
        std::getline(in, token);
    } else if (const char* env = std::getenv("PORTAL_ENROLMENT_TOKEN")) {
        token = env;
    }
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ' || token.back() == '\n')) token.pop_back();
    if (token.empty())
        throw usage_error("give the enrolment token (portalctl hosts enrol, at the portal) with --token-file FILE, "
                          "--token-file - (stdin), or $PORTAL_ENROLMENT_TOKEN");
    return token;
}

// The daemon restarts in its new mode: wait until it answers as `mode`.
nlohmann::json wait_for_mode(Context& ctx, const std::string& mode) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
    while (std::chrono::steady_clock::now() < deadline) {
        std::this_thread::sleep_for(std::chrono::milliseconds(200));
        try {
            auto r = ctx.api().request("GET", "/v1/server");
            if (!r.ok()) {
                if (mode == "authority" && r.status != 503) return nlohmann::json::object();
                continue;
            }
            auto j = r.json();
            if (j.value("mode", std::string("authority")) == mode) return j;
        } catch (const std::exception&) {
            // restarting: the socket comes back in a moment
        }
    }
    throw CliError(kExitUnreachable, "the daemon did not come back as " + mode + " within 30 s: see journalctl -u portal-keyd");
}

}  // namespace

void register_server_commands(CLI::App& app, Context& ctx) {
    auto j = std::make_shared<Join>();
    auto* join = app.add_subcommand(
        "join", "Make this server an agent of a portal (root): --pin or --cacert, the enrolment token from --token-file");
    join->add_option("URL", j->url, "The portal, https://host:port")->required();
    join->add_flag("--discard-local-accounts", j->discard_local_accounts,
                   "This server is itself a portal with accounts: set them aside (kept on disk, not used)");
    on_run(join, ctx, [&ctx, j] {
        nlohmann::json body{{"url", j->url}, {"enrolment_token", enrolment_token(ctx.opts)},
                            {"discard_local_accounts", j->discard_local_accounts}};
        if (!ctx.opts.pin.empty()) body["pin"] = ctx.opts.pin;
        if (!ctx.opts.cacert.empty()) body["ca_file"] = std::filesystem::absolute(ctx.opts.cacert).string();
        if (!ctx.opts.url.empty()) throw usage_error("join asks the daemon on this server's socket: no --url");
        // Here --pin, --cacert and --token-file describe the portal to join, not this socket.
        ctx.opts.pin.clear();
        ctx.opts.cacert.clear();
        ctx.opts.token_file.clear();
        ctx.opts.timeout_seconds = std::max(ctx.opts.timeout_seconds, 30.0);
        auto r = ctx.call("POST", "/v1/server/join", &body);
        const auto joined = r.json();
        const auto server = wait_for_mode(ctx, "agent");
        if (ctx.opts.json) return ctx.print_json(nlohmann::json{{"join", joined}, {"server", server}});
        Details d;
        d.add("Joined", term_safe(j->url));
        d.add("Host id", text(joined, "host_id"));
        d.add("Mode", "agent (portalctl status shows the sync)");
        d.print(std::cout);
    });

    auto yes = std::make_shared<bool>(false);
    auto* leave = app.add_subcommand("leave", "Stop following the portal (root): its members stop being users here");
    leave->add_flag("--yes", *yes, "Yes: the portal's members lose access to this server and their sessions end");
    on_run(leave, ctx, [&ctx, yes] {
        if (!*yes)
            throw usage_error("leaving ends every portal member's access to this server: confirm with --yes");
        Response r;
        try {
            r = ctx.call("POST", "/v1/server/leave");
        } catch (const ApiError& e) {
            // Only an agent's socket has the endpoint: an authority's answers "no such endpoint".
            if (e.response.status != 404) throw;
            throw CliError(kExitNotFound, "this server follows no portal (it is an authority): nothing to leave");
        }
        wait_for_mode(ctx, "authority");
        if (ctx.opts.json) return ctx.print_json(r.json());
        std::cout << "Left the portal: this server is an authority again (its host stays listed at the portal "
                     "until an owner deletes it: portalctl hosts delete).\n";
    });
}

}  // namespace portal::ctl
