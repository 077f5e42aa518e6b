#include "fuzz/support/api_world.h"

#include <stdexcept>
#include <string_view>

#include <nlohmann/json.hpp>

#include "fuzz/support/temp_dir.h"
#include "keyd/api/percent_encoding.h"
#include "keyd/api/router.h"
#include "keyd/iam/authority/authority.h"
#include "keyd/log/log.h"
#include "keyd/store/store.h"
#include "keyd/tfa/secret_box.h"
#include "keyd/tfa/tfa_service.h"

namespace portal::fuzz {

// The one place that builds the IAM side: adapt this when keyd/iam changes shape.
struct ApiWorld::Service {
    TempDir dir;
    std::unique_ptr<store::Store> store = store::Store::open(dir.path() / "portal.db", {200000, 200999});
    tfa::TfaService tfa{*store, SecretBox::load_or_create(dir.path() / "tfa.key"), {},
                        [] { return std::chrono::system_clock::now(); }};
    iam::authority::Authority authority{*store, tfa};
    api::Router router{authority.services()};

    iam::ServerStatusService server{{}};
    Service() { api::register_v1_routes(router, server); }
};

namespace {

api::Request root_request(std::string method, std::string path, std::string body) {
    api::Request r;
    r.method = std::move(method);
    r.target = path;
    r.path = std::move(path);
    r.body = std::move(body);
    r.peer = {1, 0, 0};
    return r;
}

nlohmann::json must(api::Response resp, int status, std::string_view what) {
    if (resp.status != status) throw std::runtime_error("fuzz world set-up: " + std::string(what) + ": " + resp.body);
    return resp.body.empty() ? nlohmann::json{} : nlohmann::json::parse(resp.body);
}

// A valid ed25519 key, so key routes reach the store.
constexpr std::string_view kOwnerKey =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILk7s0INnN3yW1xhwDJ7q3AqS9mgf1P3/VxrB1DtqoL+ fuzz-owner";

}  // namespace

ApiWorld::ApiWorld() : service_(std::make_unique<Service>()) {
    log::init(log::Level::error);
    auto& router = service_->router;
    auto account = must(router.dispatch(root_request("POST", "/v1/accounts", R"({"name":"Fuzz"})")), 201, "account");
    auto add_user = [&](std::string_view email, std::string_view role) {
        nlohmann::json body{{"email", email}, {"name", "Fuzz " + std::string(role)}, {"role", role}};
        return must(router.dispatch(root_request("POST", "/v1/account/users", body.dump())), 201, email);
    };
    auto owner = add_user("owner@example.com", "owner");
    auto manager = add_user("manager@example.com", "manager");
    auto gone = add_user("gone@example.com", "manager");
    must(router.dispatch(root_request("PUT", "/v1/account/users/" + gone.at("id").get<std::string>(),
                                      R"({"status":"deactivated"})")),
         200, "deactivate");
    nlohmann::json key{{"name", "laptop"}, {"public_key", kOwnerKey}, {"user_id", owner.at("id")}};
    auto added = must(router.dispatch(root_request("POST", "/v1/ssh_keys", key.dump())), 201, "key");
    auto id = [](const nlohmann::json& j, const char* field) { return j.at(field).get<std::string>(); };
    names_ = {{"$ACCOUNT", id(account, "id")}, {"$OWNER", id(owner, "id")},     {"$MANAGER", id(manager, "id")},
              {"$GONE", id(gone, "id")},       {"$KEY", id(added, "fingerprint")}};
    peers_ = {0, owner.at("uid").get<uid_t>(), manager.at("uid").get<uid_t>(), gone.at("uid").get<uid_t>(), 65534};
}

ApiWorld::~ApiWorld() = default;

std::string ApiWorld::expand(std::string_view text) const {
    std::string out(text);
    for (const auto& [name, id] : names_)
        for (auto at = out.find(name); at != std::string::npos; at = out.find(name, at + id.size()))
            out.replace(at, name.size(), id);
    return out;
}

api::Response ApiWorld::dispatch(const api::Request& req) { return service_->router.dispatch(req); }

namespace {

std::string_view next_line(std::string_view& text) {
    const auto nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text = nl == std::string_view::npos ? std::string_view{} : text.substr(nl + 1);
    return line;
}

}  // namespace

bool parse_request_text(std::string_view text, api::Request& out) {
    std::string_view request_line = next_line(text);
    const auto sp = request_line.find(' ');
    if (sp == std::string_view::npos) return false;
    out.method = std::string(request_line.substr(0, sp));
    out.target = std::string(request_line.substr(sp + 1));
    // The server's own target parsing: the path stays raw, the router decodes segments.
    if (!api::parse_target(out.target, out.path, out.query)) return false;
    while (!text.empty()) {
        const std::string_view line = next_line(text);
        if (line.empty()) break;
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) return false;
        std::string name(line.substr(0, colon));
        for (char& c : name)
            if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
        std::string_view value = line.substr(colon + 1);
        while (!value.empty() && (value.front() == ' ' || value.front() == '\t')) value.remove_prefix(1);
        out.headers.emplace_back(std::move(name), std::string(value));
    }
    out.body = std::string(text);
    return true;
}

}  // namespace portal::fuzz
