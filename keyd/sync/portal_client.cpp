#include "keyd/sync/portal_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <cstring>
#include <mutex>
#include <stdexcept>

namespace portal::sync {
namespace {

constexpr std::size_t kMaxHeaderBytes = 64u * 1024u;

void init_curl_once() {
    static std::once_flag once;
    std::call_once(once, [] {
        if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) throw std::runtime_error("libcurl initialisation failed");
    });
}

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

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\r' || s.back() == '\n'))
        s.remove_suffix(1);
    return s;
}

struct Sink {
    PortalAnswer* answer;
    std::size_t max_body;
    std::size_t header_bytes = 0;
    bool too_large = false;
    const std::atomic<bool>* stopped;
};

size_t on_body(char* data, size_t size, size_t n, void* user) {
    auto* s = static_cast<Sink*>(user);
    const size_t len = size * n;
    if (s->answer->body.size() + len > s->max_body) {
        s->too_large = true;
        return 0;  // curl stops with CURLE_WRITE_ERROR
    }
    s->answer->body.append(data, len);
    return len;
}

size_t on_header(char* data, size_t size, size_t n, void* user) {
    auto* s = static_cast<Sink*>(user);
    const size_t len = size * n;
    s->header_bytes += len;
    if (s->header_bytes > kMaxHeaderBytes) {
        s->too_large = true;
        return 0;
    }
    const std::string_view line(data, len);
    if (line.rfind("HTTP/", 0) == 0) {  // a new answer (after 100-continue): forget the last one's headers
        s->answer->etag.clear();
        s->answer->retry_after.reset();
        s->answer->content_type.clear();
        s->answer->headers.clear();
        return len;
    }
    const auto colon = line.find(':');
    if (colon == std::string_view::npos) return len;
    const std::string name = lower(trim(line.substr(0, colon)));
    const std::string_view value = trim(line.substr(colon + 1));
    s->answer->headers.emplace_back(name, value);
    if (name == "etag") s->answer->etag = std::string(value);
    else if (name == "content-type") s->answer->content_type = std::string(value);
    else if (name == "retry-after") {
        std::int64_t v = 0;
        const auto [p, ec] = std::from_chars(value.data(), value.data() + value.size(), v);
        if (ec == std::errc() && p == value.data() + value.size() && v >= 0) s->answer->retry_after = v;
    }
    return len;
}

// Called by curl about once a second and on every transfer: a stop() ends the request.
int on_progress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
    const auto* s = static_cast<Sink*>(user);
    return s->stopped->load() ? 1 : 0;
}

std::string transport_error(CURLcode rc, const char* errbuf, bool too_large, CURL* c) {
    if (too_large) return "the answer is too large";
    switch (rc) {
        case CURLE_SSL_PINNEDPUBKEYNOTMATCH: return "the portal's certificate key does not match the pinned key";
        case CURLE_PEER_FAILED_VERIFICATION:
            return std::string("the portal's certificate is not trusted: ") + errbuf;
        case CURLE_OPERATION_TIMEDOUT: return "timed out";
        case CURLE_ABORTED_BY_CALLBACK: return "stopped";
        case CURLE_COULDNT_CONNECT: {
            long os_errno = 0;
            curl_easy_getinfo(c, CURLINFO_OS_ERRNO, &os_errno);
            return std::string("cannot connect: ") + (os_errno ? std::strerror(static_cast<int>(os_errno)) : "failed");
        }
        default: return errbuf[0] != '\0' ? std::string(errbuf) : std::string(curl_easy_strerror(rc));
    }
}

}  // namespace

struct PortalClient::Handle {
    struct EasyDeleter {
        void operator()(CURL* c) const { curl_easy_cleanup(c); }
    };
    std::unique_ptr<CURL, EasyDeleter> easy;
};

PortalClient::PortalClient(PortalEndpoint endpoint) : endpoint_(std::move(endpoint)), handle_(std::make_unique<Handle>()) {
    init_curl_once();
    handle_->easy.reset(curl_easy_init());
    if (!handle_->easy) throw std::runtime_error("libcurl: cannot make a handle");
}

PortalClient::~PortalClient() = default;

PortalAnswer PortalClient::perform(const Request& r) {
    PortalAnswer answer;
    if (stopped_.load()) {
        answer.error = "stopped";
        return answer;
    }
    CURL* c = handle_->easy.get();
    curl_easy_reset(c);  // keeps the connection cache: the next request reuses the connection
    Slist headers;
    append(headers, "Accept: application/json");
    append(headers, "Expect:");
    if (!endpoint_.token.empty()) append(headers, "Authorization: Bearer " + endpoint_.token);
    if (!r.body.empty()) append(headers, "Content-Type: application/json");
    for (const auto& h : r.headers) append(headers, h);

    std::array<char, CURL_ERROR_SIZE> errbuf{};
    Sink sink{&answer, r.max_answer_bytes, 0, false, &stopped_};
    const std::string url = endpoint_.url + r.target;
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https");
    curl_easy_setopt(c, CURLOPT_SSLVERSION, static_cast<long>(CURL_SSLVERSION_TLSv1_2));
    if (!endpoint_.pin.empty()) {
        // The pin decides (a self-signed certificate has no chain to check); curl refuses any
        // other key before a byte of the request is sent.
        curl_easy_setopt(c, CURLOPT_PINNEDPUBLICKEY, endpoint_.pin.c_str());
        if (endpoint_.ca_file.empty()) {
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 0L);
            curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 0L);
        }
    }
    if (!endpoint_.ca_file.empty()) curl_easy_setopt(c, CURLOPT_CAINFO, endpoint_.ca_file.c_str());
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, static_cast<long>(r.timeout.count()));
    curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, std::min(5000L, static_cast<long>(r.timeout.count())));
    curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);  // "/v1/../x" is sent as it is, never made "/x"
    curl_easy_setopt(c, CURLOPT_TCP_KEEPALIVE, 1L);
    curl_easy_setopt(c, CURLOPT_USERAGENT, "portal-keyd-agent/0.1");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    curl_easy_setopt(c, CURLOPT_ERRORBUFFER, errbuf.data());
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &sink);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &sink);
    curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
    curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, on_progress);
    curl_easy_setopt(c, CURLOPT_XFERINFODATA, &sink);
    if (r.method == "GET") {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    } else {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, r.method.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, r.body.c_str());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(r.body.size()));
    }
    const CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) {
        answer.error = transport_error(rc, errbuf.data(), sink.too_large, c);
        answer.body.clear();
        return answer;
    }
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &answer.status);
    return answer;
}

}  // namespace portal::sync
