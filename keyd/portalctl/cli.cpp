#include "keyd/portalctl/cli.h"

#include <termios.h>
#include <unistd.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/session_file.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

constexpr long kMaxPages = 10000;  // --all stops here whatever the daemon says

std::optional<long> header_number(const Response& r, std::string_view name) {
    auto v = r.header(name);
    if (!v || v->empty() || v->size() > 18) return std::nullopt;
    long n = 0;
    for (char c : *v) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');
    }
    return n;
}

// The target of Link rel="next", if it is a /v1/ path on this daemon.
std::optional<std::string> next_link(const Response& r) {
    auto link = r.header("Link");
    if (!link) return std::nullopt;
    std::string_view rest = *link;
    while (!rest.empty()) {
        auto lt = rest.find('<');
        auto gt = rest.find('>', lt == rest.npos ? 0 : lt);
        if (lt == rest.npos || gt == rest.npos) break;
        std::string_view url = rest.substr(lt + 1, gt - lt - 1);
        auto comma = rest.find(',', gt);
        std::string_view params = rest.substr(gt + 1, comma == rest.npos ? rest.npos : comma - gt - 1);
        rest = comma == rest.npos ? std::string_view{} : rest.substr(comma + 1);
        if (params.find("rel=\"next\"") == params.npos && params.find("rel=next") == params.npos)
            continue;
        if (auto scheme = url.find("://"); scheme != url.npos) {
            auto slash = url.find('/', scheme + 3);
            if (slash == url.npos) return std::nullopt;
            url = url.substr(slash);
        }
        if (!url.starts_with("/v1/") || url.find_first_of(" \r\n") != url.npos) return std::nullopt;
        return std::string(url);
    }
    return std::nullopt;
}

struct EchoOff {
    termios saved{};
    bool active = false;
    EchoOff() {
        if (tcgetattr(STDIN_FILENO, &saved) != 0) return;
        termios t = saved;
        t.c_lflag &= ~static_cast<tcflag_t>(ECHO);
        active = tcsetattr(STDIN_FILENO, TCSAFLUSH, &t) == 0;
    }
    ~EchoOff() {
        if (active) tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
    }
    EchoOff(const EchoOff&) = delete;
    EchoOff& operator=(const EchoOff&) = delete;
};

std::string trim_whitespace(std::string s) {
    const char* ws = " \t\r\n";
    auto b = s.find_first_not_of(ws);
    if (b == s.npos) return {};
    return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

}  // namespace

std::string resolve_user(Context& ctx, const std::string& id_or_email) {
    if (id_or_email.find('@') == std::string::npos) return id_or_email;
    ListOptions all;
    all.all = true;
    Page p = ctx.list("/v1/account/users", {{"search_pattern", id_or_email}}, all);
    std::string found;
    for (const auto& u : p.items) {
        if (u.is_object() && u.contains("email") && u["email"].is_string() &&
            u["email"].get<std::string>() == id_or_email && u.contains("id") && u["id"].is_string()) {
            if (!found.empty()) throw CliError(kExitConflict, "several users have email " + id_or_email);
            found = u["id"].get<std::string>();
        }
    }
    if (found.empty())
        throw CliError(kExitNotFound, "no member of this account has email " + id_or_email);
    return found;
}

int exit_code_for_status(long status) {
    if (status == 404) return kExitNotFound;
    if (status == 403) return kExitForbidden;
    if (status == 409) return kExitConflict;
    if (status >= 400 && status < 500) return kExitRefused;
    return kExitServer;
}

ApiError::ApiError(Response r)
    : std::runtime_error("HTTP " + std::to_string(r.status)), response(std::move(r)) {}

int report(const ApiError& e) {
    const Response& r = e.response;
    auto j = nlohmann::json::parse(r.body, nullptr, false);
    std::string message, code;
    if (j.is_object()) {
        if (j.contains("message") && j["message"].is_string()) message = j["message"].get<std::string>();
        if (j.contains("code") && j["code"].is_string()) code = j["code"].get<std::string>();
    }
    if (message.empty())
        message = r.status >= 500 ? "the daemon failed to handle the request"
                                  : "the daemon refused the request";
    if (code.empty()) code = "no error code";
    std::cerr << "portalctl: " << truncate_to_width(term_safe(message), 500) << " ("
              << truncate_to_width(term_safe(code), 64) << ", HTTP " << r.status << ")\n";
    if (j.is_object() && j.contains("errors") && j["errors"].is_object()) {
        for (const auto& [field, why] : j["errors"].items()) {
            std::cerr << "  " << truncate_to_width(term_safe(field), 64) << ": "
                      << truncate_to_width(term_safe(why.is_string() ? why.get<std::string>()
                                                                     : why.dump()),
                                           300)
                      << '\n';
        }
    }
    if (auto ra = r.header("Retry-After"))
        std::cerr << "  retry after " << truncate_to_width(term_safe(*ra), 32) << " s\n";
    if (r.status >= 500)
        std::cerr << "  correlation id " << truncate_to_width(term_safe(r.correlation_id), 64)
                  << " (see the daemon's log)\n";
    return exit_code_for_status(r.status);
}

