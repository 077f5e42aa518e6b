// /v1/iam: the feed an enrolled host follows (host token): the state with an ETag, and what
// changed since a revision.
#include <algorithm>
#include <cctype>
#include <charconv>
#include <memory>

#include "keyd/api/json_body.h"
#include "keyd/api/router.h"
#include "keyd/iam/errors.h"
#include "keyd/log/log.h"
#include "shared/random.h"

namespace portal::api {
namespace {

std::uint64_t parse_revision(const std::string& field, const std::string& text) {
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || p != text.data() + text.size())
        throw iam::ApiError::bad_request(field + ": must be a revision (a non-negative integer)");
    return v;
}

// Members as an agent that did not ask for support access windows reads them: without
// access_until, which its strict parser would refuse (an agent of an older version).
template <class Members>
void without_windows(Members& members) {
    for (auto& m : members) m.access_until.reset();
}

Response changes_response(std::uint64_t since, std::optional<iam::FeedChanges> changes, bool windows) {
    if (!changes)
        throw iam::ApiError{410, "GONE", "the changes since revision " + std::to_string(since) +
                                             " are no longer kept: fetch /v1/iam/state again"};
    if (!windows) without_windows(changes->upserts);
    Response out;
    out.status = 200;
    out.headers.emplace_back("content-type", "application/json");
    out.body = ipc::feed_changes_to_json(*changes);
    return out;
}

// A long-poll's answer: the error of a failed computation as the router would give it.
Response answer_or_error(const std::function<Response()>& make) {
    try {
        return make();
    } catch (const iam::ApiError& e) {
        return error_response(e);
    } catch (const std::exception&) {
        return error_response(iam::ApiError{500, "INTERNAL_ERROR", "internal error"});
    }
}

// "2026-12-02T13:15:00Z": what the store keeps and sorts as text.
bool rfc3339_utc(const std::string& s) {
    static constexpr std::string_view shape = "dddd-dd-ddTdd:dd:ddZ";
    if (s.size() != shape.size()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (shape[i] == 'd' ? !std::isdigit(static_cast<unsigned char>(s[i])) : s[i] != shape[i]) return false;
    }
    return true;
}

bool event_id(const std::string& s) {
    if (s.empty() || s.size() > 64) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
    });
}

// One event of a POST /v1/iam/login_events batch, read as strictly as any body (JsonBody);
// errors name the event: "events[3].decision: must be allow or deny".
LoginEvent read_event(const nlohmann::json& item, std::size_t index) {
    const std::string at = "events[" + std::to_string(index) + "]";
    try {
        if (!item.is_object()) throw iam::ApiError::unprocessable(at, "must be an object");
        Request one;
        one.body = item.dump();
        one.headers = {{"content-type", "application/json"}};
        JsonBody b(one);
        LoginEvent e;
        e.id = *b.string("id", true, 64);
        e.at = *b.string("at", true, 32);
        e.unix_name = *b.string("unix_name", true, 64);
        e.user_id = b.string("user_id", false, 64);
        e.ip = *b.string("ip", true, 64);
        e.method = *b.string("method", true, 32);
        e.decision = *b.string("decision", true, 8);
        e.reason = *b.string("reason", true, 64);
        b.finish();
        if (!event_id(e.id)) throw iam::ApiError::unprocessable("id", "1 to 64 of A-Z a-z 0-9 . _ -");
        if (!rfc3339_utc(e.at)) throw iam::ApiError::unprocessable("at", "must be UTC RFC 3339, e.g. 2026-12-02T13:15:00Z");
        if (e.decision != "allow" && e.decision != "deny")
            throw iam::ApiError::unprocessable("decision", "must be allow or deny");
        return e;
    } catch (const iam::ApiError& e) {
        if (e.status != 422 || e.errors.empty()) throw;
        const auto& [field, why] = *e.errors.begin();
        const std::string name = field == at ? at : at + "." + field;
        throw iam::ApiError::unprocessable(name, why);
    }
}

std::optional<std::string> query(const Context& ctx, const std::string& name) {
    auto it = ctx.req.query.find(name);
    if (it == ctx.req.query.end()) return std::nullopt;
    return it->second;
}

// A 0/1 query parameter, absent = 0.
bool flag(const Context& ctx, const std::string& name) {
    const auto v = query(ctx, name);
    if (!v) return false;
    if (*v == "1" || *v == "true") return true;
    if (*v == "0" || *v == "false") return false;
    throw iam::ApiError::bad_request(name + ": 1 or 0");
}

// ?profiles=1: members with their profiles, for an agent's local API (absent: login data
// only, which is all an agent of an older version understands).
bool wants_profiles(const Context& ctx) { return flag(ctx, "profiles"); }

// ?windows=1: support members with their access_until (absent: without, as older agents
// understand the members; they apply no window of their own and follow the deactivation).
bool wants_windows(const Context& ctx) { return flag(ctx, "windows"); }

}  // namespace

