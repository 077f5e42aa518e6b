#include "tests/e2e/support/api.h"
#include "tests/e2e/support/process.h"

#include <curl/curl.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <memory>
#include <mutex>
#include <sstream>

namespace portal::e2e {
namespace fs = std::filesystem;

namespace {

size_t on_body(char* data, size_t size, size_t n, void* user) {
    static_cast<std::string*>(user)->append(data, size * n);
    return size * n;
}

struct CurlDeleter {
    void operator()(CURL* c) const { curl_easy_cleanup(c); }
};
struct SlistDeleter {
    void operator()(curl_slist* s) const { curl_slist_free_all(s); }
};

ApiResult perform(const std::string& socket, const std::string& method, const std::string& path,
                  const std::optional<std::string>& body, const std::string& account_id) {
    static std::once_flag once;
    std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
    ApiResult out;
    std::unique_ptr<CURL, CurlDeleter> curl(curl_easy_init());
    if (!curl) {
        out.error = "curl_easy_init failed";
        return out;
    }
    CURL* c = curl.get();
    const std::string url = "http://localhost" + path;
    curl_easy_setopt(c, CURLOPT_UNIX_SOCKET_PATH, socket.c_str());
    curl_easy_setopt(c, CURLOPT_URL, url.c_str());
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method.c_str());
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out.body);
    curl_slist* raw = nullptr;
    if (!account_id.empty()) raw = curl_slist_append(raw, ("X-Account-ID: " + account_id).c_str());
    if (body) {
        raw = curl_slist_append(raw, "Content-Type: application/json");
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body->data());
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body->size()));
    }
    std::unique_ptr<curl_slist, SlistDeleter> headers(raw);
    if (headers) curl_easy_setopt(c, CURLOPT_HTTPHEADER, headers.get());
    const CURLcode rc = curl_easy_perform(c);
    if (rc != CURLE_OK) out.error = curl_easy_strerror(rc);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out.status);
    return out;
}

// "<status> <error length>\n" error body
std::string encode(const ApiResult& r) {
    return std::to_string(r.status) + " " + std::to_string(r.error.size()) + "\n" + r.error + r.body;
}

bool decode(const std::string& s, ApiResult& r) {
    const auto nl = s.find('\n');
    if (nl == std::string::npos) return false;
    std::istringstream head(s.substr(0, nl));
    std::size_t error_len = 0;
    if (!(head >> r.status >> error_len) || nl + 1 + error_len > s.size()) return false;
    r.error = s.substr(nl + 1, error_len);
    r.body = s.substr(nl + 1 + error_len);
    return true;
}

ApiResult perform_as(const fs::path& socket, uid_t uid, const std::string& method, const std::string& path,
                     const std::optional<std::string>& body, const std::string& account_id) {
    ApiResult r;
    const std::string dir = socket.parent_path().string();
    const std::string name = socket.filename().string();
    const auto buf = in_child([&] {
        ApiResult child;
        // Enter the socket's directory as root, then become `uid` (gid = uid, no groups).
        if (::chdir(dir.c_str()) != 0 || ::setgroups(0, nullptr) != 0 || ::setgid(static_cast<gid_t>(uid)) != 0 ||
            ::setuid(uid) != 0 || ::geteuid() != uid)
            child.error = std::string("dropping privileges: ") + std::strerror(errno);
        else
            child = perform(name, method, path, body, account_id);
        return encode(child);
    });
    if (!buf) {
        r.error = "fork or pipe failed";
        return r;
    }
    if (!decode(*buf, r)) r.error = "the child for uid " + std::to_string(uid) + " sent no result";
    return r;
}

}  // namespace

std::string ApiResult::describe() const {
    std::string s = "HTTP " + std::to_string(status);
    if (!error.empty()) s += " (" + error + ")";
    return s + " " + (body.size() > 500 ? body.substr(0, 500) + "..." : body);
}

ApiResult Api::call(const std::string& method, const std::string& path, const std::optional<nlohmann::json>& body,
                    uid_t uid, const std::string& account_id) const {
    std::optional<std::string> raw;
    if (body) raw = body->dump();
    ApiResult r = uid == 0 ? perform(socket_.string(), method, path, raw, account_id)
                           : perform_as(socket_, uid, method, path, raw, account_id);
    if (!r.body.empty()) {
        r.json = nlohmann::json::parse(r.body, nullptr, false);
        if (r.json.is_discarded()) r.json = nullptr;
    }
    return r;
}

bool Api::answers() const { return call("GET", "/v1/accounts", std::nullopt).status != 0; }

}  // namespace portal::e2e
