// why: "why can't X log in?" The daemon answers from the one rule function the login socket
// uses (GET /v1/server/why: every rule with its verdict, the member, the key asked about);
// portalctl adds what only this machine can tell: whether the name resolves through NSS to
// the member's uid (a local account may shadow it), and, when the daemon does not answer at
// all, that logins run on the fallback files.
#include <pwd.h>

#include <algorithm>
#include <cerrno>
#include <cstdint>
#include <cstring>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

#include "keyd/portalctl/cli.h"
#include "keyd/portalctl/table.h"

namespace portal::ctl {
namespace {

struct WhyOptions {
    std::string user;
    std::string from;
    std::string key;
};

// One line of the explanation: a rule or a check, its verdict and what was compared.
struct WhyLine {
    std::string name;
    bool pass = false;
    std::string detail;
};

// What NSS says about `name` here, compared with the member's uid.
WhyLine why_nss_line(const std::string& name, std::uint32_t member_uid) {
    passwd pw{};
    passwd* found = nullptr;
    std::vector<char> buf(16384);
    const int err = getpwnam_r(name.c_str(), &pw, buf.data(), buf.size(), &found);
    const std::string uid_text = std::to_string(member_uid);
    if (err != 0) return {"nss", false, "looking " + name + " up failed: " + std::strerror(err)};
    if (!found)
        return {"nss", false,
                name + " does not resolve here: sshd does not know the user (is libnss-systemd installed and "
                       "'systemd' on the passwd line of /etc/nsswitch.conf?)"};
    if (pw.pw_uid != member_uid)
        return {"nss", false,
                name + " resolves to uid " + std::to_string(pw.pw_uid) + ", not the member's " + uid_text +
                    ": a local account shadows the name, and the login path refuses to open it with the member's keys"};
    return {"nss", true, name + " resolves to uid " + uid_text};
}

void why_print(const std::vector<WhyLine>& lines) {
    std::size_t width = 0;
    for (const auto& l : lines) width = std::max(width, l.name.size());
    for (const auto& l : lines)
        std::cout << "  " << (l.pass ? "\u2713 " : "\u2717 ") << l.name << std::string(width - l.name.size() + 2, ' ')
                  << term_safe(l.detail) << '\n';
}

void why_run(Context& ctx, const WhyOptions& o) {
    Query q{{"user", o.user}};
    if (!o.from.empty()) q.emplace_back("from", o.from);
    if (!o.key.empty()) q.emplace_back("key", o.key);
    Response r;
    try {
        r = ctx.call("GET", "/v1/server/why" + encode_query(q));
    } catch (const TransportError& e) {
        if (!ctx.opts.url.empty()) throw;
        throw CliError(kExitUnreachable,
                       std::string(e.what()) +
                           "\nportal-keyd does not answer: logins run on the fallback files it last wrote (the keys "
                           "helper and pam_portal decide from them until their grace period ends; members with 2FA "
                           "cannot log in meanwhile). Start it: systemctl start portal-keyd");
    }
    const nlohmann::json j = r.json();
    if (!j.is_object() || !j.contains("rules") || !j["rules"].is_array())
        throw CliError(kExitServer, "the daemon's answer has no 'rules' (an older daemon?)");

    std::vector<WhyLine> lines;
    for (const auto& rule : j["rules"])
        lines.push_back({text(rule, "rule"), flag(rule, "pass"), text(rule, "detail")});
    const nlohmann::json member = j.value("member", nlohmann::json());
    bool refused = !flag(j, "allow");
    if (j.contains("key_match") && j["key_match"].is_object()) {
        const bool matches = flag(j["key_match"], "matches");
        const std::string keys = text(member, "keys");
        lines.push_back({"key", matches,
                         text(j["key_match"], "fingerprint") + (matches ? " is one of the member's " : " is none of the member's ") +
                             keys + (keys == "1" ? " key" : " keys")});
        refused = refused || !matches;
    }
    const bool ours = flag(j, "portal_user");
    // Only this machine's own NSS says whether the name is the member's here.
    if (ours && ctx.opts.url.empty() && member.is_object() && member.contains("uid") && member["uid"].is_number_unsigned()) {
        lines.push_back(why_nss_line(o.user, member["uid"].get<std::uint32_t>()));
        refused = refused || !lines.back().pass;
    }

    ctx.emit(r, [&](const nlohmann::json&) {
        if (member.is_object())
            std::cout << "Member " << term_safe(text(member, "unix_name")) << " (" << term_safe(text(member, "user_id"))
                      << ", uid " << text(member, "uid") << "): role " << term_safe(text(member, "role")) << ", status "
                      << term_safe(text(member, "status")) << ", 2FA " << (flag(member, "tfa_enabled") ? "on" : "off")
                      << ", " << text(member, "keys") << " SSH key(s)\n";
        const nlohmann::json state = j.value("state", nlohmann::json());
        std::cout << "Login state: account " << term_safe(text(state, "account_id")) << ", revision "
                  << text(state, "revision") << ", generated " << term_safe(text(state, "generated_at")) << '\n';
        if (!o.from.empty()) std::cout << "From: " << term_safe(o.from) << '\n';
        why_print(lines);
        if (!ours && member.is_object())
            std::cout << "Verdict: refused (" << term_safe(text(j, "reason"))
                      << "): the member is not a user on this server (see the rules marked \u2717)\n";
        else if (!ours)
            std::cout << "Verdict: not a portal user here (" << term_safe(text(j, "reason"))
                      << "): portal-keyd leaves the name to local accounts\n";
        else if (!refused)
            std::cout << "Verdict: allowed" << (flag(j, "tfa_required") ? ", with a verification code after the key" : "")
                      << '\n';
        else if (!flag(j, "allow"))
            std::cout << "Verdict: refused (" << term_safe(text(j, "reason")) << "): " << term_safe(text(j, "message"))
                      << '\n';
        else
            std::cout << "Verdict: refused: the rules allow the member, but the checks above marked \u2717 do not\n";
    });
    std::cout.flush();
    if (!ours && !member.is_object()) throw CliError(kExitNotFound, o.user + " is not a portal user on this server");
    if (refused) throw CliError(kExitRefused, o.user + " would not be let in");
}

}  // namespace

void register_why_command(CLI::App& app, Context& ctx) {
    auto o = std::make_shared<WhyOptions>();
    auto* why = app.add_subcommand("why", "Why a member may or may not log in here: every login rule with its verdict");
    why->add_option("user", o->user, "The member's unix name")->required();
    why->add_option("--from", o->from, "The client's address (an IP): judges the IP allowlist where applied to SSH");
    why->add_option("--key", o->key, "A key fingerprint (SHA256:... as ssh-keygen -lf prints it, or MD5 hex): one of theirs?");
    on_run(why, ctx, [&ctx, o] { why_run(ctx, *o); });
}

}  // namespace portal::ctl
