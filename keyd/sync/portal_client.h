// The agent's HTTPS client for its portal (libcurl): one easy handle per thread that uses it,
// so consecutive requests reuse one kept-alive TLS connection. The portal is trusted by its
// pinned key ("sha256//...") or by a CA file; only https, TLS 1.2 or later, no redirects.
// Every request is bounded (connect and total timeouts), its answer capped in size, and
// cancellable from another thread (stop()). The host token goes in Authorization and never
// into a log line or an error message.
#pragma once
#include <atomic>
#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace portal::sync {

struct PortalEndpoint {
    std::string url;      // "https://portal.example:8443" (no path)
    std::string pin;      // "sha256//<base64>", or ""
    std::string ca_file;  // or a CA bundle; neither: the system's CA store
    std::string token;    // the host token (pk_host_...), or "" for enrolment
};

struct PortalAnswer {
    long status = 0;           // 0: no HTTP answer (then `error` says why)
    std::string error;         // transport failure, e.g. "connection refused", "timed out", "too large"
    std::string body;
    std::string etag;
    std::optional<std::int64_t> retry_after;  // seconds, from Retry-After
    std::string content_type;
    // Every header of the final answer, names lower-case, in order (the forwarder passes some
    // of them back to its caller).
    std::vector<std::pair<std::string, std::string>> headers;
    bool ok() const { return status >= 200 && status < 300; }
};

class PortalClient {
public:
    explicit PortalClient(PortalEndpoint endpoint);
    ~PortalClient();
    PortalClient(const PortalClient&) = delete;
    PortalClient& operator=(const PortalClient&) = delete;

    struct Request {
        std::string method = "GET";
        std::string target;  // "/v1/iam/state"
        std::string body;    // JSON, for POST/PUT
        std::vector<std::string> headers;  // "If-None-Match: \"7\""
        std::chrono::milliseconds timeout{10000};
        std::size_t max_answer_bytes = 64u << 20;
    };
    PortalAnswer perform(const Request& r);

    // Any thread: the request in progress (and every later one) ends at once with an error.
    void stop() { stopped_.store(true); }
    const PortalEndpoint& endpoint() const { return endpoint_; }

private:
    struct Handle;
    PortalEndpoint endpoint_;
    std::unique_ptr<Handle> handle_;
    std::atomic<bool> stopped_{false};
};

}  // namespace portal::sync
