#include "keyd/userdb/user_database.h"

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <optional>
#include <set>
#include <unordered_set>
#include <utility>

#include <nlohmann/json.hpp>

#include "keyd/userdb/records.h"
#include "shared/ipc/framing.h"

namespace portal::userdb {

using nlohmann::json;

// --- the snapshot ----------------------------------------------------------------------

std::shared_ptr<const Database> Database::build(const ipc::LoginState& planned, const UserdbConfig& cfg,
                                                const std::function<bool(std::string_view)>& group_exists_locally,
                                                const std::function<bool(std::uint32_t)>& gid_exists_locally,
                                                const Database* previous,
                                                const std::unordered_set<std::string>* changed) {
    auto db = std::make_shared<Database>();
    db->service_ = cfg.service;

    // Which group names resolve: local ones, and the 2FA group that we serve ourselves.
    std::set<std::string> resolvable;
    for (const auto& [role, groups] : cfg.role_groups)
        for (const auto& g : groups)
            if (group_exists_locally(g)) resolvable.insert(g);
    if (!cfg.tfa_group.empty()) {
        if (group_exists_locally(cfg.tfa_group)) {
            resolvable.insert(cfg.tfa_group);
        } else if (!gid_exists_locally(cfg.tfa_group_gid)) {
            resolvable.insert(cfg.tfa_group);
            db->groups_.push_back({cfg.tfa_group, static_cast<std::uint32_t>(cfg.tfa_group_gid), true});
        }
    }

    // Published members, one per name and per uid (the plan refuses duplicates; the first in
    // the plan's order wins here too), taken in name order.
    std::vector<const ipc::LoginMember*> members;
    members.reserve(planned.members.size());
    for (const auto& m : planned.members)
        if (m.published) members.push_back(&m);
    // The usual case, checked cheaply: the plan's members come in name order (the login
    // view's), no name or uid twice. Only otherwise are they sorted and deduplicated.
    bool ordered_and_unique = true;
    for (std::size_t i = 1; i < members.size() && ordered_and_unique; ++i)
        ordered_and_unique = members[i - 1]->unix_name < members[i]->unix_name;
    if (ordered_and_unique) {
        std::vector<std::uint32_t> uids;
        uids.reserve(members.size());
        for (const auto* m : members) uids.push_back(m->uid);
        std::sort(uids.begin(), uids.end());
        ordered_and_unique = std::adjacent_find(uids.begin(), uids.end()) == uids.end();
    }
    if (!ordered_and_unique) {
        std::vector<std::size_t> order(members.size()), drop;
        for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
        auto mark_duplicates = [&](auto same, auto less) {
            std::stable_sort(order.begin(), order.end(), less);
            for (std::size_t i = 1; i < order.size(); ++i)
                if (same(order[i - 1], order[i])) drop.push_back(std::max(order[i - 1], order[i]));
        };
        mark_duplicates([&](auto a, auto b) { return members[a]->uid == members[b]->uid; },
                        [&](auto a, auto b) { return members[a]->uid < members[b]->uid; });
        mark_duplicates([&](auto a, auto b) { return members[a]->unix_name == members[b]->unix_name; },
                        [&](auto a, auto b) { return members[a]->unix_name < members[b]->unix_name; });
        if (!drop.empty()) {
            std::sort(drop.begin(), drop.end());
            std::vector<const ipc::LoginMember*> kept;
            for (std::size_t i = 0; i < members.size(); ++i)
                if (!std::binary_search(drop.begin(), drop.end(), i)) kept.push_back(members[i]);
            members = std::move(kept);
        }
        std::stable_sort(members.begin(), members.end(),
                         [](const auto* a, const auto* b) { return a->unix_name < b->unix_name; });
    }

    // The groups served before the per-user ones (the 2FA group): a per-user group never
    // takes their name or gid.
    const std::size_t served = db->groups_.size();
    auto group_taken = [&](const std::string& name, std::uint32_t gid) {
        for (std::size_t i = 0; i < served; ++i)
            if (db->groups_[i].name == name || db->groups_[i].gid == gid) return true;
        return false;
    };
    // `previous`'s users are in name order, as `members` now: one forward walk finds them all
    // (a binary search per member was most of a rebuild's string comparisons).
    std::size_t walk = 0;
    auto previous_user = [&](const std::string& name) -> const User* {
        const auto& had = previous->users_;
        while (walk < had.size() && had[walk].name < name) ++walk;
        return walk < had.size() && had[walk].name == name ? &had[walk] : nullptr;
    };
    db->users_.reserve(members.size());
    db->groups_.reserve(served + members.size());
    for (const ipc::LoginMember* mp : members) {
        const auto& m = *mp;
        // An unchanged member's records as `previous` has them (same name and uid: its
        // per-user group then is the same too).
        const User* kept = previous && changed && !changed->count(m.unix_name) ? previous_user(m.unix_name) : nullptr;
        if (kept && kept->uid != m.uid) kept = nullptr;
        User u{m.unix_name, m.uid, {}, {}};
        if (kept) {
            u.public_json = kept->public_json;
            u.privileged_json = kept->privileged_json;
        } else {
            auto texts = user_record_texts(m, cfg);
            u.public_json = SharedText(std::move(texts.public_text));
            if (!texts.privileged_text.empty()) u.privileged_json = SharedText(std::move(texts.privileged_text));
        }
        db->users_.push_back(std::move(u));
        if (!group_taken(m.unix_name, m.uid)) db->groups_.push_back({m.unix_name, m.uid, false});
        const std::size_t first_membership = db->memberships_.size();
        for (auto& g : member_groups(m, planned, cfg))
            if (resolvable.count(g)) db->memberships_.push_back({m.unix_name, std::move(g)});
        std::sort(db->memberships_.begin() + static_cast<std::ptrdiff_t>(first_membership), db->memberships_.end(),
                  [](const Membership& a, const Membership& b) { return a.group < b.group; });
    }
    // The per-user groups came in name order; only the few served before them (the 2FA group)
    // need their place.
    const auto by_group_name = [](const Group& a, const Group& b) { return a.name < b.name; };
    std::sort(db->groups_.begin(), db->groups_.begin() + static_cast<std::ptrdiff_t>(served), by_group_name);
    if (std::is_sorted(db->groups_.begin() + static_cast<std::ptrdiff_t>(served), db->groups_.end(), by_group_name))
        std::inplace_merge(db->groups_.begin(), db->groups_.begin() + static_cast<std::ptrdiff_t>(served),
                           db->groups_.end(), by_group_name);
    else
        std::stable_sort(db->groups_.begin(), db->groups_.end(), by_group_name);

    auto id_index = [](const auto& items, auto id_of) {
        IdIndex index;
        index.reserve(items.size());
        for (std::size_t i = 0; i < items.size(); ++i) index.emplace_back(id_of(items[i]), i);
        std::sort(index.begin(), index.end());
        return index;
    };
    // A change that added or removed nobody leaves every id at its place: the previous
    // indexes hold as they are (no sort of 10,000 ids per change).
    auto same_ids = [](const auto& now, const auto& before, auto id_of) {
        if (now.size() != before.size()) return false;
        for (std::size_t i = 0; i < now.size(); ++i)
            if (id_of(now[i]) != id_of(before[i])) return false;
        return true;
    };
    const auto uid_of = [](const User& u) { return u.uid; };
    const auto gid_of = [](const Group& g) { return g.gid; };
    db->user_by_uid_ = previous && same_ids(db->users_, previous->users_, uid_of) ? previous->user_by_uid_
                                                                                 : id_index(db->users_, uid_of);
    db->group_by_gid_ = previous && same_ids(db->groups_, previous->groups_, gid_of) ? previous->group_by_gid_
                                                                                    : id_index(db->groups_, gid_of);
    for (std::size_t i = 0; i < db->memberships_.size(); ++i) {
        const std::string& g = db->memberships_[i].group;
        auto it = std::find_if(db->by_group_.begin(), db->by_group_.end(), [&](const auto& e) { return e.first == g; });
        if (it == db->by_group_.end()) it = db->by_group_.insert(db->by_group_.end(), {g, {}});
        it->second.push_back(i);
    }
    return db;
}

namespace {
template <typename Vec>
auto by_name(const Vec& vec, std::string_view name) -> decltype(&vec[0]) {
    auto it = std::lower_bound(vec.begin(), vec.end(), name, [](const auto& x, std::string_view n) { return x.name < n; });
    return it != vec.end() && it->name == name ? &*it : nullptr;
}
template <typename Index, typename Vec>
auto by_id(const Index& index, std::uint32_t id, const Vec& vec) -> decltype(&vec[0]) {
    auto it = std::lower_bound(index.begin(), index.end(), std::pair<std::uint32_t, std::size_t>{id, 0});
    return it != index.end() && it->first == id ? &vec[it->second] : nullptr;
}
}  // namespace

const Database::User* Database::user_by_name(std::string_view n) const { return by_name(users_, n); }
const Database::User* Database::user_by_uid(std::uint32_t uid) const { return by_id(user_by_uid_, uid, users_); }
const Database::Group* Database::group_by_name(std::string_view n) const { return by_name(groups_, n); }
const Database::Group* Database::group_by_gid(std::uint32_t gid) const { return by_id(group_by_gid_, gid, groups_); }
std::vector<std::size_t> Database::memberships_of_user(std::string_view n) const {
    auto first = std::lower_bound(memberships_.begin(), memberships_.end(), n,
                                  [](const Membership& x, std::string_view name) { return x.user < name; });
    std::vector<std::size_t> out;
    for (auto it = first; it != memberships_.end() && it->user == n; ++it)
        out.push_back(static_cast<std::size_t>(it - memberships_.begin()));
    return out;
}
const std::vector<std::size_t>* Database::memberships_of_group(std::string_view n) const {
    auto it = std::find_if(by_group_.begin(), by_group_.end(), [&](const auto& e) { return e.first == n; });
    return it == by_group_.end() ? nullptr : &it->second;
}
std::string Database::group_json(const Group& g) const {
    return dump(group_record(g.name, g.gid, service_));
}
std::string Database::membership_json(const Membership& m) {
    return dump(json{{"userName", m.user}, {"groupName", m.group}});
}

// --- replies ---------------------------------------------------------------------------

namespace {

constexpr std::string_view kErrNoRecord = "io.systemd.UserDatabase.NoRecordFound";
constexpr std::string_view kErrBadService = "io.systemd.UserDatabase.BadService";
constexpr std::string_view kErrConflicting = "io.systemd.UserDatabase.ConflictingRecordFound";
constexpr std::string_view kErrNonMatching = "io.systemd.UserDatabase.NonMatchingRecordFound";
constexpr std::string_view kErrMethodNotFound = "org.varlink.service.MethodNotFound";
constexpr std::string_view kErrInvalidParameter = "org.varlink.service.InvalidParameter";
constexpr std::string_view kErrExpectedMore = "org.varlink.service.ExpectedMore";
constexpr std::string_view kErrInterfaceNotFound = "org.varlink.service.InterfaceNotFound";
constexpr std::string_view kErrSystem = "io.systemd.System";

constexpr std::string_view kInterfaceDescription = R"(interface io.systemd.UserDatabase

method GetUserRecord(uid : ?int, userName : ?string, fuzzyNames : ?[]string, dispositionMask : ?[]string, uidMin : ?int, uidMax : ?int, service : string) -> (record : object, incomplete : ?bool)
method GetGroupRecord(gid : ?int, groupName : ?string, fuzzyNames : ?[]string, dispositionMask : ?[]string, gidMin : ?int, gidMax : ?int, service : string) -> (record : object, incomplete : ?bool)
method GetMemberships(userName : ?string, groupName : ?string, service : string) -> (userName : string, groupName : string)

error NoRecordFound()
error BadService()
error ServiceNotAvailable()
error ConflictingRecordFound()
error NonMatchingRecordFound()
error EnumerationNotSupported()
)";

std::string error_message(std::string_view error, json parameters = json::object()) {
    return ipc::encode_message(json{{"error", error}, {"parameters", std::move(parameters)}});
}
std::string invalid_parameter(std::string_view name) { return error_message(kErrInvalidParameter, {{"parameter", name}}); }

// Typed views of the request parameters; a wrong type yields InvalidParameter for that name.
struct Params {
    const json& p;
    std::string bad;  // first ill-typed parameter