void add_list_options(CLI::App* cmd, ListOptions& o) {
    cmd->add_option("--page", o.page, "Page to show (from 1)")->check(CLI::PositiveNumber);
    cmd->add_option("--per-page", o.per_page, "Items per page (1-100)")->check(CLI::Range(1, 100));
    cmd->add_flag("--all", o.all, "Fetch every page")->excludes("--page");
}

namespace {

// The Bearer token for --url: --token-file (a path, or '-' for stdin), else $PORTAL_TOKEN.
std::string remote_token(const GlobalOptions& opts) {
    std::string token;
    if (opts.token_file == "-") {
        token = read_secret("-", "API token: ");
    } else if (!opts.token_file.empty()) {
        std::ifstream in(opts.token_file);
        if (!in) throw usage_error("cannot read --token-file " + opts.token_file);
        std::getline(in, token);
    } else if (const char* env = std::getenv("PORTAL_TOKEN")) {
        token = env;
    } else {
        // portalctl login's session, if it was made by this very portal.
        std::string url = opts.url;
        while (url.ends_with('/')) url.pop_back();
        const Session session = read_session();
        if (!session.empty() && session.portal == url) token = session.token;
    }
    while (!token.empty() && (token.back() == '\r' || token.back() == ' ')) token.pop_back();
    return token;
}

}  // namespace

ApiClient& Context::api() {
    if (!api_) {
        ClientOptions co;
        co.socket_path = opts.socket;
        co.account_id = opts.account;
        if (co.account_id.empty() && opts.url.empty()) {
            // On this server's socket: the account `portalctl accounts use` selected.
            co.account_id = read_selected_account();
            selected_account_used_ = !co.account_id.empty();
        }
        co.timeout = std::chrono::milliseconds(
            std::max(1L, std::lround(opts.timeout_seconds * 1000.0)));
        if (!opts.url.empty()) {
            co.base_url = opts.url;
            co.pin = opts.pin;
            co.ca_file = opts.cacert;
            if (!opts.anonymous) co.token = remote_token(opts);
        } else if (!opts.token_file.empty() || !opts.pin.empty() || !opts.cacert.empty()) {
            throw usage_error("--token-file, --pin and --cacert go with --url (a remote authority)");
        } else if (!opts.anonymous) {
            // On an agent's socket, what is not answered there goes to the portal with this
            // credential; an authority's socket goes by the peer uid and ignores it.
            // A session goes with the portal that made it: the agent sends it on only if it
            // follows that portal.
            if (const char* env = std::getenv("PORTAL_TOKEN")) {
                co.token = env;
            } else {
                const Session session = read_session();
                co.token = session.token;
                co.session_portal = session.portal;
            }
        }
        try {
            api_ = std::make_unique<ApiClient>(std::move(co));
        } catch (const std::invalid_argument& e) {
            throw usage_error(e.what());
        }
    }
    return *api_;
}

Response Context::call(std::string_view method, std::string_view target,
                       const nlohmann::json* body) {
    Response r;
    try {
        r = api().request(method, target, body);
    } catch (const std::invalid_argument& e) {
        throw usage_error(e.what());
    }
    if (!r.ok()) throw ApiError(std::move(r));
    return r;
}

nlohmann::json Context::get(std::string_view path, const Query& q) {
    return call("GET", std::string(path) + encode_query(q)).json();
}

void Context::print_account_header() {
    try {
        const auto a = get("/v1/account");
        std::cout << "Account: " << term_safe(text(a, "name")) << " (" << term_safe(text(a, "id")) << ")\n";
    } catch (const ApiError&) {
        // The listing that follows says why the account cannot be read.
    }
}

