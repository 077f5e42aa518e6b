#include "keyd/sync/event_reporter.h"

#include "keyd/log/log.h"

namespace portal::sync {

EventReporter::EventReporter(boost::asio::io_context& io, SyncedStore& store, EventReporterSettings settings)
    : store_(store), settings_(std::move(settings)), client_(settings_.endpoint), worker_(io, "portal-events") {}

EventReporter::~EventReporter() {
    worker_.stop();
    client_.stop();
    worker_.join();
}

void EventReporter::start() { worker_.start([this] { run(); }); }

void EventReporter::add(const std::vector<LoginEvent>& events) {
    try {
        if (const auto dropped = store_.enqueue_events(events, settings_.max_queued))
            log::error("login events: the queue is full; events dropped",
                       {{"dropped", std::to_string(dropped)}, {"max_queued", std::to_string(settings_.max_queued)}});
    } catch (const std::exception& e) {
        log::error("login events: cannot keep them", {{"count", std::to_string(events.size())}, {"error", e.what()}});
    }
    worker_.wake();
}

void EventReporter::run() {
    unsigned attempt = 0;
    while (!worker_.stopping()) {
        SyncedStore::QueuedEvents batch;  // stays empty when the store cannot be read (logged)
        if (!worker_.on_main([&] { batch = store_.peek_events(settings_.batch); })) return;
        if (batch.count == 0) {
            worker_.sleep_for(std::chrono::seconds(30));  // add() wakes it
            continue;
        }
        PortalClient::Request req;
        req.method = "POST";
        req.target = "/v1/iam/login_events";
        req.body = batch.json;
        req.timeout = settings_.request_timeout;
        req.max_answer_bytes = 64 * 1024;
        const PortalAnswer a = client_.perform(req);
        if (a.status == 200) {
            attempt = 0;
            // A failed delete (logged by on_main) only means they are reported again: the
            // portal keeps each event id once.
            if (!worker_.on_main([&] { store_.drop_events_through(batch.last_seq); })) return;
            log::debug("login events: reported", {{"count", std::to_string(batch.count)}});
            continue;
        }
        // 422 would mean an event the portal cannot take: kept all the same (nothing is lost
        // silently); the log says why.
        log::warning("login events: the portal did not take them; kept for later",
                     {{"count", std::to_string(batch.count)},
                      {"error", a.status == 0 ? a.error : "HTTP " + std::to_string(a.status)}});
        worker_.sleep_for(full_jitter_backoff(attempt++, settings_.retry_min, settings_.retry_max, a.retry_after));
    }
}

}  // namespace portal::sync
