#include "keyd/sync/follower.h"

#include <algorithm>

#include "keyd/log/log.h"
#include "keyd/sync/synced_source.h"

namespace portal::sync {

Follower::Follower(boost::asio::io_context& io, SyncedLoginSource& source, FollowerSettings settings)
    : source_(source), settings_(std::move(settings)), client_(settings_.endpoint), worker_(io, "portal-sync") {}

Follower::~Follower() {
    worker_.stop();
    client_.stop();  // the request in progress (a long-poll) ends now
    worker_.join();
}

void Follower::start() { worker_.start([this] { run(); }); }

void Follower::run() {
    bool need_state = true;
    bool have_state = false;
    std::uint64_t revision = 0;
    on_main([&] {
        have_state = source_.has_state();
        revision = source_.revision();
    });
    unsigned attempt = 0;
    for (;;) {
        if (worker_.stopping()) return;
        PortalClient::Request req;
        if (need_state) {
            req.target = "/v1/iam/state?profiles=1&windows=1";
            req.timeout = settings_.request_timeout;
            req.max_answer_bytes = settings_.max_state_bytes;
            if (have_state) req.headers.push_back("If-None-Match: \"" + std::to_string(revision) + "\"");
        } else {
            req.target = "/v1/iam/changes?since=" + std::to_string(revision) + "&wait=" + std::to_string(settings_.wait.count()) + "&profiles=1&windows=1";
            // The portal answers an idle long-poll after wait plus up to 5 s of jitter (at most
            // a tenth of wait): not a failure.
            req.timeout = settings_.request_timeout + settings_.wait +
                          std::min<std::chrono::milliseconds>(std::chrono::seconds(5), settings_.wait / 10);
            req.max_answer_bytes = settings_.max_changes_bytes;
        }
        const auto asked = std::chrono::steady_clock::now();
        const PortalAnswer a = client_.perform(req);
        std::string failure;
        bool ok = false;
        if (a.status == 0) {
            failure = a.error;
        } else if (need_state && a.status == 200) {
            std::string error;
            auto state = ipc::login_state_from_json(a.body, error);
            if (!state) {
                failure = "state: " + error;
                on_main([&] { source_.answer_rejected(failure); });
            } else {
                const std::uint64_t got = state->revision;
                std::string verdict = "not taken (internal error)";
                if (!on_main([&] { verdict = source_.accept_state(std::move(*state)); })) return;
                if (verdict.empty()) {
                    ok = true;
                    have_state = true;
                    need_state = false;
                    revision = got;
                } else {
                    failure = "state refused: " + verdict;
                }
            }
        } else if (need_state && a.status == 304 && have_state) {
            ok = true;
            need_state = false;
            if (!on_main([&] { source_.portal_answered(); })) return;
        } else if (!need_state && a.status == 200) {
            std::string error;
            const auto changes = ipc::feed_changes_from_json(a.body, error);
            if (!changes) {
                failure = "changes: " + error;
                on_main([&] { source_.answer_rejected(failure); });
                need_state = true;
            } else {
                std::string verdict = "not taken (internal error)";
                if (!on_main([&] { verdict = source_.accept_changes(*changes); })) return;
                if (verdict.empty()) {
                    ok = true;
                    revision = std::max(revision, changes->revision);
                    // A portal that answers "nothing new" at once instead of waiting must not
                    // turn this loop into a flood of requests.
                    if (!changes->has_news() && std::chrono::steady_clock::now() - asked < std::chrono::seconds(1))
                        sleep_for(settings_.retry_min);
                } else {
                    failure = "changes refused: " + verdict;
                    need_state = true;
                }
            }
        } else if (!need_state && a.status == 410) {
            log::info("sync: the portal no longer keeps our revision's changes; fetching the state",
                      {{"revision", std::to_string(revision)}});
            need_state = true;
            ok = true;
            if (!on_main([&] { source_.portal_answered(); })) return;
        } else {
            failure = "HTTP " + std::to_string(a.status);
        }
        if (ok) {
            attempt = 0;
            continue;
        }
        const bool refused_token = a.status == 401;
        if (!on_main([&] { source_.portal_failed(failure, refused_token); })) return;
        const auto pause = full_jitter_backoff(attempt++, settings_.retry_min, settings_.retry_max, a.retry_after);
        log::debug("sync: retrying", {{"error", failure}, {"in_ms", std::to_string(pause.count())}});
        sleep_for(pause);
    }
}

}  // namespace portal::sync
