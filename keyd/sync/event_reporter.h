// Login decisions of portal members, reported to the portal (POST /v1/iam/login_events): kept
// in synced.db first (a restart or an outage loses none), then sent in batches of up to 1,000
// from a thread of its own, at least once (the portal keeps an event id once), oldest first.
// The queue is bounded: past `max_queued` waiting events new ones are dropped and counted
// (portalctl status shows both numbers).
#pragma once
#include <chrono>
#include <cstdint>
#include <vector>

#include "keyd/sync/portal_client.h"
#include "keyd/sync/synced_store.h"
#include "keyd/sync/worker_thread.h"
#include "shared/model.h"

namespace portal::sync {

struct EventReporterSettings {
    PortalEndpoint endpoint;
    std::size_t max_queued = 100000;
    std::size_t batch = 1000;
    std::chrono::milliseconds request_timeout{10000};
    std::chrono::milliseconds retry_min{250};
    std::chrono::milliseconds retry_max{2000};
};

class EventReporter {
public:
    // `store` is used on the main thread only (the thread hands work there).
    EventReporter(boost::asio::io_context& io, SyncedStore& store, EventReporterSettings settings);
    ~EventReporter();

    void start();
    // Main thread: keeps the events and wakes the reporter.
    void add(const std::vector<LoginEvent>& events);
    SyncedStore::EventCounts counts() { return store_.event_counts(); }

private:
    void run();

    SyncedStore& store_;
    EventReporterSettings settings_;
    PortalClient client_;
    WorkerThread worker_;
};

}  // namespace portal::sync
