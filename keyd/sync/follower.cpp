#include "keyd/sync/follower.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/post.hpp>
#include <algorithm>
#include <future>
#include <random>

#include "keyd/log/log.h"
#include "keyd/sync/synced_source.h"

namespace portal::sync {

Follower::Follower(boost::asio::io_context& io, SyncedLoginSource& source, FollowerSettings settings)
    : io_(io), source_(source), settings_(std::move(settings)), client_(settings_.endpoint) {}

Follower::~Follower() {
    {
        std::lock_guard lock(mu_);
        stopping_ = true;
    }
    cv_.notify_all();
    client_.stop();
    if (thread_.joinable()) thread_.join();
}

void Follower::start() {
    thread_ = std::thread([this] {
        try {
            run();
        } catch (const std::exception& e) {
            log::error("sync: the follower stopped", {{"error", e.what()}});
        }
    });
}

bool Follower::on_main(std::function<void()> task) {
    auto done = std::make_shared<std::promise<void>>();
    auto future = done->get_future();
    boost::asio::post(io_, [task = std::move(task), done] {
        task();
        done->set_value();
    });
    while (future.wait_for(std::chrono::milliseconds(200)) != std::future_status::ready) {
        std::lock_guard lock(mu_);
        if (stopping_) return false;
    }
    return true;
}

void Follower::sleep_for(std::chrono::milliseconds d) {
    std::unique_lock lock(mu_);
    cv_.wait_for(lock, d, [this] { return stopping_; });
}

std::chrono::milliseconds Follower::backoff(unsigned attempt, std::optional<std::int64_t> retry_after) {
    // Full jitter (a random wait up to the doubled ceiling): a fleet that lost its portal at
    // once does not come back at once.
    static thread_local std::mt19937_64 rng{std::random_device{}()};
    const auto ceiling = std::min<std::int64_t>(settings_.retry_max.count(),
                                                settings_.retry_min.count() << std::min(attempt, 20u));
    std::uniform_int_distribution<std::int64_t> pick(0, std::max<std::int64_t>(ceiling, 1));
    std::chrono::milliseconds d(pick(rng));
    if (retry_after) d = std::max(d, std::chrono::milliseconds(std::min<std::int64_t>(*retry_after, 3600) * 1000));
    return d;
}

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
        {
            std::lock_guard lock(mu_);
            if (stopping_) return;
        }
        PortalClient::Request req;
        if (need_state) {
            req.target = "/v1/iam/state";
            req.timeout = settings_.request_timeout;
            req.max_answer_bytes = settings_.max_state_bytes;
            if (have_state) req.headers.push_back("If-None-Match: \"" + std::to_string(revision) + "\"");
        } else {
            req.target = "/v1/iam/changes?since=" + std::to_string(revision) + "&wait=" + std::to_string(settings_.wait.count());
            req.timeout = settings_.request_timeout + settings_.wait;
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
                std::string verdict;
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
                std::string verdict;
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
        const auto pause = backoff(attempt++, a.retry_after);
        log::debug("sync: retrying", {{"error", failure}, {"in_ms", std::to_string(pause.count())}});
        sleep_for(pause);
    }
}

}  // namespace portal::sync
