// GET /v1/server/why?user=NAME[&from=ADDRESS][&key=FINGERPRINT] (docs/API.md): the query's
// checks and the answer's JSON, shared by the authority's route and the agent's own API.
#pragma once
#include <nlohmann/json.hpp>

#include "keyd/api/http_types.h"
#include "keyd/login/explanation.h"

namespace portal::api {

// user: a unix name; from: an IP literal; key: "SHA256:" and 43 base64 characters, or the MD5
// form (16 colon-separated hex pairs, "MD5:" optional). Missing user or a repeated parameter:
// 400; a malformed one: 422 naming it. Other parameters are refused (400).
login::ExplainQuery why_query(const Request& req);

// {user, from, key, allow, portal_user, reason, message, tfa_required, rules: [{rule, pass,
// reason, detail}], member: {...} | null, key_match: {fingerprint, matches} | null,
// state: {account_id, revision, generated_at}}.
nlohmann::json why_json(const login::Explanation& e);

}  // namespace portal::api
