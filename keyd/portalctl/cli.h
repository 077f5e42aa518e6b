// What every portalctl command shares: global options, the API client, errors,
// list paging and output helpers.
#pragma once
#include <functional>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "keyd/portalctl/api_client.h"

namespace CLI {
class App;
}

namespace portal::ctl {

// Exit codes, also listed in the --help footer (main.cpp).
enum Exit : int {
    kExitOk = 0,
    kExitRefused = 1,      // the API refused the request (4xx)
    kExitUsage = 2,        // bad command line
    kExitUnreachable = 3,  // cannot connect, or timed out
    kExitServer = 4,       // 5xx, or a reply portalctl cannot use
    kExitNotFound = 5,     // 404
    kExitForbidden = 6,    // 403
    kExitConflict = 7,     // 409
};

int exit_code_for_status(long status);

// A failure detected by portalctl itself, with the exit code to use.
struct CliError : std::runtime_error {
    CliError(int code, const std::string& what) : std::runtime_error(what), exit_code(code) {}
    int exit_code;
};
inline CliError usage_error(const std::string& what) { return CliError(kExitUsage, what); }

// The daemon answered with a non-2xx status.
struct ApiError : std::runtime_error {
    explicit ApiError(Response r);
    Response response;
};

// Prints an error to stderr as `portalctl: <message> (<code>, HTTP <status>)` plus
// field errors; returns the exit code.
int report(const ApiError& e);

struct GlobalOptions {
    std::string socket = "/run/portal-keyd/api.sock";
    std::string account;
    bool json = false;
    double timeout_seconds = 10.0;
    // A remote authority over HTTPS instead of the socket. The token never comes from argv
    // (other local users can read it there): a file, stdin ('-'), or $PORTAL_TOKEN.
    std::string url;
    std::string token_file;
    std::string pin;
    std::string cacert;
    bool anonymous = false;  // send no credential (signing in)
};

struct ListOptions {
    long page = 0;      // 0: the daemon's default
    long per_page = 0;  // 0: the daemon's default (100 with --all)
    bool all = false;
};
// Adds --page, --per-page and --all to a list command.
void add_list_options(CLI::App* cmd, ListOptions& opts);

struct Page {
    std::vector<nlohmann::json> items;
    std::string raw;  // the daemon's body when one response holds the whole result
    std::optional<long> total, page, pages;
};

class Context {
public:
    GlobalOptions opts;
    std::function<void()> action;  // set by the subcommand that was chosen

    ApiClient& api();

    // One request; throws ApiError unless the status is 2xx.
    Response call(std::string_view method, std::string_view target,
                  const nlohmann::json* body = nullptr);
    nlohmann::json get(std::string_view path, const Query& q = {});
    // A list endpoint: one page, or every page with opts.all (follows Link rel="next",
    // else X-Total-Pages / X-Total).
    Page list(std::string_view path, Query q, const ListOptions& opts);

    // --json output of a value portalctl put together (--all, status): compact, like
    // the daemon's own bodies.
    void print_json(const nlohmann::json& j) const;
    // --json output of a list: the daemon's body if one page held it all.
    void print_json(const Page& p) const;
    // --json prints the daemon's body as it came (after checking it is JSON); otherwise
    // `human` renders it. Either way DEL, C1 and bidi controls are escaped as \uXXXX
    // and CR dropped: the same JSON value, but safe for a terminal.
    void emit(const Response& r, const std::function<void(const nlohmann::json&)>& human) const;

    // Above an account's tables: "Account: NAME (ID), ROLE" — whose data this is, asked once.
    void print_account_header();
    // Whether the account came from `portalctl accounts use` (not --account): errors say so.
    bool selected_account_used() const { return selected_account_used_; }

private:
    std::unique_ptr<ApiClient> api_;
    bool selected_account_used_ = false;
};

// Sets the subcommand's action: it runs after the whole command line parsed.
void on_run(CLI::App* cmd, Context& ctx, std::function<void()> fn);

// A user id as given, or the id of the member with this email (argument has '@').
std::string resolve_user(Context& ctx, const std::string& id_or_email);

// A field of an untrusted object as display text: "-" when missing or null,
// yes/no for booleans, numbers and nested values as JSON.
std::string text(const nlohmann::json& obj, std::string_view key);

// True only if obj[key] is the boolean true.
bool flag(const nlohmann::json& obj, std::string_view key);

// Prints "page X of Y (N <noun>)..." to stderr when more pages exist.
void print_page_hint(const Page& p, std::string_view noun);

// Reads a secret given as `arg`; "-" (or empty) reads one line from stdin, prompting
// without echo on a terminal. Trims surrounding whitespace.
std::string read_secret(std::string_view arg, std::string_view prompt);
// Reads all of stdin, at most `max` bytes (more is a usage error).
std::string read_stdin(std::size_t max);

// Subcommand trees.
void register_account_commands(CLI::App& app, Context& ctx);
void register_user_commands(CLI::App& app, Context& ctx);
void register_profile_commands(CLI::App& app, Context& ctx);  // profile, tfa
void register_invitation_commands(CLI::App& app, Context& ctx);
void register_key_commands(CLI::App& app, Context& ctx);
void register_status_command(CLI::App& app, Context& ctx);
void register_token_commands(CLI::App& app, Context& ctx);
void register_host_commands(CLI::App& app, Context& ctx);  // hosts, logins
void register_allowlist_commands(CLI::App& app, Context& ctx);  // allowlist, password
void register_server_commands(CLI::App& app, Context& ctx);     // join, leave
void register_session_commands(CLI::App& app, Context& ctx);    // login, logout
void register_homes_command(CLI::App& app, Context& ctx);      // homes
void register_why_command(CLI::App& app, Context& ctx);        // why
void register_contact_commands(CLI::App& app, Context& ctx);    // contacts
void register_ticket_commands(CLI::App& app, Context& ctx);     // tickets
void register_support_commands(CLI::App& app, Context& ctx);    // support access, grant, revoke, staff
void register_notification_commands(CLI::App& app, Context& ctx);  // notifications

}  // namespace portal::ctl
