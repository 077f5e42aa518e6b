#include "keyd/revoke/allowed_record.h"

#include <algorithm>
#include <limits>
#include <nlohmann/json.hpp>

#include "shared/ipc/login_rules.h"
#include "shared/unix_name.h"

namespace portal::revoke {

namespace {

using nlohmann::json;
constexpr int kVersion = 2;
constexpr std::size_t kMaxJournalId = 64;

std::string quoted(const std::string& v) { return json(v).dump(-1, ' ', false, json::error_handler_t::replace); }

void append_member(std::string& out, const AllowedMember& m) {
    out += R"({"uid":)";
    out += std::to_string(m.uid);
    out += R"(,"unix_name":)";
    out += quoted(m.unix_name);
    out += R"(,"user_id":)";
    out += quoted(m.user_id);
    out += '}';
}

bool by_name(const AllowedMember& a, const AllowedMember& b) { return a.unix_name < b.unix_name; }

// A member object, strictly: user_id, unix_name and uid, nothing else. Its strings are moved
// out of the document. at() names where it is, for an error only: made for every member of
// 10,000, the names were a fifth of reading the record at start-up.
template <class At>
std::optional<AllowedMember> member_from(json& m, const At& at, std::string& error) {
    auto bad = [&](const char* what) -> std::optional<AllowedMember> {
        error = at() + what;
        return std::nullopt;
    };
    if (!m.is_object()) return bad(": not an object");
    if (m.size() != 3) return bad(": expected user_id, unix_name and uid only");
    const auto user_id = m.find("user_id");
    if (user_id == m.end() || !user_id->is_string() || user_id->get_ref<const std::string&>().empty())
        return bad(".user_id: missing or not a non-empty string");
    const auto unix_name = m.find("unix_name");
    if (unix_name == m.end() || !unix_name->is_string() || !is_valid_unix_name(unix_name->get_ref<const std::string&>()))
        return bad(".unix_name: missing or not a valid user name");
    const auto uid = m.find("uid");
    if (uid == m.end() || !uid->is_number_unsigned() || uid->get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max())
        return bad(".uid: missing or not a uid");
    return AllowedMember{std::move(user_id->get_ref<std::string&>()), std::move(unix_name->get_ref<std::string&>()),
                         uid->get<std::uint32_t>()};
}

bool valid_journal_id(const std::string& id) {
    return !id.empty() && id.size() <= kMaxJournalId &&
           std::all_of(id.begin(), id.end(), [](char c) {
               return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_';
           });
}

std::optional<AllowedChange> change_from(json& doc, const std::string& at, std::string& error) {
    if (!doc.is_object() || doc.size() != 1) {
        error = at + ": expected one of allow or deny";
        return std::nullopt;
    }
    if (doc.contains("allow")) {
        auto m = member_from(doc["allow"], [&] { return at + ".allow"; }, error);
        if (!m) return std::nullopt;
        std::string name = m->unix_name;
        return AllowedChange{std::move(name), std::move(*m)};
    }
    if (doc.contains("deny")) {
        if (!doc["deny"].is_string() || !is_valid_unix_name(doc["deny"].get_ref<const std::string&>())) {
            error = at + ".deny: not a valid user name";
            return std::nullopt;
        }
        return AllowedChange{doc["deny"].get<std::string>(), std::nullopt};
    }
    error = at + ": expected one of allow or deny";
    return std::nullopt;
}

}  // namespace

std::vector<AllowedMember> allowed_members(const ipc::LoginState& state) {
    const ipc::LoginPolicy policy = ipc::policy_of(state);
    std::vector<AllowedMember> out;
    for (const auto& m : state.members)
        if (ipc::check_member(state, m, policy).allow) out.push_back({m.user_id, m.unix_name, m.uid});
    return out;
}

ipc::LoginState state_allowing(const std::vector<AllowedMember>& members) {
    ipc::LoginState s;
    s.login_roles = {Role::owner};
    s.members.reserve(members.size());
    for (const auto& a : members) {
        ipc::LoginMember m;
        m.user_id = a.user_id;
        m.unix_name = a.unix_name;
        m.uid = a.uid;
        m.role = Role::owner;
        m.status = MemberStatus::active;
        m.published = true;
        s.members.push_back(std::move(m));
    }
    return s;
}

std::string allowed_snapshot_to_json(const AllowedSnapshot& snapshot) {
    // Written out directly, each string escaped by the JSON library: the same text as a
    // document dump (keys in order), without a tree of 10,000 objects. revoke_test checks
    // the two agree.
    std::string out = R"({"journal":)";
    out += quoted(snapshot.journal);
    out += R"(,"members":[)";
    out.reserve(snapshot.members.size() * 80 + 64);
    for (std::size_t i = 0; i < snapshot.members.size(); ++i) {
        if (i) out += ',';
        append_member(out, snapshot.members[i]);
    }
    out += R"(],"version":)";
    out += std::to_string(kVersion);
    out += '}';
    return out;
}

std::optional<AllowedSnapshot> allowed_snapshot_from_json(std::string_view text, std::string& error) {
    error.clear();
    json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    auto bad = [&](const std::string& what) -> std::optional<AllowedSnapshot> {
        error = what;
        return std::nullopt;
    };
    if (doc.is_discarded()) return bad("not valid JSON");
    if (!doc.is_object()) return bad("not a JSON object");
    if (!doc.contains("version") || !doc["version"].is_number_integer()) return bad("version: missing or not an integer");
    const auto version = doc["version"].get<std::int64_t>();
    if (version != 1 && version != 2) return bad("version: unknown version");
    for (const auto& [key, value] : doc.items())
        if (key != "version" && key != "members" && (key != "journal" || version == 1)) return bad(key + ": unknown field");
    AllowedSnapshot out;
    if (version == 2) {
        if (!doc.contains("journal") || !doc["journal"].is_string() ||
            !valid_journal_id(doc["journal"].get_ref<const std::string&>()))
            return bad("journal: missing or not a journal id");
        out.journal = doc["journal"].get<std::string>();
    }
    const auto members = doc.find("members");
    if (members == doc.end() || !members->is_array()) return bad("members: missing or not an array");
    out.members.reserve(members->size());
    for (std::size_t i = 0; i < members->size(); ++i) {
        auto member = member_from((*members)[i], [i] { return "members[" + std::to_string(i) + "]"; }, error);
        if (!member) return std::nullopt;
        out.members.push_back(std::move(*member));
    }
    if (version == 1) std::stable_sort(out.members.begin(), out.members.end(), by_name);
    for (std::size_t k = 1; k < out.members.size(); ++k) {
        if (!by_name(out.members[k - 1], out.members[k]))
            return bad("members[" + std::to_string(k) + "].unix_name: " +
                       (out.members[k - 1].unix_name == out.members[k].unix_name ? "repeated" : "out of order"));
    }
    return out;
}

std::string allowed_journal_header(std::string_view journal_id) {
    return R"({"snapshot":)" + quoted(std::string(journal_id)) + "}\n";
}

std::string allowed_change_to_json_line(const AllowedChange& change) {
    std::string out;
    if (change.allowed) {
        out = R"({"allow":)";
        append_member(out, *change.allowed);
        out += "}\n";
    } else {
        out = R"({"deny":)" + quoted(change.unix_name) + "}\n";
    }
    return out;
}

void apply_allowed_change(std::vector<AllowedMember>& members, const AllowedChange& change) {
    auto it = std::lower_bound(members.begin(), members.end(), change.unix_name,
                               [](const AllowedMember& m, const std::string& name) { return m.unix_name < name; });
    const bool present = it != members.end() && it->unix_name == change.unix_name;
    if (!change.allowed) {
        if (present) members.erase(it);
    } else if (present) {
        *it = *change.allowed;
    } else {
        members.insert(it, *change.allowed);
    }
}

bool apply_allowed_journal(std::string_view text, std::string_view journal_id, std::vector<AllowedMember>& members,
                           std::string& error, std::size_t* applied) {
    error.clear();
    if (applied) *applied = 0;
    std::vector<AllowedChange> changes;
    std::size_t line_no = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const auto nl = text.find('\n', pos);
        if (nl == std::string_view::npos) break;  // cut short by a crash: never completed, never counted
        const std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        ++line_no;
        const std::string at = "line " + std::to_string(line_no);
        json doc = json::parse(line.begin(), line.end(), nullptr, /*allow_exceptions=*/false);
        if (doc.is_discarded()) {
            error = at + ": not valid JSON";
            return false;
        }
        if (line_no == 1) {
            if (!doc.is_object() || doc.size() != 1 || !doc.contains("snapshot") || !doc["snapshot"].is_string() ||
                !valid_journal_id(doc["snapshot"].get_ref<const std::string&>())) {
                error = at + ".snapshot: missing or not a journal id";
                return false;
            }
            // Another snapshot's journal: already folded into the snapshot that replaced it.
            if (journal_id.empty() || doc["snapshot"].get_ref<const std::string&>() != journal_id) return true;
            continue;
        }
        auto change = change_from(doc, at, error);
        if (!change) return false;
        changes.push_back(std::move(*change));
    }
    for (const auto& c : changes) apply_allowed_change(members, c);
    if (applied) *applied = changes.size();
    return true;
}

}  // namespace portal::revoke
