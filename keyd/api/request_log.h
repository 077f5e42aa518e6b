// How every API request ends, whoever answers it (the router, or agent mode's local API): the
// correlation id (the caller's if it is a valid one, else a new one) echoed in
// X-Correlation-ID, the rate budget's headers, and one log line with method, path, status,
// principal, where it came from and how long it took; for a deferred answer, when it comes.
#pragma once
#include <chrono>
#include <optional>
#include <string>
#include <utility>

#include "keyd/api/http_types.h"
#include "keyd/api/rate_limiter.h"

namespace portal::api {

struct RequestRecord {
    std::string correlation_id;
    std::string method, path;
    std::string principal;  // "uid:1000", "remote:192.0.2.7", or the user id (+ " via " credential id)
    std::pair<std::string, std::string> where;  // ("pid", "123") or ("remote", address)
    std::optional<RateDecision> budget;
    std::chrono::steady_clock::time_point started;
};

// The record of `req` as it arrives (principal: its peer uid or remote address).
RequestRecord begin_request(const Request& req);
// `resp` with the record's headers, logged now, or (deferred) when its answer is sent.
Response finish_request(Response resp, const RequestRecord& rec);

}  // namespace portal::api
