// /v1/iam: the feed an enrolled host follows (host token): the state with an ETag, and what
// changed since a revision.
#include <charconv>

#include "keyd/api/router.h"
#include "keyd/iam/errors.h"

namespace portal::api {
namespace {

std::uint64_t parse_revision(const std::string& field, const std::string& text) {
    std::uint64_t v = 0;
    const auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (text.empty() || ec != std::errc() || p != text.data() + text.size())
        throw iam::ApiError::bad_request(field + ": must be a revision (a non-negative integer)");
    return v;
}

std::optional<std::string> query(const Context& ctx, const std::string& name) {
    auto it = ctx.req.query.find(name);
    if (it == ctx.req.query.end()) return std::nullopt;
    return it->second;
}

}  // namespace

void register_iam_feed_routes(Router& r) {
    r.add("GET", "/v1/iam/state", [](Context& ctx) {
        const auto state = ctx.iam.feed.state(ctx.principal, ctx.req.header("x-account-id"));
        const std::string etag = "\"" + std::to_string(state.revision) + "\"";
        if (ctx.req.header("if-none-match") == etag) {
            Response not_modified;
            not_modified.status = 304;
            not_modified.headers.emplace_back("etag", etag);
            return not_modified;
        }
        Response out;
        out.status = 200;
        out.headers.emplace_back("content-type", "application/json");
        out.headers.emplace_back("etag", etag);
        out.body = ipc::to_json(state);
        return out;
    });
    r.add("GET", "/v1/iam/changes", [](Context& ctx) {
        const auto since_text = query(ctx, "since");
        if (!since_text) throw iam::ApiError::bad_request("since: required (the revision the host has)");
        const std::uint64_t since = parse_revision("since", *since_text);
        if (auto wait = query(ctx, "wait")) {
            // Validated now; this release answers at once (the long-poll comes with agents).
            const std::uint64_t w = parse_revision("wait", *wait);
            if (w > 300) throw iam::ApiError::bad_request("wait: at most 300 seconds");
        }
        auto changes = ctx.iam.feed.changes(ctx.principal, ctx.req.header("x-account-id"), since);
        if (!changes)
            throw iam::ApiError{410, "GONE", "the changes since revision " + std::to_string(since) +
                                                 " are no longer kept: fetch /v1/iam/state again"};
        std::string body = "{\"revision\":" + std::to_string(changes->revision) + ",\"upserts\":[";
        for (std::size_t i = 0; i < changes->upserts.size(); ++i) {
            if (i) body += ',';
            body += ipc::member_to_json(changes->upserts[i]);
        }
        body += "],\"removed\":" + nlohmann::json(changes->removed_user_ids).dump();
        if (changes->enforce_2fa) body += std::string(",\"enforce_2fa\":") + (*changes->enforce_2fa ? "true" : "false");
        body += "}";
        Response out;
        out.status = 200;
        out.headers.emplace_back("content-type", "application/json");
        out.body = std::move(body);
        return out;
    });
}

}  // namespace portal::api
