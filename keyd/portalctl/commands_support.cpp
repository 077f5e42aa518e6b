// support access|grant|revoke: whether the provider's support staff may access the account,
// and until when (owners). support staff list|add|remove: who the support staff are (root on
// this server's socket). While access is granted each staff member holds an active `support`
// membership in the account; servers let them log in only where [login] roles lists support.
#include <chrono>
#include <ctime>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

// The daemon's limit (kSupportAccessMax); checked here too so a typo is a usage error.
constexpr long long kSupportGrantMaxSeconds = 30LL * 86400;

struct GrantArgs {
    std::string until, duration;
};

// "2h", "90m", "7d", "45s" -> seconds. One whole number and one unit: no sign, space,
// fraction or missing unit (nullopt).
std::optional<long long> support_duration_seconds(std::string_view s) {
    if (s.size() < 2 || s.size() > 10) return std::nullopt;
    long long unit = 0;
    switch (s.back()) {
        case 's': unit = 1; break;
        case 'm': unit = 60; break;
        case 'h': unit = 3600; break;
        case 'd': unit = 86400; break;
        default: return std::nullopt;
    }
    long long n = 0;
    for (char c : s.substr(0, s.size() - 1)) {
        if (c < '0' || c > '9') return std::nullopt;
        n = n * 10 + (c - '0');  // at most 9 digits: no overflow
    }
    return n * unit;
}

// now + seconds as the API's RFC 3339 UTC form with whole seconds.
std::string support_expiry_after(long long seconds) {
    const std::time_t at =
        std::chrono::system_clock::to_time_t(std::chrono::system_clock::now()) + static_cast<std::time_t>(seconds);
    std::tm tm{};
    char buf[32];
    if (gmtime_r(&at, &tm) == nullptr || std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
        throw usage_error("--for: the expiry time is out of range");
    return buf;
}

// The shape the daemon accepts (2026-12-31T18:00:00Z); whether it is a real date, in the
// future and within 30 days is the daemon's to say.
bool support_time_shaped(std::string_view s) {
    constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
    if (s.size() != kShape.size()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        const bool digit = s[i] >= '0' && s[i] <= '9';
        if (kShape[i] == 'd' ? !digit : s[i] != kShape[i]) return false;
    }
    return true;
}

// The expires_at a grant asks for, from exactly one of --until and --for.
std::string support_grant_expiry(const GrantArgs& a, bool until_given, bool for_given) {
    if (until_given == for_given) throw usage_error("support grant: give either --until TIME or --for DURATION");
    if (until_given) {
        if (!support_time_shaped(a.until))
            throw usage_error("--until: '" + a.until + "' is not an RFC 3339 UTC time such as 2026-12-31T18:00:00Z");
        return a.until;
    }
    const auto seconds = support_duration_seconds(a.duration);
    if (!seconds)
        throw usage_error("--for: '" + a.duration + "' is not a duration such as 2h, 90m or 7d");
    if (*seconds <= 0) throw usage_error("--for: the duration must be more than 0");
    if (*seconds > kSupportGrantMaxSeconds) throw usage_error("--for: support access lasts at most 30 days (30d)");
    return support_expiry_after(*seconds);
}

void print_support_access(const nlohmann::json& a) {
    const bool enabled = flag(a, "enabled");
    const bool ever = a.is_object() && a.contains("granted_at") && !a["granted_at"].is_null();
    Details d;
    d.add("Enabled", enabled ? "yes" : "no");
    if (!ever) {
        d.add("Expires", "-");
    } else {
        d.add("Expires", enabled ? text(a, "expires_at") : text(a, "expires_at") + " (access has ended)");
    }
    // Granted by root: no user.
    d.add("Granted by", !ever ? "-" : a.contains("granted_by") && !a["granted_by"].is_null() ? text(a, "granted_by") : "root");
    d.add("Granted at", text(a, "granted_at"));
    d.print(std::cout);
}

void print_staff_member(const nlohmann::json& s) {
    Details d;
    d.add("User ID", text(s, "user_id"));
    d.add("Email", text(s, "email"));
    d.add("Name", text(s, "name"));
    d.add("Unix name", text(s, "unix_name"));
    d.add("Support staff since", text(s, "marked_at"));
    d.print(std::cout);
}

void print_staff_list(const nlohmann::json& list) {
    Table t({"USER ID", "EMAIL", "NAME", "UNIX NAME", "MARKED AT"});
    if (list.is_array())
        for (const auto& s : list)
            t.add_row({text(s, "user_id"), text(s, "email"), text(s, "name"), text(s, "unix_name"), text(s, "marked_at")});
    t.print(std::cout);
}

std::string staff_path(const std::string& user_id) { return "/v1/support/staff/" + encode_path_segment(user_id); }

// Marking: a user id, or the email of a member of the account portalctl acts on.
std::string staff_candidate(Context& ctx, const std::string& who) {
    try {
        return resolve_user(ctx, who);
    } catch (const CliError& e) {
        if (e.exit_code != kExitNotFound) throw;
        throw CliError(kExitNotFound, std::string(e.what()) +
                                          " (give their user id, or --account with an account they are a member of)");
    }
}

// Unmarking: a user id, or the email of a support staff member (from the staff list).
std::string staff_member_id(Context& ctx, const std::string& who) {
    if (who.find('@') == std::string::npos) return who;
    const auto list = ctx.call("GET", "/v1/support/staff").json();
    if (!list.is_array()) throw ProtocolError("the daemon's support staff list is not a JSON array");
    for (const auto& s : list)
        if (s.is_object() && s.contains("email") && s["email"] == who && s.contains("user_id") && s["user_id"].is_string())
            return s["user_id"].get<std::string>();
    throw CliError(kExitNotFound, "no support staff member has email " + who);
}

}  // namespace

