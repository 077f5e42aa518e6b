#include "keyd/portalctl/api_client.h"

#include <sys/un.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <cstring>
#include <random>
#include <sstream>

#include <curl/curl.h>

namespace portal::ctl {
namespace {

// A reply larger than this is not something the v1 API sends; stop reading.
constexpr std::size_t kMaxBody = 32u * 1024u * 1024u;
constexpr std::size_t kMaxHeaderBytes = 256u * 1024u;

struct CurlGlobal {
    CurlGlobal() {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
            throw std::runtime_error("libcurl initialisation failed");
    }
    ~CurlGlobal() { curl_global_cleanup(); }
    CurlGlobal(const CurlGlobal&) = delete;
    CurlGlobal& operator=(const CurlGlobal&) = delete;
};

struct EasyDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
    void operator()(curl_slist* l) const { curl_slist_free_all(l); }
};
using Slist = std::unique_ptr<curl_slist, SlistDeleter>;

void append(Slist& list, const std::string& line) {
    curl_slist* next = curl_slist_append(list.get(), line.c_str());
    if (next == nullptr) throw std::bad_alloc();
    (void)list.release();  // curl_slist_append returns the same head (or a new one)
    list.reset(next);
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() &&
           std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               auto lx = static_cast<unsigned char>(x), ly = static_cast<unsigned char>(y);
               return std::tolower(lx) == std::tolower(ly);
           });
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' ||
                          s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

struct Sink {
    Response* resp;
    std::size_t header_bytes = 0;
    bool too_large = false;
};

extern "C" size_t on_body(char* data, size_t size, size_t nmemb, void* userp) {
    auto* sink = static_cast<Sink*>(userp);
    const size_t n = size * nmemb;
    if (sink->resp->body.size() + n > kMaxBody) {
        sink->too_large = true;
        return 0;  // makes curl fail with CURLE_WRITE_ERROR
    }
    sink->resp->body.append(data, n);
    return n;
}

extern "C" size_t on_header(char* data, size_t size, size_t nmemb, void* userp) {
    auto* sink = static_cast<Sink*>(userp);
    const size_t n = size * nmemb;
    sink->header_bytes += n;
    if (sink->header_bytes > kMaxHeaderBytes) {
        sink->too_large = true;
        return 0;
    }
    std::string_view line(data, n);
    if (line.starts_with("HTTP/")) {
        sink->resp->headers.clear();  // a new response (e.g. after 100 Continue)
        return n;
    }
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return n;
    sink->resp->headers.emplace_back(std::string(trim(line.substr(0, colon))),
                                     std::string(trim(line.substr(colon + 1))));
    return n;
}

bool unreserved(unsigned char c) {
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
           c == '-' || c == '.' || c == '_' || c == '~';
}

std::string percent_encode(std::string_view s, bool keep_colon) {
    static constexpr char hex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(s.size());
    for (char ch : s) {
        auto c = static_cast<unsigned char>(ch);
        if (unreserved(c) || (keep_colon && c == ':')) {
            out.push_back(ch);
        } else {
            out.push_back('%');
            out.push_back(hex[c >> 4]);
            out.push_back(hex[c & 0xF]);
        }
    }
    return out;
}

std::string seconds(long ms) {
    std::ostringstream os;
    os << static_cast<double>(ms) / 1000.0;
    return os.str();
}

bool has_crlf(std::string_view s) {
    return s.find_first_of("\r\n") != std::string_view::npos || s.find('\0') != s.npos;
}

}  // namespace

std::optional<std::string> Response::header(std::string_view name) const {
    for (auto it = headers.rbegin(); it != headers.rend(); ++it)
        if (iequals(it->first, name)) return it->second;
    return std::nullopt;
}

nlohmann::json Response::json() const {
    auto j = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded())
        throw ProtocolError("the daemon's reply (HTTP " + std::to_string(status) +
                            ") is not valid JSON");
    return j;
}

std::string encode_path_segment(std::string_view s) { return percent_encode(s, true); }

std::string encode_query(const Query& q) {
    std::string out;
    for (const auto& [k, v] : q) {
        out += out.empty() ? '?' : '&';
        out += percent_encode(k, false);
        out += '=';
        out += percent_encode(v, false);
    }
    return out;
}

std::string new_correlation_id() {
    static constexpr char hex[] = "0123456789abcdef";
    std::random_device rd;
    std::string id = "ctl-";
    for (int i = 0; i < 3; ++i) {
        auto v = static_cast<std::uint32_t>(rd());
        for (int nib = 0; nib < 8; ++nib) id.push_back(hex[(v >> (nib * 4)) & 0xF]);
    }
    return id;
}

// The easy handle keeps pointers to the header list and error buffer until the next
// reset, so they live beside it (declared first: destroyed after it).
struct ApiClient::Handle {
    Slist headers;
    std::array<char, CURL_ERROR_SIZE> errbuf{};
    std::unique_ptr<CURL, EasyDeleter> easy;
};

