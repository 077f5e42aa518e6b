#include <catch2/catch.hpp>

#include "shared/ipc/framing.h"
#include "shared/ipc/login_protocol.h"
#include "shared/ipc/login_server.h"

namespace login_protocol_test {

using namespace portal::ipc;
using nlohmann::json;

namespace {

std::optional<Request> parse(const json& j, std::string& error_name, std::string& message) {
    return parse_request(j, error_name, message);
}

struct RecordingHandler : LoginHandler {
    std::optional<Request> last;
    bool throw_next = false;
    GetAuthorizedKeysReply get_authorized_keys(const GetAuthorizedKeysRequest& q) override {
        last = q;
        return {true, {"ssh-ed25519 AAAA k"}, 200001};
    }
    CheckAccountReply check_account(const CheckAccountRequest& q) override {
        last = q;
        if (throw_next) throw std::runtime_error("boom");
        return {true, false, "deactivated", "bye", false, 200001};
    }
    VerifyCodeReply verify_code(const VerifyCodeRequest& q) override {
        last = q;
        return {true, VerifyResult::locked, 30};
    }
    SessionEventReply session_event(const SessionEventRequest& q) override {
        last = q;
        return {};
    }
};

json reply_of(const DispatchResult& r) {
    REQUIRE(!r.reply.empty());
    REQUIRE(r.reply.back() == '\0');
    std::string error;
    auto j = parse_message(std::string_view(r.reply).substr(0, r.reply.size() - 1), error);
    REQUIRE(j);
    return *j;
}

}  // namespace

TEST_CASE("login_protocol: every request round-trips", "[login][protocol]") {
    const std::vector<Request> requests{
        GetAuthorizedKeysRequest{"alice", std::nullopt},
        GetAuthorizedKeysRequest{"alice", std::string("SHA256:abc")},
        CheckAccountRequest{"alice", "192.0.2.1", "sshd"},
        VerifyCodeRequest{"alice", "123456", "192.0.2.1", "sshd"},
        SessionEventRequest{"alice", SessionEventKind::close, "192.0.2.1", "sshd", "ssh"},
    };
    for (const auto& r : requests) {
        const json j = request_message(r);
        std::string error_name, message;
        auto back = parse(j, error_name, message);
        INFO(j.dump());
        REQUIRE(back);
        CHECK(request_message(*back) == j);
    }
    CHECK(request_message(CheckAccountRequest{"a", "", ""})["method"] == "io.portal.Login.CheckAccount");
}

TEST_CASE("login_protocol: bad requests name the field", "[login][protocol]") {
    struct Case {
        json request;
        std::string_view error_name;
        std::string message;
    };
    const std::vector<Case> cases{
        {json::object(), error::bad_request, "method: missing"},
        {{{"method", 5}}, error::bad_request, "method: must be a string"},
        {{{"method", "io.portal.Login.Nope"}, {"parameters", json::object()}}, error::method_not_found, "unknown method"},
        {{{"method", method::check_account}}, error::bad_request, "parameters.user: missing"},
        {{{"method", method::check_account}, {"parameters", json::array()}}, error::bad_request,
         "parameters: not an object"},
        {{{"method", method::check_account}, {"parameters", {{"user", ""}}}}, error::bad_request,
         "parameters.user: empty"},
        {{{"method", method::check_account}, {"parameters", {{"user", std::string(300, 'a')}}}}, error::bad_request,
         "parameters.user: too long"},
        {{{"method", method::check_account}, {"parameters", {{"user", "a"}, {"rhost", 1}}}}, error::bad_request,
         "parameters.rhost: must be a string"},
        {{{"method", method::check_account}, {"parameters", {{"user", "a"}, {"extra", 1}}}}, error::bad_request,
         "parameters.extra: unknown field"},
        {{{"method", method::verify_code}, {"parameters", {{"user", "a"}}}}, error::bad_request,
         "parameters.code: missing"},
        {{{"method", method::get_authorized_keys}, {"parameters", {{"user", "a"}, {"fingerprint", 1}}}},
         error::bad_request, "parameters.fingerprint: must be a string"},
        {{{"method", method::session_event}, {"parameters", {{"user", "a"}, {"event", "reopen"}}}},
         error::bad_request, "parameters.event: must be \"open\" or \"close\""},
        {{{"method", method::check_account}, {"parameters", {{"user", "a"}}}, {"more", true}}, error::bad_request,
         "more: unknown field"},
    };
    for (const auto& c : cases) {
        INFO(c.request.dump());
        std::string error_name, message;
        CHECK_FALSE(parse(c.request, error_name, message));
        CHECK(error_name == c.error_name);
        CHECK(message == c.message);
    }
}

TEST_CASE("login_protocol: replies round-trip through the client parsers", "[login][protocol]") {
    std::string error;
    auto keys = parse_get_authorized_keys_reply(
        reply_message(GetAuthorizedKeysReply{true, {"a", "b"}, 200007})["parameters"], error);
    REQUIRE(keys);
    CHECK(keys->portal_user);
    CHECK(keys->keys == std::vector<std::string>{"a", "b"});
    CHECK(keys->uid == std::optional<std::uint32_t>(200007));

    auto d = parse_check_account_reply(
        reply_message(LoginDecision{true, false, "invited", "not yet", false, 200008})["parameters"], error);
    REQUIRE(d);
    CHECK(d->portal_user);
    CHECK_FALSE(d->allow);
    CHECK(d->reason == "invited");
    CHECK(d->message == "not yet");
    CHECK(d->uid == std::optional<std::uint32_t>(200008));

    // A portal user's uid is required (the login path compares it with the local account's);
    // others need none.
    CHECK_FALSE(parse_get_authorized_keys_reply(json{{"portal_user", true}, {"keys", json::array()}}, error));
    CHECK(error == "parameters.uid: missing");
    CHECK_FALSE(parse_check_account_reply(
        json{{"portal_user", true}, {"allow", true}, {"reason", "allowed"}, {"message", ""}, {"tfa_required", false}},
        error));
    CHECK(error == "parameters.uid: missing");
    CHECK_FALSE(parse_get_authorized_keys_reply(
        json{{"portal_user", true}, {"keys", json::array()}, {"uid", 4294967296ull}}, error));
    CHECK(error == "parameters.uid: out of range");
    CHECK_FALSE(parse_get_authorized_keys_reply(json{{"portal_user", true}, {"keys", json::array()}, {"uid", "1"}}, error));
    auto none = parse_get_authorized_keys_reply(json{{"portal_user", false}, {"keys", json::array()}}, error);
    REQUIRE(none);
    CHECK_FALSE(none->uid);

    auto v = parse_verify_code_reply(reply_message(VerifyCodeReply{true, VerifyResult::locked, 42})["parameters"], error);
    REQUIRE(v);
    CHECK(v->result == VerifyResult::locked);
    CHECK(v->retry_after == 42);

    // Type errors are refused; fields a newer daemon adds are not.
    CHECK_FALSE(parse_check_account_reply(json{{"portal_user", "yes"}}, error));
    CHECK_FALSE(parse_verify_code_reply(json{{"portal_user", true}, {"result", "maybe"}}, error));
    CHECK(error == "parameters.result: unknown result");
    CHECK_FALSE(parse_get_authorized_keys_reply(json{{"portal_user", true}, {"keys", {1}}, {"uid", 1u}}, error));
    CHECK(error == "parameters.keys[0]: must be a string");
    CHECK(parse_get_authorized_keys_reply(json{{"portal_user", false}, {"keys", json::array()}, {"new", 1}}, error));
}

TEST_CASE("login_server: dispatch answers, errors and closes on bad input", "[login][protocol]") {
    RecordingHandler h;
    auto r = dispatch(R"({"method":"io.portal.Login.VerifyCode","parameters":{"user":"al","code":"1"}})", h);
    CHECK_FALSE(r.close);
    json j = reply_of(r);
    CHECK(j["parameters"]["result"] == "locked");
    CHECK(j["parameters"]["retry_after"] == 30);
    REQUIRE(h.last);
    CHECK(std::get<VerifyCodeRequest>(*h.last).rhost.empty());  // optional context defaults to ""

    r = dispatch("garbage", h);
    CHECK(r.close);
    j = reply_of(r);
    CHECK(j["error"] == error::bad_request);
    CHECK(j["parameters"]["message"] == "message is not valid JSON");

    r = dispatch(R"({"method":"io.portal.Login.Frobnicate"})", h);
    CHECK(r.close);
    CHECK(reply_of(r)["error"] == error::method_not_found);

    h.throw_next = true;
    r = dispatch(R"({"method":"io.portal.Login.CheckAccount","parameters":{"user":"al"}})", h);
    CHECK(r.close);
    CHECK(reply_of(r)["error"] == error::internal);
    CHECK(r.log.find("boom") != std::string::npos);
    CHECK(reply_of(r).dump().find("boom") == std::string::npos);  // internals stay in the log

    r = request_too_large();
    CHECK(r.close);
    CHECK(reply_of(r)["error"] == error::bad_request);
}

}  // namespace login_protocol_test