void register_support_commands(CLI::App& app, Context& ctx) {
    auto* support = app.add_subcommand(
        "support", "The provider's support staff: access to the account until a time (owners), who they are (root)");
    support->require_subcommand(1);

    auto* access = support->add_subcommand("access", "Show whether support staff may access the account, and until when");
    on_run(access, ctx, [&ctx] {
        ctx.emit(ctx.call("GET", "/v1/support/access"), [&ctx](const nlohmann::json& a) {
            ctx.print_account_header();
            print_support_access(a);
        });
    });

    auto ga = std::make_shared<GrantArgs>();
    auto* grant = support->add_subcommand(
        "grant", "Let support staff in until a time (at most 30 days ahead): --until TIME or --for DURATION");
    auto* until_opt = grant->add_option("--until", ga->until, "Until this time, RFC 3339 UTC (2026-12-31T18:00:00Z)");
    auto* for_opt = grant->add_option("--for", ga->duration, "For this long from now: 90m, 2h, 7d (at most 30d)");
    for_opt->excludes(until_opt);
    on_run(grant, ctx, [&ctx, ga, until_opt, for_opt] {
        nlohmann::json body{{"enabled", true},
                            {"expires_at", support_grant_expiry(*ga, until_opt->count() > 0, for_opt->count() > 0)}};
        ctx.emit(ctx.call("PUT", "/v1/support/access", &body), [&ctx](const nlohmann::json& a) {
            std::cout << "Support access granted until " << term_safe(text(a, "expires_at")) << ".\n";
            ctx.print_account_header();
            print_support_access(a);
        });
    });

    auto* revoke = support->add_subcommand("revoke", "End support access now: staff memberships are deactivated");
    on_run(revoke, ctx, [&ctx] {
        nlohmann::json body{{"enabled", false}};
        ctx.emit(ctx.call("PUT", "/v1/support/access", &body), [&ctx](const nlohmann::json& a) {
            std::cout << "Support access revoked.\n";
            ctx.print_account_header();
            print_support_access(a);
        });
    });

    auto* staff = support->add_subcommand("staff", "Who the support staff are (root on this server's socket)");
    staff->require_subcommand(1);

    auto* list = staff->add_subcommand("list", "List the support staff");
    on_run(list, ctx, [&ctx] { ctx.emit(ctx.call("GET", "/v1/support/staff"), print_staff_list); });

    auto add_who = std::make_shared<std::string>();
    auto* add = staff->add_subcommand("add", "Mark a user as support staff (in every account that grants access)");
    add->add_option("USER", *add_who, "User id, or email of a member of the account (--account)")->required();
    on_run(add, ctx, [&ctx, add_who] {
        nlohmann::json body = nlohmann::json::object();
        ctx.emit(ctx.call("PUT", staff_path(staff_candidate(ctx, *add_who)), &body), [](const nlohmann::json& s) {
            std::cout << "Marked " << term_safe(text(s, "user_id")) << " as support staff.\n";
            print_staff_member(s);
        });
    });

    auto rm_who = std::make_shared<std::string>();
    auto* remove = staff->add_subcommand("remove", "Unmark a support staff member (their support memberships end)");
    remove->add_option("USER", *rm_who, "User id, or email of a support staff member")->required();
    on_run(remove, ctx, [&ctx, rm_who] {
        const std::string id = staff_member_id(ctx, *rm_who);
        ctx.call("DELETE", staff_path(id));
        if (!ctx.opts.json) std::cout << "Removed " << term_safe(id) << " from the support staff.\n";
    });
}

}  // namespace portal::ctl
