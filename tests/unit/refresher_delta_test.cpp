// The refresher on change sets (keyd/login/state_delta.h) against the refresher comparing
// everything: random sequences of store writes, refreshed after each step, must leave the
// same state directory, the same allowed record and end the same sessions, and every member
// that differs from the last publication must be in the change set the publisher gets.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>
#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unordered_set>
#include <vector>

#include "keyd/login/login_service.h"
#include "keyd/login/login_view.h"
#include "keyd/login/refresher.h"
#include "keyd/login/state_delta.h"
#include "keyd/revoke/allowed_record.h"
#include "keyd/revoke/allowed_record_file.h"
#include "keyd/tfa/secret_box.h"
#include "keyd/tfa/tfa_service.h"
#include "shared/ipc/login_state.h"
#include "tests/unit/support/random_store_writes.h"

namespace refresher_delta_test {

using namespace portal;
namespace fs = std::filesystem;

namespace {

// Unpublishes invited members, members of roles that may not log in, and one name (a
// collision that comes and goes with the step number), as userdb planning would.
struct RecordingPublisher final : login::Publisher {
    std::string colliding;
    bool fail_plan = false;  // as when local accounts cannot be checked: the refresh fails after load
    std::shared_ptr<const ipc::LoginState> last;
    std::optional<std::unordered_set<std::string>> last_changed;
    login::PublicationPlan plan(ipc::LoginState& state) override {
        if (fail_plan) throw std::runtime_error("cannot check local accounts");
        for (auto& m : state.members) {
            const auto& roles = state.login_roles;
            if (m.status == MemberStatus::invited || std::find(roles.begin(), roles.end(), m.role) == roles.end() ||
                m.unix_name == colliding)
                m.published = false;
        }
        return {};
    }
    void publish(const std::shared_ptr<const ipc::LoginState>& state,
                 const std::unordered_set<std::string>* changed) override {
        last = state;
        last_changed = changed ? std::optional(*changed) : std::nullopt;
    }
};

// The store's view, but saying nothing about what changed: the refresher compares everything.
struct ForgetfulSource final : login::LoginStateSource {
    login::StoreLoginStateSource inner;
    ForgetfulSource(store::Store& s, const login::ViewSettings& v, login::StoreLoginStateSource::Clock c)
        : inner(s, v, std::move(c)) {}
    ipc::LoginState load() override { return inner.load(); }
    void set_settings(const login::ViewSettings& s) override { inner.set_settings(s); }
};

std::map<std::string, std::string> files_in(const fs::path& dir) {
    std::map<std::string, std::string> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        std::ifstream in(e.path());
        std::ostringstream s;
        s << in.rdbuf();
        out[e.path().filename().string()] = s.str();
    }
    return out;
}

struct Side {
    std::unique_ptr<login::LoginStateSource> source;
    login::LoginService service;
    RecordingPublisher publisher;
    std::vector<std::uint32_t> ended;
    fs::path state_dir, allowed;
    login::Refresher refresher;

    Side(boost::asio::io_context& io, store::Store& store, tfa::TfaService& tfa, std::unique_ptr<login::LoginStateSource> s,
         login::LoginService::Clock clock, const fs::path& dir)
        : source(std::move(s)),
          service(store, tfa, "h", clock),
          state_dir(dir / "login-state"),
          allowed(dir / "allowed.json"),
          refresher(io, *source, service, &publisher, [this](std::uint32_t uid) { ended.push_back(uid); },
                    settings()) {}
    login::RefresherSettings settings() const {
        login::RefresherSettings s;
        s.state_dir = state_dir;
        s.allowed_record = allowed;
        return s;
    }
};

}  // namespace