    bool present(const char* key) const {
        auto it = p.find(key);
        return it != p.end() && !it->is_null();
    }
    std::optional<std::string> str(const char* key) {
        if (!present(key)) return std::nullopt;
        const auto& v = p.at(key);
        if (!v.is_string()) return mark(key), std::nullopt;
        return v.get<std::string>();
    }
    std::optional<std::uint32_t> id(const char* key) {
        if (!present(key)) return std::nullopt;
        const auto& v = p.at(key);
        if (!v.is_number_unsigned() || v.get<std::uint64_t>() > UINT32_MAX) return mark(key), std::nullopt;
        return static_cast<std::uint32_t>(v.get<std::uint64_t>());
    }
    std::optional<std::vector<std::string>> strings(const char* key) {
        if (!present(key)) return std::nullopt;
        const auto& v = p.at(key);
        if (!v.is_array()) return mark(key), std::nullopt;
        std::vector<std::string> out;
        for (const auto& e : v) {
            if (!e.is_string()) return mark(key), std::nullopt;
            out.push_back(e.get<std::string>());
        }
        return out;
    }
    void mark(const char* key) {
        if (bad.empty()) bad = key;
    }
    // The first key not in `allowed`.
    std::string unknown(std::initializer_list<std::string_view> allowed) const {
        for (const auto& [k, v] : p.items())
            if (std::find(allowed.begin(), allowed.end(), k) == allowed.end()) return k;
        return {};
    }
};

std::string lower(std::string_view s) {
    std::string out(s);
    for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

// Secondary filters (optional per the API; supported here because they are cheap).
struct Filters {
    std::optional<std::vector<std::string>> fuzzy, dispositions;
    std::optional<std::uint32_t> min, max;
    bool matches(std::string_view name, std::uint32_t id) const {
        if (min && id < *min) return false;
        if (max && id > *max) return false;
        if (dispositions && std::find(dispositions->begin(), dispositions->end(), "regular") == dispositions->end())
            return false;
        if (fuzzy) {
            const std::string n = lower(name);
            if (std::none_of(fuzzy->begin(), fuzzy->end(),
                             [&](const std::string& f) { return n.find(lower(f)) != std::string::npos; }))
                return false;
        }
        return true;
    }
};

}  // namespace

bool ReplyStream::done() const {
    return kind_ == Kind::fixed ? fixed_.empty() : next_ >= items_.size();
}

bool ReplyStream::fill(std::string& out, std::size_t chunk) {
    if (kind_ == Kind::fixed) {
        out += fixed_;
        fixed_.clear();
        return false;
    }
    while (next_ < items_.size() && out.size() < chunk) {
        const std::size_t i = items_[next_++];
        const bool last = next_ == items_.size();
        out += R"({"parameters":)";
        switch (kind_) {
            case Kind::users: {
                const auto& u = db_->users()[i];
                const bool has_priv = !u.privileged_json.empty();
                const bool show = has_priv && (peer_uid_ == 0 || peer_uid_ == u.uid);
                out += R"({"record":)";
                out += show ? u.privileged_json.str() : u.public_json.str();
                out += has_priv && !show ? R"(,"incomplete":true})" : R"(,"incomplete":false})";
                break;
            }
            case Kind::groups:
                out += R"({"record":)";
                out += db_->group_json(db_->groups()[i]);
                out += R"(,"incomplete":false})";
                break;
            case Kind::memberships: out += Database::membership_json(db_->memberships()[i]); break;
            case Kind::fixed: break;
        }
        if (continues_ && !last) out += R"(,"continues":true)";
        out += '}';
        out += '\0';
    }
    return next_ < items_.size();
}

ReplyStream request_too_large() {
    ReplyStream r;
    r.fixed_ = error_message(kErrSystem, {{"errno", EMSGSIZE}});
    r.close_after_ = true;
    return r;
}

ReplyStream handle_request(std::shared_ptr<const Database> db, std::string_view message, std::uint32_t peer_uid) {
    ReplyStream r;
    auto fixed = [&r](std::string reply, bool close = false) {
        r.kind_ = ReplyStream::Kind::fixed;
        r.items_.clear();
        r.fixed_ = std::move(reply);
        r.close_after_ = close;
        return std::move(r);
    };
    auto protocol_error = [&](int err) { return fixed(error_message(kErrSystem, {{"errno", err}}), true); };

    std::string parse_error;
    auto req = ipc::parse_message(message, parse_error);
    if (!req) return protocol_error(EBADMSG);
    auto method_it = req->find("method");
    if (method_it == req->end() || !method_it->is_string()) return protocol_error(EBADMSG);
    const std::string method = method_it->get<std::string>();
    bool more = false, oneway = false, upgrade = false;
    for (auto [key, flag] : {std::pair{"more", &more}, std::pair{"oneway", &oneway}, std::pair{"upgrade", &upgrade}}) {
        auto it = req->find(key);
        if (it == req->end() || it->is_null()) continue;
        if (!it->is_boolean()) return protocol_error(EBADMSG);
        *flag = it->get<bool>();
    }
    if (upgrade) return protocol_error(EOPNOTSUPP);  // no protocol upgrades here
    static const json kNoParameters = json::object();
    auto params_it = req->find("parameters");
    if (params_it != req->end() && !params_it->is_null() && !params_it->is_object()) return protocol_error(EBADMSG);
    const json& params = params_it != req->end() && params_it->is_object() ? *params_it : kNoParameters;

    // One reply for a oneway call is none at all.
    auto reply = [&](std::string encoded) { return fixed(oneway ? std::string() : std::move(encoded)); };

    const std::string prefix = std::string(kInterface) + ".";
    if (method == "org.varlink.service.GetInfo") {
        return reply(ipc::encode_message(
            json{{"parameters",
                  {{"vendor", "portal-keyd"},
                   {"product", "portal-keyd"},
                   {"version", "1"},
                   {"url", ""},
                   {"interfaces", {"org.varlink.service", kInterface}}}}}));
    }
    if (method == "org.varlink.service.GetInterfaceDescription") {
        Params p{params, {}};
        auto iface = p.str("interface");
        if (!p.bad.empty() || !iface) return reply(invalid_parameter("interface"));
        if (*iface != kInterface) return reply(error_message(kErrInterfaceNotFound, {{"interface", *iface}}));
        return reply(ipc::encode_message(json{{"parameters", {{"description", kInterfaceDescription}}}}));
    }
    if (method.rfind(prefix, 0) != 0) return reply(error_message(kErrMethodNotFound, {{"method", method}}));
    const std::string name = method.substr(prefix.size());

    if (!db) return reply(error_message("io.systemd.UserDatabase.ServiceNotAvailable"));
    Params p{params, {}};
    auto check_service = [&]() -> std::optional<std::string> {
        auto service = p.str("service");
        if (!p.bad.empty()) return invalid_parameter(p.bad);
        if (!service || *service != db->service()) return error_message(kErrBadService);
        return std::nullopt;
    };

    r.db_ = db;
    r.peer_uid_ = peer_uid;
    r.continues_ = more;

    if (name == "GetUserRecord" || name == "GetGroupRecord") {
        const bool users = name == "GetUserRecord";
        const char* id_key = users ? "uid" : "gid";
        const char* name_key = users ? "userName" : "groupName";
        const char* min_key = users ? "uidMin" : "gidMin";
        const char* max_key = users ? "uidMax" : "gidMax";
        if (auto k = p.unknown({id_key, name_key, "service", "fuzzyNames", "dispositionMask", min_key, max_key});
            !k.empty())
            return reply(invalid_parameter(k));
        const auto id = p.id(id_key);
        const auto key_name = p.str(name_key);
        Filters f{p.strings("fuzzyNames"), p.strings("dispositionMask"), p.id(min_key), p.id(max_key)};
        if (auto err = check_service()) return reply(std::move(*err));

        auto find_name = [&](const std::string& n) -> std::optional<std::size_t> {
            if (users) {
                const auto* u = db->user_by_name(n);
                return u ? std::optional(static_cast<std::size_t>(u - db->users().data())) : std::nullopt;
            }
            const auto* g = db->group_by_name(n);
            return g ? std::optional(static_cast<std::size_t>(g - db->groups().data())) : std::nullopt;
        };
        auto find_id = [&](std::uint32_t i) -> std::optional<std::size_t> {
            if (users) {
                const auto* u = db->user_by_uid(i);
                return u ? std::optional(static_cast<std::size_t>(u - db->users().data())) : std::nullopt;
            }
            const auto* g = db->group_by_gid(i);
            return g ? std::optional(static_cast<std::size_t>(g - db->groups().data())) : std::nullopt;
        };
        auto name_of = [&](std::size_t i) -> const std::string& {
            return users ? db->users()[i].name : db->groups()[i].name;
        };
        auto id_of = [&](std::size_t i) { return users ? db->users()[i].uid : db->groups()[i].gid; };
        r.kind_ = users ? ReplyStream::Kind::users : ReplyStream::Kind::groups;

        if (id || key_name) {  // a look-up: one record
            std::optional<std::size_t> by_id = id ? find_id(*id) : std::nullopt;
            std::optional<std::size_t> by_name = key_name ? find_name(*key_name) : std::nullopt;
            if (id && key_name && (by_id || by_name) && by_id != by_name) return reply(error_message(kErrConflicting));
            const auto hit = by_id ? by_id : by_name;
            if (!hit) return reply(error_message(kErrNoRecord));
            if (!f.matches(name_of(*hit), id_of(*hit))) return reply(error_message(kErrNonMatching));
            r.items_ = {*hit};
        } else {  // an enumeration: only what has no drop-in (see Database::build)
            if (!more) return reply(error_message(kErrExpectedMore));
            if (!users)
                for (std::size_t i = 0; i < db->groups().size(); ++i)
                    if (db->groups()[i].listed && f.matches(name_of(i), id_of(i))) r.items_.push_back(i);
            if (r.items_.empty()) return reply(error_message(kErrNoRecord));
        }
    } else if (name == "GetMemberships") {
        if (auto k = p.unknown({"userName", "groupName", "service"}); !k.empty()) return reply(invalid_parameter(k));
        const auto user = p.str("userName");
        const auto group = p.str("groupName");
        if (auto err = check_service()) return reply(std::move(*err));
        if (!(user && group) && !more) return reply(error_message(kErrExpectedMore));
        r.kind_ = ReplyStream::Kind::memberships;
        const auto& all = db->memberships();
        if (user) {
            for (auto i : db->memberships_of_user(*user))
                if (!group || all[i].group == *group) r.items_.push_back(i);
        } else if (group) {
            if (const auto* list = db->memberships_of_group(*group)) r.items_ = *list;
        } else {
            for (std::size_t i = 0; i < all.size(); ++i) r.items_.push_back(i);
        }
        if (r.items_.empty()) return reply(error_message(kErrNoRecord));
    } else {
        return reply(error_message(kErrMethodNotFound, {{"method", method}}));
    }
    if (oneway) r.items_.clear();
    return r;
}

}  // namespace portal::userdb