void register_iam_feed_routes(Router& r, LongPolls* polls) {
    r.add("POST", "/v1/iam/tfa/verify", [](Context& ctx) {
        JsonBody body(ctx.req);
        iam::HostTfaCheck check;
        check.user_id = *body.string("user_id", true, 64);
        check.code = *body.string("code", true, 16);
        check.hostname = body.string("host", false, 253).value_or("");
        check.ip = body.string("ip", false, 64).value_or("");
        body.finish();
        const auto verdict = ctx.iam.feed.verify_tfa(ctx.principal, check);
        nlohmann::json out{{"ok", verdict.ok()}, {"result", verdict.result}};
        if (verdict.retry_after > 0) out["retry_after"] = verdict.retry_after;
        return json_response(200, out);
    });
    r.add("POST", "/v1/iam/login_events", [](Context& ctx) {
        const auto doc = nlohmann::json::parse(ctx.req.body, nullptr, /*allow_exceptions=*/false);
        if (doc.is_discarded()) throw iam::ApiError::bad_request("the body is not JSON");
        if (!doc.is_array()) throw iam::ApiError::unprocessable("events", "the body must be an array of events");
        if (doc.size() > 1000) throw iam::ApiError::unprocessable("events", "at most 1000 events per request");
        std::vector<LoginEvent> events;
        events.reserve(doc.size());
        for (std::size_t i = 0; i < doc.size(); ++i) events.push_back(read_event(doc[i], i));
        const std::size_t received = events.size();
        const std::size_t added = ctx.iam.feed.report_logins(ctx.principal, std::move(events));
        return json_response(200, {{"received", received}, {"new", added}});
    });
    r.add("GET", "/v1/iam/state", [](Context& ctx) {
        // A host that has the state asks with its ETag: answered before 10,000 members are read.
        if (const auto tag = ctx.req.header("if-none-match")) {
            const std::string etag =
                "\"" + std::to_string(ctx.iam.feed.state_revision(ctx.principal, ctx.req.header("x-account-id"))) + "\"";
            if (*tag == etag) {
                Response not_modified;
                not_modified.status = 304;
                not_modified.headers.emplace_back("etag", etag);
                return not_modified;
            }
        }
        auto state = ctx.iam.feed.state(ctx.principal, ctx.req.header("x-account-id"), wants_profiles(ctx));
        if (!wants_windows(ctx)) without_windows(state.members);
        const std::string etag = "\"" + std::to_string(state.revision) + "\"";
        Response out;
        out.status = 200;
        out.headers.emplace_back("content-type", "application/json");
        out.headers.emplace_back("etag", etag);
        out.body = ipc::to_json(state);
        return out;
    });
    r.add("GET", "/v1/iam/changes", [polls](Context& ctx) {
        const auto since_text = query(ctx, "since");
        if (!since_text) throw iam::ApiError::bad_request("since: required (the revision the host has)");
        const std::uint64_t since = parse_revision("since", *since_text);
        std::uint64_t wait = 0;
        if (auto w = query(ctx, "wait")) {
            wait = parse_revision("wait", *w);
            if (wait > 300) throw iam::ApiError::bad_request("wait: at most 300 seconds");
        }
        const bool profiles = wants_profiles(ctx);
        const bool windows = wants_windows(ctx);
        auto first = ctx.iam.feed.changes(ctx.principal, ctx.req.header("x-account-id"), since, profiles);
        if (!first || first->has_news() || wait == 0 || !polls) return changes_response(since, first, windows);

        // Nothing yet: wait for a write that changes this account, or for `wait` seconds plus
        // a little jitter (so that a fleet's polls do not all come back in the same second).
        struct Poll {
            iam::FeedService& feed;
            iam::Principal principal;
            std::optional<std::string> account;
            std::uint64_t since;
            bool profiles;
            std::optional<iam::FeedChanges> latest;
            std::optional<iam::ApiError> refused;  // asked again on wake: e.g. the host was deleted
        };
        auto poll = std::make_shared<Poll>(Poll{ctx.iam.feed, ctx.principal, ctx.req.header("x-account-id"), since, profiles, first, std::nullopt});
        const auto jitter_ms = static_cast<long>(random_bytes(2)[0]) * std::min<long>(5000, static_cast<long>(wait) * 100) / 255;
        log::debug("feed: long-poll waiting", {{"since", std::to_string(since)}, {"wait", std::to_string(wait)}});
        Response deferred;
        deferred.deferred = [polls, poll, wait, jitter_ms, windows](Respond done) {
            polls->wait(
                std::chrono::milliseconds(static_cast<long>(wait) * 1000 + jitter_ms),
                [poll] {
                    try {
                        poll->latest = poll->feed.changes(poll->principal, poll->account, poll->since, poll->profiles);
                    } catch (const iam::ApiError& e) {
                        poll->refused = e;
                        return true;
                    }
                    return !poll->latest || poll->latest->has_news();
                },
                [poll, done, windows](bool) {
                    done(answer_or_error([&] {
                        if (poll->refused) throw *poll->refused;
                        return changes_response(poll->since, poll->latest, windows);
                    }));
                });
        };
        return deferred;
    });
}

}  // namespace portal::api
