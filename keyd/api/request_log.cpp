#include "keyd/api/request_log.h"

#include <cctype>

#include "keyd/log/log.h"
#include "shared/random.h"

namespace portal::api {
namespace {

bool valid_correlation_id(const std::string& s) {
    if (s.empty() || s.size() > 64) return false;
    for (char c : s)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') return false;
    return true;
}

void stamp(Response& r, const RequestRecord& rec) {
    r.headers.emplace_back("x-correlation-id", rec.correlation_id);
    if (rec.budget) {
        r.headers.emplace_back("x-ratelimit-limit", std::to_string(rec.budget->limit));
        r.headers.emplace_back("x-ratelimit-remaining", std::to_string(rec.budget->remaining));
        r.headers.emplace_back("x-ratelimit-reset", std::to_string(rec.budget->reset_seconds));
    }
    const auto us =
        std::chrono::duration_cast<std::chrono::microseconds>(std::chrono::steady_clock::now() - rec.started);
    log::info("request", {{"method", rec.method},
                          {"path", rec.path},
                          {"status", std::to_string(r.status)},
                          {"principal", rec.principal},
                          rec.where,
                          {"duration_us", std::to_string(us.count())},
                          {"correlation_id", rec.correlation_id}});
}

}  // namespace

RequestRecord begin_request(const Request& req) {
    RequestRecord rec;
    rec.started = std::chrono::steady_clock::now();
    rec.correlation_id = req.header("x-correlation-id").value_or("");
    if (!valid_correlation_id(rec.correlation_id)) rec.correlation_id = random_id("req_");
    rec.method = req.method;
    rec.path = req.path;
    const bool https = req.transport == Transport::https;
    rec.principal = https ? "remote:" + req.remote_address : "uid:" + std::to_string(req.peer.uid);
    rec.where = https ? std::pair<std::string, std::string>("remote", req.remote_address)
                      : std::pair<std::string, std::string>("pid", std::to_string(req.peer.pid));
    return rec;
}

Response finish_request(Response resp, const RequestRecord& rec) {
    if (resp.deferred) {
        auto inner = std::move(resp.deferred);
        resp.deferred = [inner = std::move(inner), rec](Respond done) {
            inner([rec, done = std::move(done)](Response r) {
                stamp(r, rec);
                done(std::move(r));
            });
        };
        return resp;
    }
    stamp(resp, rec);
    return resp;
}

}  // namespace portal::api
