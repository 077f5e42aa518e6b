#include <catch2/catch.hpp>

#include <stdlib.h>

#include <algorithm>
#include <ctime>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <set>
#include <string>

#include "keyd/userdb/local_accounts.h"
#include "keyd/userdb/publication.h"
#include "keyd/userdb/records.h"

namespace userdb_publication_test {

using namespace portal;
using namespace portal::userdb;
using portal::ipc::LoginMember;
using portal::ipc::LoginState;

namespace {

LoginMember member(std::string name, std::uint32_t uid, Role role = Role::manager,
                   MemberStatus status = MemberStatus::active, bool tfa = false) {
    LoginMember m;
    m.unix_name = std::move(name);
    m.uid = uid;
    m.user_id = "usr_" + m.unix_name;
    m.role = role;
    m.status = status;
    m.tfa_enabled = tfa;
    m.published = false;
    m.keys = {{"ssh-ed25519 AAAA " + m.unix_name, "SHA256:x"}};
    return m;
}

struct Locals {
    std::set<std::string> names{"root", "sudo", "localbob"};
    std::set<std::uint32_t> ids{0, 27, 1000};
    auto name_check() const {
        return [this](std::string_view n) { return names.count(std::string(n)) > 0; };
    }
    auto id_check() const {
        return [this](std::uint32_t id) { return ids.count(id) > 0; };
    }
};

const LoginMember& find(const PublishPlan& plan, const std::string& name) {
    auto it = std::find_if(plan.state.members.begin(), plan.state.members.end(),
                           [&](const LoginMember& m) { return m.unix_name == name; });
    REQUIRE(it != plan.state.members.end());
    return *it;
}

bool has_warning(const PublishPlan& plan, const std::string& text) {
    return std::find(plan.warnings.begin(), plan.warnings.end(), text) != plan.warnings.end();
}

}  // namespace

TEST_CASE("userdb plan: who is published by status and role", "[userdb]") {
    LoginState s;
    s.members = {member("alice", 200001, Role::owner, MemberStatus::active, true), member("bob", 200002),
                 member("carol", 200003, Role::manager, MemberStatus::invited),
                 member("dave", 200004, Role::owner, MemberStatus::deactivated),
                 member("erin", 200005, Role::support)};
    Locals locals;
    const auto plan = plan_publication(s, UserdbConfig{}, locals.name_check(), locals.id_check());
    CHECK(find(plan, "alice").published);
    CHECK(find(plan, "bob").published);
    CHECK_FALSE(find(plan, "carol").published);  // invited: not yet a user
    CHECK(find(plan, "dave").published);         // deactivated: published locked until removed
    CHECK_FALSE(find(plan, "erin").published);   // support may not log in by default
    CHECK(plan.warnings.empty());
    // The rest of the state is kept.
    CHECK(plan.state.members.size() == 5);
    CHECK(find(plan, "alice").keys.size() == 1);

    s.login_roles = {Role::owner, Role::manager, Role::support};
    CHECK_FALSE(find(plan_publication(s, UserdbConfig{}, locals.name_check(), locals.id_check()), "erin").published);
    // Support staff only within their grant (the login rules' access window).
    s.members[4].access_until = static_cast<std::int64_t>(::time(nullptr)) + 3600;
    CHECK(find(plan_publication(s, UserdbConfig{}, locals.name_check(), locals.id_check()), "erin").published);
    s.members[4].access_until = static_cast<std::int64_t>(::time(nullptr)) - 1;
    CHECK_FALSE(find(plan_publication(s, UserdbConfig{}, locals.name_check(), locals.id_check()), "erin").published);
}

TEST_CASE("userdb plan: under enforce_2fa members without 2FA stay published, in the 2FA group", "[userdb]") {
    LoginState s;
    s.enforce_2fa = true;
    s.members = {member("alice", 200001, Role::owner, MemberStatus::active, true), member("bob", 200002)};
    Locals locals;
    const auto plan = plan_publication(s, UserdbConfig{}, locals.name_check(), locals.id_check());
    CHECK(find(plan, "alice").published);
    // bob must pass the second factor, where pam_portal.so refuses him and says to enrol.
    CHECK(find(plan, "bob").published);
    const auto groups = member_groups(find(plan, "bob"), plan.state, UserdbConfig{});
    CHECK(std::find(groups.begin(), groups.end(), "portal-2fa") != groups.end());
}

TEST_CASE("userdb plan: local names and ids are never taken", "[userdb]") {
    LoginState s;
    s.members = {member("localbob", 200001), member("ann", 1000), member("ok", 200003)};
    Locals locals;
    const auto plan = plan_publication(s, UserdbConfig{}, locals.name_check(), locals.id_check());
    CHECK_FALSE(find(plan, "localbob").published);
    CHECK_FALSE(find(plan, "ann").published);
    CHECK(find(plan, "ok").published);
    CHECK(has_warning(plan, "localbob: name exists locally"));
    CHECK(has_warning(plan, "ann: uid 1000 exists locally"));
    CHECK(plan.warnings.size() == 2);
    // The same, per member, for a status API.
    REQUIRE(plan.refused.size() == 2);
    CHECK(plan.refused[0].unix_name == "localbob");
    CHECK(plan.refused[0].uid == 200001u);
    CHECK(plan.refused[0].user_id == find(plan, "localbob").user_id);
    CHECK(plan.refused[0].reason == "name exists locally");
    CHECK(plan.refused[1].unix_name == "ann");
    CHECK(plan.refused[1].reason == "uid 1000 exists locally");
}

TEST_CASE("userdb plan: reserved or invalid or duplicate names and ids", "[userdb]") {
    LoginState s;
    s.members = {member("sshd", 200001),      member("portal-x", 200002), member("Bad/Name", 200003),
                 member("zero", 0),           member("neg", 65535),       member("first", 200010),
                 member("second", 200010),    member("first", 200011)};
    Locals locals;
    locals.names.clear();
    locals.ids.clear();
    const auto plan = plan_publication(s, UserdbConfig{}, locals.name_check(), locals.id_check());
    CHECK(has_warning(plan, "sshd: name is reserved"));
    CHECK(has_warning(plan, "portal-x: name is reserved"));
    CHECK(has_warning(plan, "Bad/Name: not a valid user name"));
    CHECK(has_warning(plan, "zero: uid 0 cannot be used"));
    CHECK(has_warning(plan, "neg: uid 65535 cannot be used"));
    CHECK(has_warning(plan, "second: uid 200010 is already used by another member"));
    CHECK(has_warning(plan, "first: name is already used by another member"));
    const auto published = std::count_if(plan.state.members.begin(), plan.state.members.end(),
                                         [](const LoginMember& m) { return m.published; });
    CHECK(published == 1);
    CHECK(plan.state.members[5].published);   // the first holder keeps the uid and name
    CHECK_FALSE(plan.state.members[7].published);
}

TEST_CASE("userdb plan: ineligible members are not checked and give no warning", "[userdb]") {
    LoginState s;
    s.members = {member("localbob", 1000, Role::manager, MemberStatus::invited)};
    Locals locals;
    int calls = 0;
    auto names = [&](std::string_view n) { return ++calls, locals.names.count(std::string(n)) > 0; };
    const auto plan = plan_publication(s, UserdbConfig{}, names, locals.id_check());
    CHECK_FALSE(plan.state.members[0].published);
    CHECK(plan.warnings.empty());
    CHECK(calls == 2);  // the role group and the 2FA group only
}

TEST_CASE("userdb plan: groups", "[userdb]") {
    LoginState s;
    s.members = {member("alice", 200001, Role::owner, MemberStatus::active, true), member("bob", 200002),
                 member("gid", 59990)};
    Locals locals;
    UserdbConfig cfg;
    cfg.role_groups = {{Role::owner, {"sudo", "wheel"}}};

    SECTION("a missing role group is a warning, nothing more") {
        const auto plan = plan_publication(s, cfg, locals.name_check(), locals.id_check());
        CHECK(has_warning(plan, "wheel: group does not exist locally; role owner gets no membership in it"));
        CHECK(find(plan, "alice").published);
    }
    SECTION("the served 2FA group's gid is not given to a member") {
        const auto plan = plan_publication(s, cfg, locals.name_check(), locals.id_check());
        CHECK_FALSE(find(plan, "gid").published);
        CHECK(has_warning(plan, "gid: uid 59990 is the gid of group portal-2fa"));
    }
    SECTION("a local 2FA group frees that gid") {
        locals.names.insert("portal-2fa");
        const auto plan = plan_publication(s, cfg, locals.name_check(), locals.id_check());
        CHECK(find(plan, "gid").published);
    }
    SECTION("2FA group impossible: members with 2FA are not published (fail closed)") {
        locals.ids.insert(59990);
        const auto plan = plan_publication(s, cfg, locals.name_check(), locals.id_check());
        CHECK_FALSE(find(plan, "alice").published);
        CHECK(find(plan, "bob").published);
        CHECK(has_warning(plan, "portal-2fa: gid 59990 exists locally under another name; members with 2FA are not published"));
        CHECK(has_warning(plan, "alice: group portal-2fa cannot be published"));
    }
}

TEST_CASE("userdb plan: the real local checks see the machine's own users", "[userdb]") {
    UserdbConfig cfg;
    auto names = local_name_check(cfg);
    auto ids = local_id_check(cfg);
    CHECK(names("root"));
    CHECK(ids(0));
    CHECK_FALSE(names("portalnouser9q"));
    CHECK_FALSE(ids(3999999));
    CHECK(local_group_exists(cfg, "root"));
    CHECK_FALSE(local_group_exists(cfg, "portalnogroup9q"));
    // Our own provider is bypassed for this process's lookups.
    const char* bypass = std::getenv("SYSTEMD_BYPASS_USERDB");
    REQUIRE(bypass);
    CHECK(std::string(bypass).find(cfg.service) != std::string::npos);

    // The generation that lets a plan carry verdicts over: still while nothing changed, moved
    // when told of a change.
    const auto before = local_accounts_generation();
    CHECK(names("root"));
    CHECK(ids(0));
    CHECK(local_accounts_generation() == before);
    local_accounts_changed();
    CHECK(local_accounts_generation() != before);
}

TEST_CASE("userdb: local accounts are listed only when every NSS source of passwd and group can list them",
          "[userdb]") {
    char tmpl[] = "/tmp/portal-nsswitch-XXXXXX";
    REQUIRE(::mkdtemp(tmpl));
    const std::filesystem::path dir = tmpl;
    const auto conf = [&](const std::string& text) {
        const auto p = dir / "nsswitch.conf";
        std::ofstream(p) << text;
        return p;
    };
    CHECK(nss_sources_enumerable(conf("passwd:         files systemd\ngroup:          files systemd\n"
                                      "shadow: files ldap\nnetgroup:       nis\n")));
    CHECK(nss_sources_enumerable(conf("# passwd: ldap\npasswd: files [NOTFOUND=return] systemd # ldap\ngroup: files\n")));
    CHECK(nss_sources_enumerable(dir / "missing"));  // glibc's default: files
    CHECK_FALSE(nss_sources_enumerable(conf("passwd: files systemd\ngroup: files sss systemd\n")));
    CHECK_FALSE(nss_sources_enumerable(conf("passwd: compat\ngroup: files\n")));
    CHECK_FALSE(nss_sources_enumerable(conf("  passwd:\tfiles ldap [UNAVAIL = return] systemd\n")));
    std::filesystem::remove_all(dir);
}

TEST_CASE("userdb plan: a member whose uid is outside this server's [users] range is not published", "[userdb]") {
    LoginState s;
    s.members = {member("inside", 200005), member("below", 1500), member("above", 300000)};
    Locals locals;
    UserdbConfig cfg;
    cfg.uid_min = 200000;
    cfg.uid_max = 299999;
    const auto plan = plan_publication(s, cfg, locals.name_check(), locals.id_check());
    CHECK(find(plan, "inside").published);
    CHECK_FALSE(find(plan, "below").published);
    CHECK_FALSE(find(plan, "above").published);
    CHECK(has_warning(plan, "above: uid 300000 is outside this server's [users] uid range"));
}

TEST_CASE("userdb plan: carried over from the previous plan, it is the plan made from scratch", "[userdb][login-view]") {
    // Random changes to a sorted account (roles, status, 2FA, uids, support windows, members
    // coming and going, Enforce 2FA, duplicated uids); each plan carried over from the last
    // one must equal a plan that judges everyone. The local accounts stay the same (the
    // publisher carries over only while their answers are).
    for (unsigned seed : {20261203u, 7u, 99u}) {
    INFO("seed " << seed);
    std::mt19937 rng(seed);
    auto pick = [&](std::size_t n) { return static_cast<std::size_t>(rng() % n); };
    const std::vector<std::string> pool{"admin", "alice", "bob", "carol", "dave", "erin", "frank", "localbob",
                                        "mallory", "sudo", "trent", "victor", "walter", "zoe"};
    UserdbConfig cfg;
    cfg.uid_min = 200000;
    cfg.uid_max = 299999;
    Locals locals;
    const auto names = locals.name_check();
    const auto ids = locals.id_check();
    const auto now = static_cast<std::int64_t>(std::time(nullptr));
    std::map<std::string, LoginMember> account;
    // Each name its own uid, now and then another's (a duplicate), a local one or one outside the range.
    auto a_uid = [&](const std::string& name) {
        const auto own = static_cast<std::uint32_t>(std::find(pool.begin(), pool.end(), name) - pool.begin());
        switch (pick(20)) {
            case 0: return 200000u + static_cast<std::uint32_t>(pick(pool.size()));
            case 1: return 1000u;
            case 2: return 300001u;
            default: return 200000u + own;
        }
    };
    auto random_member = [&](const std::string& name) {
        LoginMember m = member(name, a_uid(name), static_cast<Role>(pick(3)), static_cast<MemberStatus>(pick(3)),
                               pick(2) == 0);
        if (m.role == Role::support) m.access_until = now + (pick(2) ? 3600 : -3600);
        return m;
    };
    for (std::size_t i = 0; i < 8; ++i) account[pool[i]] = random_member(pool[i]);
    LoginState last;
    std::vector<Refusal> last_refused;
    bool last_shared = false, have_last = false;
    int carried_plans = 0;
    for (int step = 0; step < 400; ++step) {
        INFO("step " << step);
        const std::string& name = pool[pick(pool.size())];
        switch (pick(6)) {
            case 0: account.erase(name); break;
            case 1: account[name] = random_member(name); break;
            default:
                if (auto it = account.find(name); it != account.end()) {
                    auto& m = it->second;
                    switch (pick(4)) {
                        case 0: m.role = static_cast<Role>(pick(3)); break;
                        case 1: m.status = static_cast<MemberStatus>(pick(3)); break;
                        case 2: m.tfa_enabled = !m.tfa_enabled; break;
                        default: m.uid = a_uid(name); break;
                    }
                    m.access_until = m.role == Role::support ? std::optional<std::int64_t>(now + 3600) : std::nullopt;
                }
        }
        LoginState state;
        state.login_roles = {Role::owner, Role::manager};
        state.enforce_2fa = step % 50 >= 40;
        for (const auto& [n, m] : account) state.members.push_back(m);

        const PublishPlan full = plan_publication(state, cfg, names, ids);
        const PlanBasis basis{last, last_refused, last_shared};
        const PublishPlan inc = plan_publication(state, cfg, names, ids, have_last ? &basis : nullptr);
        REQUIRE(inc.state.members.size() == full.state.members.size());
        for (std::size_t i = 0; i < full.state.members.size(); ++i) {
            INFO(full.state.members[i].unix_name);
            CHECK(inc.state.members[i] == full.state.members[i]);
        }
        CHECK(inc.warnings == full.warnings);
        REQUIRE(inc.refused.size() == full.refused.size());
        for (std::size_t i = 0; i < full.refused.size(); ++i) {
            CHECK(inc.refused[i].unix_name == full.refused[i].unix_name);
            CHECK(inc.refused[i].uid == full.refused[i].uid);
            CHECK(inc.refused[i].user_id == full.refused[i].user_id);
            CHECK(inc.refused[i].reason == full.refused[i].reason);
        }
        if (inc.carried > 0) ++carried_plans;
        CHECK(full.carried == 0);
        last = inc.state;
        last_refused = inc.refused;
        last_shared = inc.shared;
        have_last = true;
    }
    CHECK(carried_plans > 100);  // most plans carried verdicts over
    }
}

}  // namespace userdb_publication_test
