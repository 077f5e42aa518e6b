// A small HTTP client for portal-keyd's v1 API (libcurl): on its local Unix socket, or on a
// remote authority's HTTPS listener with a Bearer token.
#pragma once
#include <chrono>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

namespace portal::ctl {

// The daemon could not be reached or did not answer in time (exit code 3).
struct TransportError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

// The daemon answered something this client cannot use (exit code 4).
struct ProtocolError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

struct Response {
    long status = 0;
    std::vector<std::pair<std::string, std::string>> headers;  // in order received
    std::string body;
    std::string correlation_id;  // the id the daemon echoed, else the one we sent

    // Last value of a header, case-insensitive.
    std::optional<std::string> header(std::string_view name) const;
    // The body as JSON; throws ProtocolError if it is not JSON.
    nlohmann::json json() const;
    bool ok() const { return status >= 200 && status < 300; }
};

struct ClientOptions {
    std::string socket_path;
    std::string account_id;  // X-Account-ID, empty: the daemon's default
    std::chrono::milliseconds timeout{10000};
    // Remote: "https://portal.example:8443" (no path). The socket is then unused. The token,
    // if any, goes in Authorization: Bearer on either transport. The server is trusted by `pin` ("sha256//...", the
    // certificate's key alone), else by `ca_file`, else by the system's CA store.
    std::string base_url;
    std::string token;
    std::string session_portal;  // on a socket: the portal that made `token` (X-Portal-Session-For)
    std::string pin;
    std::string ca_file;

    bool remote() const { return !base_url.empty(); }
};

// (key, value) pairs, percent-encoded by the client.
using Query = std::vector<std::pair<std::string, std::string>>;

// Percent-encodes one path segment; keeps RFC 3986 unreserved characters and ':'
// (MD5 fingerprints stay readable in logs).
std::string encode_path_segment(std::string_view s);
std::string encode_query(const Query& q);

class ApiClient {
public:
    explicit ApiClient(ClientOptions opts);
    ~ApiClient();
    ApiClient(const ApiClient&) = delete;
    ApiClient& operator=(const ApiClient&) = delete;

    // target: "/v1/..." with an optional query string already encoded.
    // body: sent as JSON; POST/PUT without a body send "{}".
    // Throws TransportError when the daemon cannot be reached or times out.
    Response request(std::string_view method, std::string_view target,
                     const nlohmann::json* body = nullptr);

    Response get(std::string_view path, const Query& q = {});
    Response post(std::string_view path, const nlohmann::json& body);
    Response put(std::string_view path, const nlohmann::json& body);
    Response del(std::string_view path);

    const ClientOptions& options() const { return opts_; }

private:
    struct Handle;
    ClientOptions opts_;
    std::unique_ptr<Handle> handle_;
};

// Makes one X-Correlation-ID ("ctl-" + 24 hex digits): valid for the daemon's
// [A-Za-z0-9._-]{1,64} rule, so its log line carries our id.
std::string new_correlation_id();

}  // namespace portal::ctl