ApiClient::ApiClient(ClientOptions opts) : opts_(std::move(opts)) {
    static const CurlGlobal global;
    if (opts_.remote()) {
        // A token must never cross the network in clear text, nor follow a redirect.
        if (!opts_.base_url.starts_with("https://") || opts_.base_url.size() <= 8)
            throw std::invalid_argument("--url must be an https:// URL");
        while (opts_.base_url.ends_with('/')) opts_.base_url.pop_back();
        if (opts_.base_url.find_first_of("?#", 8) != std::string::npos ||
            opts_.base_url.find('/', 8) != std::string::npos)
            throw std::invalid_argument("--url takes the server only (https://host:port), no path");
        if (!opts_.pin.empty() && !opts_.pin.starts_with("sha256//"))
            throw std::invalid_argument("--pin must look like sha256//<base64> (portal-keyd --print-pin)");
    } else {
        if (opts_.socket_path.empty()) throw std::invalid_argument("the socket path is empty");
        if (opts_.socket_path.size() >= sizeof(sockaddr_un{}.sun_path))
            throw std::invalid_argument("the socket path is too long for a Unix socket");
    }
    if (has_crlf(opts_.token) || has_crlf(opts_.session_portal))
        throw std::invalid_argument("the token contains a line break");
    if (has_crlf(opts_.account_id))
        throw std::invalid_argument("the account id contains a line break");
    if (opts_.timeout.count() <= 0) throw std::invalid_argument("the timeout must be positive");
    handle_ = std::make_unique<Handle>();
    handle_->easy.reset(curl_easy_init());
    if (!handle_->easy) throw std::runtime_error("libcurl could not create a handle");
}

ApiClient::~ApiClient() = default;

Response ApiClient::request(std::string_view method, std::string_view target,
                            const nlohmann::json* body) {
    CURL* c = handle_->easy.get();
    curl_easy_reset(c);  // keeps the connection cache: consecutive calls reuse the socket

    Response resp;
    Sink sink{&resp};
    const std::string url = (opts_.remote() ? opts_.base_url : std::string("http://localhost")) + std::string(target);
    const std::string cid = new_correlation_id();
    auto& errbuf = handle_->errbuf;
    errbuf.fill('\0');

    std::string payload;
    const bool has_payload = body != nullptr || method == "POST" || method == "PUT";
    if (body != nullptr) {
        try {
            payload = body->dump();
        } catch (const nlohmann::json::type_error&) {
            throw std::invalid_argument("an argument is not valid UTF-8");
        }
    } else if (has_payload) {
        payload = "{}";
    }

    Slist& headers = handle_->headers;
    headers.reset();
    append(headers, "Accept: application/json");
    append(headers, "X-Correlation-ID: " + cid);
    append(headers, "Expect:");  // no 100-continue round trip on a local socket
    if (!opts_.account_id.empty()) append(headers, "X-Account-ID: " + opts_.account_id);
    if (!opts_.token.empty()) append(headers, "Authorization: Bearer " + opts_.token);
    if (!opts_.token.empty() && !opts_.session_portal.empty())
        append(headers, "X-Portal-Session-For: " + opts_.session_portal);
    if (has_payload) append(headers, "Content-Type: application/json");

    const long timeout_ms = static_cast<long>(opts_.timeout.count());
    if (opts_.remote()) {
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
        curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
        if (!opts_.pin.empty()) {
            // The pin alone decides (a self-signed certificate has no chain to check); curl
            // still refuses any other key before a byte of the request is sent.
            curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, opts_.pin.c_str());
            if (opts_.ca_file.empty()) {
                curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
                curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
            }
        }
        if (!opts_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, opts_.ca_file.c_str());
    } else {
        curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, opts_.socket_path.c_str());
        curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http");
    }
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "portalctl/0.1");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf.data());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
    const std::string method_str(method);  // curl copies it, but wants a C string
    if (method == "GET") curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    else curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method_str.c_str());
    if (has_payload) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, payload.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(payload.size()));
    }
    const CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        if (sink.too_large) throw ProtocolError("the daemon's reply is too large");
        const std::string& sock = opts_.remote() ? opts_.base_url : opts_.socket_path;
        if (rc == CURLE_SSL_PINNEDPUBKEYNOTMATCH)
            throw TransportError(sock + " presented a certificate whose key does not match --pin: refusing it");
        if (rc == CURLE_PEER_FAILED_VERIFICATION)
            throw TransportError(sock + ": the certificate is not trusted (" + std::string(errbuf.data()) +
                                 "); pin it with --pin (portal-keyd --print-pin) or name its CA with --cacert");
        if (rc == CURLE_OPERATION_TIMEDOUT)
            throw TransportError("no answer from portal-keyd on " + sock + " within " +
                                 seconds(timeout_ms) + " s");
        if (rc == CURLE_COULDNT_CONNECT) {
            long os_errno = 0;
            curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
            std::string why = os_errno != 0 ? std::strerror(static_cast<int>(os_errno))
                                            : std::string("connection failed");
            std::string hint;
            if (os_errno == ENOENT || os_errno == ECONNREFUSED)
                hint = opts_.remote() ? " (is [listen] https on?)" : " (is portal-keyd running?)";
            else if (os_errno == EACCES) hint = " (permission denied: run as root or a portal user)";
            throw TransportError("cannot connect to " + sock + ": " + why + hint);
        }
        std::string detail = errbuf[0] != '\0' ? errbuf.data() : curl_easy_strerror(rc);
        // Connected, and something answered, but not in HTTP (HTTP/0.9 is refused): an
        // unusable reply (exit 4), not an unreachable daemon (exit 3).
        if (rc == CURLE_UNSUPPORTED_PROTOCOL || rc == CURLE_WEIRD_SERVER_REPLY)
            throw ProtocolError("the reply on " + sock + " is not portal-keyd's HTTP: " + detail);
        throw TransportError("talking to portal-keyd on " + sock + " failed: " + detail);
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &resp.status);
    resp.correlation_id = resp.header("X-Correlation-ID").value_or(cid);
    return resp;
}

Response ApiClient::get(std::string_view path, const Query& q) {
    return request("GET", std::string(path) + encode_query(q));
}
Response ApiClient::post(std::string_view path, const nlohmann::json& body) {
    return request("POST", path, &body);
}
Response ApiClient::put(std::string_view path, const nlohmann::json& body) {
    return request("PUT", path, &body);
}
Response ApiClient::del(std::string_view path) { return request("DELETE", path); }

}  // namespace portal::ctl