Page Context::list(std::string_view path, Query q, const ListOptions& o) {
    Page out;
    long per_page = o.per_page > 0 ? o.per_page : (o.all ? 100 : 0);
    long page = o.all ? 1 : o.page;
    if (page > 0) q.emplace_back("page", std::to_string(page));
    if (per_page > 0) q.emplace_back("per_page", std::to_string(per_page));
    std::string target = std::string(path) + encode_query(q);

    for (long fetched = 0; fetched < kMaxPages; ++fetched) {
        Response r = call("GET", target);
        auto j = r.json();
        if (!j.is_array()) throw ProtocolError("the daemon's reply to a list is not a JSON array");
        out.total = header_number(r, "X-Total");
        out.page = header_number(r, "X-Page");
        out.pages = header_number(r, "X-Total-Pages");
        out.raw = fetched == 0 ? std::move(r.body) : std::string();
        for (auto& item : j) out.items.push_back(std::move(item));
        if (!o.all || j.empty()) break;

        if (auto next = next_link(r)) {
            target = *next;
            continue;
        }
        // No usable Link: go by the counters.
        const long current = out.page.value_or(page);
        const bool more = out.pages ? current < *out.pages
                                    : out.total && static_cast<long>(out.items.size()) < *out.total;
        if (!more) break;
        page = current + 1;
        Query qp = q;
        for (auto& [k, v] : qp)
            if (k == "page") v = std::to_string(page);
        target = std::string(path) + encode_query(qp);
    }
    return out;
}

void Context::print_json(const nlohmann::json& j) const {
    std::cout << term_safe_json(j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace))
              << '\n';
}

void Context::print_json(const Page& p) const {
    if (!p.raw.empty()) {
        std::cout << term_safe_json(p.raw);
        if (p.raw.back() != '\n') std::cout << '\n';
    } else {
        print_json(nlohmann::json(p.items));
    }
}

void Context::emit(const Response& r,
                   const std::function<void(const nlohmann::json&)>& human) const {
    const nlohmann::json j = r.body.empty() ? nlohmann::json() : r.json();  // validates
    if (!opts.json) return human(j);
    if (r.body.empty()) return;
    std::cout << term_safe_json(r.body);
    if (r.body.back() != '\n') std::cout << '\n';
}

void on_run(CLI::App* cmd, Context& ctx, std::function<void()> fn) {
    cmd->callback([&ctx, fn = std::move(fn)] { ctx.action = fn; });
}

std::string text(const nlohmann::json& obj, std::string_view key) {
    if (!obj.is_object()) return "-";
    auto it = obj.find(key);
    if (it == obj.end() || it->is_null()) return "-";
    if (it->is_string()) return it->get<std::string>();
    if (it->is_boolean()) return it->get<bool>() ? "yes" : "no";
    return it->dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

bool flag(const nlohmann::json& obj, std::string_view key) {
    if (!obj.is_object()) return false;
    auto it = obj.find(key);
    return it != obj.end() && it->is_boolean() && it->get<bool>();
}

void print_page_hint(const Page& p, std::string_view noun) {
    if (!p.pages || !p.page || *p.page >= *p.pages) return;  // nothing more (or --all)
    std::cerr << "page " << *p.page << " of " << *p.pages;
    if (p.total) std::cerr << " (" << *p.total << ' ' << noun << ')';
    std::cerr << "; use --page N or --all\n";
}

std::string read_stdin(std::size_t max) {
    std::string data;
    char buf[4096];
    while (std::cin.read(buf, sizeof buf) || std::cin.gcount() > 0) {
        data.append(buf, static_cast<std::size_t>(std::cin.gcount()));
        if (data.size() > max)
            throw usage_error("stdin holds more than " + std::to_string(max) + " bytes");
    }
    return data;
}

namespace {

// "Code from your authenticator app: " -> "Code from your authenticator app"
std::string_view prompt_name(std::string_view prompt) {
    while (!prompt.empty() && (prompt.back() == ' ' || prompt.back() == ':')) prompt.remove_suffix(1);
    return prompt;
}

}  // namespace

std::string read_secret(std::string_view arg, std::string_view prompt) {
    std::string value;
    if (!arg.empty() && arg != "-") {
        value = std::string(arg);
    } else if (isatty(STDIN_FILENO)) {
        std::cerr << prompt << std::flush;
        {
            EchoOff quiet;
            std::getline(std::cin, value);
        }
        std::cerr << '\n';
    } else {
        std::getline(std::cin, value);
    }
    value = trim_whitespace(std::move(value));
    if (value.empty()) throw usage_error(std::string(prompt_name(prompt)) + ": nothing was entered");
    if (value.size() > 1024) throw usage_error(std::string(prompt_name(prompt)) + ": too long");
    return value;
}

}  // namespace portal::ctl
