#include "shared/ipc/login_protocol.h"

#include "shared/ipc/json_fields.h"

namespace portal::ipc {

using nlohmann::json;

namespace {

// "uid": required for a portal user (the login path compares it with the uid the name
// resolves to); not read for others.
void read_member_uid(FieldReader& r, bool portal_user, std::optional<std::uint32_t>& out) {
    if (!r.ok() || !portal_user) return;
    std::uint32_t uid = 0;
    if (r.get("uid", uid)) out = uid;
}

// Bounds on request strings: far above any real value, low enough to keep logs sane.
constexpr std::size_t kMaxNameBytes = 256;
constexpr std::size_t kMaxFieldBytes = 1024;

template <class... Ts>
struct overloaded : Ts... {
    using Ts::operator()...;
};
template <class... Ts>
overloaded(Ts...) -> overloaded<Ts...>;

std::optional<VerifyResult> parse_verify_result(std::string_view s) {
    if (s == "ok") return VerifyResult::ok;
    if (s == "wrong_code") return VerifyResult::wrong_code;
    if (s == "locked") return VerifyResult::locked;
    if (s == "not_enrolled") return VerifyResult::not_enrolled;
    if (s == "unavailable") return VerifyResult::unavailable;
    return std::nullopt;
}

bool bounded(FieldReader& r, std::string_view name, const std::string& value, std::size_t max) {
    if (value.size() > max) return r.fail(name, "too long");
    return true;
}

// Reads user (required, non-empty) and the optional context strings.
bool read_user(FieldReader& r, std::string& user) {
    if (!r.get("user", user)) return false;
    if (user.empty()) return r.fail("user", "empty");
    return bounded(r, "user", user, kMaxNameBytes);
}
bool read_context(FieldReader& r, std::string_view name, std::string& out) {
    return r.get(name, out, /*required=*/false) && bounded(r, name, out, kMaxFieldBytes);
}

}  // namespace

std::string_view to_string(VerifyResult r) {
    switch (r) {
        case VerifyResult::ok: return "ok";
        case VerifyResult::wrong_code: return "wrong_code";
        case VerifyResult::locked: return "locked";
        case VerifyResult::not_enrolled: return "not_enrolled";
        case VerifyResult::unavailable: return "unavailable";
    }
    return "unknown";
}

std::string_view to_string(SessionEventKind e) { return e == SessionEventKind::open ? "open" : "close"; }

json request_message(const Request& request) {
    return std::visit(
        overloaded{
            [](const GetAuthorizedKeysRequest& r) {
                json p{{"user", r.user}};
                if (r.fingerprint) p["fingerprint"] = *r.fingerprint;
                return json{{"method", method::get_authorized_keys}, {"parameters", std::move(p)}};
            },
            [](const CheckAccountRequest& r) {
                return json{{"method", method::check_account},
                            {"parameters", {{"user", r.user}, {"rhost", r.rhost}, {"service", r.service}}}};
            },
            [](const VerifyCodeRequest& r) {
                return json{{"method", method::verify_code},
                            {"parameters",
                             {{"user", r.user}, {"code", r.code}, {"rhost", r.rhost}, {"service", r.service}}}};
            },
            [](const SessionEventRequest& r) {
                return json{{"method", method::session_event},
                            {"parameters",
                             {{"user", r.user},
                              {"event", to_string(r.event)},
                              {"rhost", r.rhost},
                              {"service", r.service},
                              {"tty", r.tty}}}};
            },
        },
        request);
}

std::optional<Request> parse_request(const json& message, std::string& error_name, std::string& msg) {
    error_name = error::bad_request;
    msg.clear();
    FieldReader top(message, "", msg);
    std::string name;
    if (!top.get("method", name)) return std::nullopt;
    const json* params_ptr = message.contains("parameters") ? &message["parameters"] : nullptr;
    static const json empty = json::object();
    const json& params = params_ptr ? *params_ptr : empty;
    if (!top.only({"method", "parameters"})) return std::nullopt;

    FieldReader r(params, "parameters", msg);
    std::optional<Request> out;
    if (name == method::get_authorized_keys) {
        GetAuthorizedKeysRequest q;
        std::string fp;
        read_user(r, q.user);
        if (r.ok() && params.contains("fingerprint")) {
            if (r.get("fingerprint", fp) && bounded(r, "fingerprint", fp, kMaxFieldBytes)) q.fingerprint = fp;
        }
        if (r.only({"user", "fingerprint"})) out = std::move(q);
    } else if (name == method::check_account) {
        CheckAccountRequest q;
        read_user(r, q.user) && read_context(r, "rhost", q.rhost) && read_context(r, "service", q.service);
        if (r.only({"user", "rhost", "service"})) out = std::move(q);
    } else if (name == method::verify_code) {
        VerifyCodeRequest q;
        read_user(r, q.user) && r.get("code", q.code) && bounded(r, "code", q.code, kMaxFieldBytes) &&
            read_context(r, "rhost", q.rhost) && read_context(r, "service", q.service);
        if (r.only({"user", "code", "rhost", "service"})) out = std::move(q);
    } else if (name == method::session_event) {
        SessionEventRequest q;
        std::string event;
        read_user(r, q.user) && r.get("event", event) && read_context(r, "rhost", q.rhost) &&
            read_context(r, "service", q.service) && read_context(r, "tty", q.tty);
        if (r.ok()) {
            if (event == "open") q.event = SessionEventKind::open;
            else if (event == "close") q.event = SessionEventKind::close;
            else r.fail("event", "must be \"open\" or \"close\"");
        }
        if (r.only({"user", "event", "rhost", "service", "tty"})) out = std::move(q);
    } else {
        error_name = error::method_not_found;
        msg = "unknown method";
        return std::nullopt;
    }
    return out;
}

json reply_message(const GetAuthorizedKeysReply& reply) {
    json p{{"portal_user", reply.portal_user}, {"keys", reply.keys}};
    if (reply.uid) p["uid"] = *reply.uid;
    return json{{"parameters", std::move(p)}};
}

json reply_message(const CheckAccountReply& d) {
    json p{{"portal_user", d.portal_user},
           {"allow", d.allow},
           {"reason", d.reason},
           {"message", d.message},
           {"tfa_required", d.tfa_required}};
    if (d.uid) p["uid"] = *d.uid;
    return json{{"parameters", std::move(p)}};
}

json reply_message(const VerifyCodeReply& reply) {
    return json{{"parameters",
                 {{"portal_user", reply.portal_user},
                  {"result", to_string(reply.result)},
                  {"retry_after", reply.retry_after}}}};
}

json reply_message(const SessionEventReply&) { return json{{"parameters", json::object()}}; }

json error_message(std::string_view error_name, std::string_view message) {
    return json{{"error", error_name}, {"parameters", {{"message", message}}}};
}

std::optional<GetAuthorizedKeysReply> parse_get_authorized_keys_reply(const json& params, std::string& error) {
    error.clear();
    GetAuthorizedKeysReply out;
    FieldReader r(params, "parameters", error);
    r.get("portal_user", out.portal_user);
    const json* keys = r.array("keys");
    read_member_uid(r, out.portal_user, out.uid);
    if (!r.ok()) return std::nullopt;
    out.keys.reserve(keys->size());
    for (std::size_t i = 0; i < keys->size(); ++i) {
        const json& k = (*keys)[i];
        if (!k.is_string()) {
            error = element_path(r, "keys", i) + ": must be a string";
            return std::nullopt;
        }
        out.keys.push_back(k.get<std::string>());
    }
    return out;
}

std::optional<CheckAccountReply> parse_check_account_reply(const json& params, std::string& error) {
    error.clear();
    CheckAccountReply d;
    FieldReader r(params, "parameters", error);
    r.get("portal_user", d.portal_user);
    r.get("allow", d.allow);
    r.get("reason", d.reason);
    r.get("message", d.message);
    r.get("tfa_required", d.tfa_required);
    read_member_uid(r, d.portal_user, d.uid);
    if (!r.ok()) return std::nullopt;
    return d;
}

std::optional<VerifyCodeReply> parse_verify_code_reply(const json& params, std::string& error) {
    error.clear();
    VerifyCodeReply v;
    FieldReader r(params, "parameters", error);
    std::string result;
    r.get("portal_user", v.portal_user);
    r.get("result", result);
    r.get("retry_after", v.retry_after, /*required=*/false);
    if (!r.ok()) return std::nullopt;
    if (auto parsed = parse_verify_result(result)) v.result = *parsed;
    else {
        r.fail("result", "unknown result");
        return std::nullopt;
    }
    return v;
}

GetAuthorizedKeysReply authorized_keys_for(const LoginState& state, std::string_view user,
                                           const std::optional<std::string>& fingerprint,
                                           const LoginPolicy& policy, const StateSource& source) {
    GetAuthorizedKeysReply out;
    const LoginDecision d = check_account(state, user, policy, source);
    out.portal_user = d.portal_user;
    out.uid = d.uid;
    // A member refused only for lacking 2FA under Enforce 2FA still gets their keys while the
    // daemon answers: userdb puts them in the 2FA group, so sshd must also run keyboard-
    // interactive:pam, where pam_portal.so refuses them with the message telling them to
    // enrol (the only way that text reaches an SSH client). Without pam_portal the PAM step
    // asks a password they do not have, so a key alone never opens the door. In fallback the
    // group is gone with the daemon, so no keys then.
    const bool refused_at_second_factor = d.reason == reason::tfa_enrolment_required && !source.fallback;
    if (!d.allow && !refused_at_second_factor) return out;
    const LoginMember* m = state.find(user);
    for (const auto& k : m->keys)
        if (!fingerprint || k.fingerprint_sha256 == *fingerprint) out.keys.push_back(k.line);
    return out;
}

}  // namespace portal::ipc
