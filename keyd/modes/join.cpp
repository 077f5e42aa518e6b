#include "keyd/modes/join.h"

#include <unistd.h>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <filesystem>
#include <system_error>

#include <nlohmann/json.hpp>

#include "keyd/log/log.h"
#include "keyd/sync/portal_client.h"
#include "shared/ipc/state_file.h"

namespace portal::modes {
namespace {

using iam::ApiError;

std::string host_name_here() {
    char buf[256] = {};
    if (::gethostname(buf, sizeof buf - 1) != 0) return "localhost";
    return buf;
}

bool token_shaped(const std::string& t, std::string_view prefix) {
    return t.rfind(prefix, 0) == 0 && t.size() < 200 &&
           t.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == std::string::npos;
}

// TOML basic string: the values are checked to hold no quote, backslash or control character.
std::string toml_line(const char* key, const std::string& value) { return std::string(key) + " = \"" + value + "\"\n"; }

bool plain(const std::string& s) {
    for (unsigned char c : s)
        if (c < 0x20 || c == '"' || c == '\\' || c == 0x7f) return false;
    return true;
}

}  // namespace

PortalJoiner::PortalJoiner(boost::asio::io_context& io, const config::Config& cfg,
                           const std::filesystem::path& config_path, store::Store& store, Restart& restart)
    : io_(io), cfg_(cfg), config_path_(config_path), store_(store), restart_(restart) {}

PortalJoiner::~PortalJoiner() {
    if (worker_.joinable()) worker_.join();
}

void PortalJoiner::join(iam::JoinRequest r, iam::ServerStatusService::Done done) {
    // Checked here, with the configuration's own rules (one parser for both).
    std::string toml = "[portal]\n" + toml_line("url", r.url);
    if (!plain(r.url) || !plain(r.pin) || !plain(r.ca_file)) throw ApiError::unprocessable("url", "control characters or quotes");
    if (!r.pin.empty()) toml += toml_line("pin", r.pin);
    if (!r.ca_file.empty()) toml += toml_line("ca_file", r.ca_file);
    config::Config probe;
    try {
        config::apply_joined_portal(probe, toml, "join");
    } catch (const config::ConfigError& e) {
        const std::string what = e.what();
        const std::string field = what.find("portal.pin") != std::string::npos       ? "pin"
                                  : what.find("portal.ca_file") != std::string::npos ? "ca_file"
                                                                                      : "url";
        throw ApiError::unprocessable(field, what.substr(what.find(": ") + 2));
    }
    if (r.pin.empty() == r.ca_file.empty())
        throw ApiError::unprocessable("pin", "give the portal's pin (portal-keyd --print-pin there) or a CA file, one of them");
    if (!r.ca_file.empty() && !std::filesystem::is_regular_file(r.ca_file))
        throw ApiError::unprocessable("ca_file", "not a readable file: " + r.ca_file);
    if (!token_shaped(r.enrolment_token, "pk_enrol_"))
        throw ApiError::unprocessable("enrolment_token", "not an enrolment token (pk_enrol_...)");
    const auto accounts = store_.accounts().all().size();
    if (accounts > 0 && !r.discard_local_accounts)
        throw ApiError{409, "CONFLICT",
                       "this server is the portal of " + std::to_string(accounts) +
                           " account(s); joining another portal sets them aside: confirm with --discard-local-accounts"};
    if (busy_) throw ApiError{409, "CONFLICT", "a join is in progress"};
    if (worker_.joinable()) worker_.join();
    busy_ = true;
    // The registration waits on the network: never on the main thread.
    struct ClearBusy {
        bool& busy;
        bool armed = true;
        ~ClearBusy() {
            if (armed) busy = false;
        }
    } clear_busy{busy_};
    worker_ = std::thread([this, r, done] {
        sync::PortalClient client(sync::PortalEndpoint{r.url, r.pin, r.ca_file, ""});
        sync::PortalClient::Request req;
        req.method = "POST";
        req.target = "/v1/hosts/register";
        req.timeout = std::chrono::seconds(15);
        req.max_answer_bytes = 64 * 1024;
        req.body = nlohmann::json{{"token", r.enrolment_token}, {"hostname", host_name_here()}, {"version", "0.1.0"}}.dump();
        const sync::PortalAnswer a = client.perform(req);
        boost::asio::post(io_, [this, r, done, a] { finish(r, a.status, a.body, a.error, done); });
    });
    clear_busy.armed = false;  // the thread clears it (finish), or the daemon restarts
}

void PortalJoiner::finish(const iam::JoinRequest& r, long status, const std::string& body, const std::string& error,
                          const iam::ServerStatusService::Done& done) {
    iam::JoinOutcome out;
    // Joined: busy until the daemon restarts (a second join now would register twice).
    // Refused: another attempt may follow.
    auto refused = [this, &done](iam::JoinOutcome o) {
        busy_ = false;
        done(std::move(o));
    };
    if (status == 0) {
        out.error = ApiError{502, "PORTAL_UNREACHABLE", "cannot reach the portal at " + r.url + ": " + error};
        return refused(out);
    }
    const auto j = nlohmann::json::parse(body, nullptr, false);
    if (status != 201) {
        std::string message = j.is_object() && j.contains("message") && j["message"].is_string()
                                  ? j["message"].get<std::string>()
                                  : "HTTP " + std::to_string(status);
        out.error = ApiError{502, "PORTAL_REFUSED", "the portal refused the registration: " + message};
        return refused(out);
    }
    const std::string host_id = j.is_object() && j.contains("host_id") && j["host_id"].is_string() ? j["host_id"].get<std::string>() : "";
    const std::string token = j.is_object() && j.contains("host_token") && j["host_token"].is_string() ? j["host_token"].get<std::string>() : "";
    if (!token_shaped(token, "pk_host_") || host_id.empty() || host_id.size() > 64 || !plain(host_id)) {
        out.error = ApiError{502, "PORTAL_ANSWER", "the portal's answer holds no host token"};
        return refused(out);
    }
    std::string toml = "# Kept by portalctl join; portalctl leave removes it. [portal] in " + config_path_.string() +
                       " takes precedence.\n[portal]\n" + toml_line("url", r.url);
    if (!r.pin.empty()) toml += toml_line("pin", r.pin);
    if (!r.ca_file.empty()) toml += toml_line("ca_file", r.ca_file);
    toml += toml_line("host_id", host_id);
    std::string why;
    const ipc::StateFileMode secret{0600, std::nullopt, std::nullopt};
    // The token first: settings without it would make an agent that cannot sign in.
    if (!ipc::write_file_atomically(cfg_.portal_token_file.string(), token + "\n", secret, why) ||
        !ipc::write_file_atomically(cfg_.joined_portal_file().string(), toml, secret, why)) {
        out.error = ApiError{500, "INTERNAL_ERROR", "cannot keep the portal settings: " + why};
        return refused(out);
    }
    log::info("joined a portal: restarting as its agent", {{"portal", r.url}, {"host_id", host_id}});
    out.host_id = host_id;
    restart_.requested = true;
    restart_.set_store_aside = r.discard_local_accounts;
    done(out);
    // The answer goes out first; then the daemon stops and re-executes itself.
    boost::asio::post(io_, [this] {
        auto t = std::make_shared<boost::asio::steady_timer>(io_, std::chrono::milliseconds(200));
        t->async_wait([this, t](const boost::system::error_code&) { io_.stop(); });
    });
}

void leave_portal(const config::Config& cfg, const std::filesystem::path& config_path) {
    if (!cfg.portal_joined)
        throw ApiError{409, "CONFLICT", "the portal is set in " + config_path.string() +
                                            " ([portal] url): remove it there and restart portal-keyd"};
    std::error_code ec;
    std::filesystem::remove(cfg.joined_portal_file(), ec);
    if (ec) throw ApiError{500, "INTERNAL_ERROR", "cannot remove " + cfg.joined_portal_file().string() + ": " + ec.message()};
    std::filesystem::remove(cfg.portal_token_file, ec);
    log::info("left the portal: restarting as an authority", {{"portal", cfg.portal_url}});
}

void apply_restart_files(const config::Config& cfg, const Restart& r) {
    std::error_code ec;
    if (r.forget_synced_state)
        for (const char* name : {"synced.db", "synced.db-wal", "synced.db-shm"}) std::filesystem::remove(cfg.state_directory / name, ec);
    if (r.set_store_aside) {
        const std::string stamp = std::to_string(::time(nullptr));
        for (const char* suffix : {"", "-wal", "-shm"}) {
            std::filesystem::path from = cfg.database;
            from += suffix;
            std::filesystem::path to = cfg.database;
            to += ".set-aside-" + stamp + suffix;
            if (std::filesystem::exists(from, ec)) std::filesystem::rename(from, to, ec);
        }
        log::warning("this server's own accounts are set aside (join --discard-local-accounts)",
                     {{"kept_as", cfg.database.string() + ".set-aside-" + stamp}});
    }
}

}  // namespace portal::modes