TEST_CASE("refresher: change sets give what comparing everything gives", "[refresher][login-view]") {
    // One random world under ASan (the checks are the same, ~5x slower), three otherwise.
#if defined(__SANITIZE_ADDRESS__)
    for (unsigned seed : {3u}) {
#else
    for (unsigned seed : {3u, 7u, 99u}) {
#endif
        INFO("seed " << seed);
        test::RandomWorld w(seed);
        const auto clock = [] { return std::chrono::system_clock::time_point(std::chrono::seconds(1'800'000'000)); };
        tfa::TfaService tfa(*w.store, SecretBox::load_or_create(w.dir.path() / "tfa.key"), {}, clock);
        const login::ViewSettings settings{w.followed.id, {Role::owner, Role::manager}, std::chrono::seconds(60)};
        boost::asio::io_context io;
        fs::create_directories(w.dir.path() / "delta");
        fs::create_directories(w.dir.path() / "full");
        Side delta(io, *w.store, tfa, std::make_unique<login::StoreLoginStateSource>(*w.store, settings, clock), clock,
                   w.dir.path() / "delta");
        Side full(io, *w.store, tfa, std::make_unique<ForgetfulSource>(*w.store, settings, clock), clock,
                  w.dir.path() / "full");
        std::shared_ptr<const ipc::LoginState> published_before;
        int with_change_set = 0;
        for (int i = 0; i < 150; ++i) {
            INFO("step " << i);
            const int writes = 1 + static_cast<int>(w.pick(3));
            for (int j = 0; j < writes; ++j) w.step();
            // A collision that appears and goes without any store write.
            const std::string colliding = i % 7 < 3 && !w.users.empty() ? "" : "u" + std::to_string(1 + i % 5);
            delta.publisher.colliding = full.publisher.colliding = colliding;
            // Now and then a refresh fails after loading: what it loaded must not be lost.
            const bool failing = i % 13 == 6;
            delta.publisher.fail_plan = full.publisher.fail_plan = failing;
            CHECK(delta.refresher.refresh() == !failing);
            CHECK(full.refresher.refresh() == !failing);
            if (failing) continue;

            CHECK(files_in(delta.state_dir) == files_in(full.state_dir));
            // And both hold exactly the state published: an entry per member, each the member's.
            const auto on_disk = files_in(delta.state_dir);
            REQUIRE(delta.publisher.last);
            CHECK(on_disk.size() == delta.publisher.last->members.size() + 1);  // + the header
            for (const auto& m : delta.publisher.last->members) {
                INFO(m.unix_name);
                auto it = on_disk.find(m.unix_name);
                REQUIRE(it != on_disk.end());
                std::string error;
                const auto entry = ipc::member_entry_from_json(it->second, error);
                REQUIRE(entry);
                CHECK(entry->member == m);
            }
            CHECK(fs::exists(delta.allowed));
            // The record (snapshot and journal) reads back as who is allowed, on both sides.
            std::string record_error;
            const auto delta_record = revoke::AllowedRecordFile(delta.allowed).read(record_error);
            INFO(record_error);
            REQUIRE(delta_record);
            auto allowed_now = revoke::allowed_members(*delta.publisher.last);
            std::sort(allowed_now.begin(), allowed_now.end(),
                      [](const auto& a, const auto& b) { return a.unix_name < b.unix_name; });
            CHECK(*delta_record == allowed_now);
            CHECK(revoke::AllowedRecordFile(full.allowed).read(record_error) == delta_record);
            CHECK(delta.ended == full.ended);
            REQUIRE(delta.publisher.last);
            CHECK(delta.publisher.last->members == full.publisher.last->members);
            CHECK(delta.publisher.last->revision == full.publisher.last->revision);
            if (published_before && delta.publisher.last_changed) {
                ++with_change_set;
                // Everyone who differs is in the change set (members who left may be too).
                for (const auto& name : login::differing_members(*published_before, *delta.publisher.last, nullptr))
                    if (delta.publisher.last->find(name)) CHECK(delta.publisher.last_changed->count(name) == 1);
            }
            published_before = delta.publisher.last;
        }
        CHECK(with_change_set > 100);  // the change sets were used, not the fallback
    }
}

TEST_CASE("refresher: differing_members walks both states in name order, or compares by index when unordered",
          "[refresher]") {
    auto member = [](std::string name, Role role, bool published = true) {
        ipc::LoginMember m;
        m.unix_name = std::move(name);
        m.user_id = "usr_" + m.unix_name;
        m.role = role;
        m.published = published;
        return m;
    };
    ipc::LoginState before, now;
    before.members = {member("alice", Role::owner), member("bob", Role::manager), member("carol", Role::manager)};
    now.members = {member("alice", Role::manager), member("bob", Role::manager, false), member("dave", Role::owner)};
    const std::unordered_set<std::string> all{"alice", "bob", "carol", "dave"};
    CHECK(login::differing_members(before, now, nullptr) == all);
    // Untouched members are compared on the published flag only: alice's role change is
    // not seen when the source did not name her.
    const std::unordered_set<std::string> touched{"carol", "dave"};
    CHECK(login::differing_members(before, now, &touched) == std::unordered_set<std::string>{"bob", "carol", "dave"});
    std::reverse(now.members.begin(), now.members.end());  // not in name order: the index path
    CHECK(login::differing_members(before, now, nullptr) == all);
    CHECK(login::differing_members(before, now, &touched) == std::unordered_set<std::string>{"bob", "carol", "dave"});

    const login::MemberLookup lookup(now);
    CHECK_FALSE(lookup.sorted());
    const auto only = login::only_named(now, lookup, {"dave", "alice", "zed"});
    REQUIRE(only.members.size() == 2);
    CHECK(only.members[0].unix_name == "alice");
    CHECK(only.members[1].unix_name == "dave");
}

}  // namespace refresher_delta_test
