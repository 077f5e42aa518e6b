#include "keyd/revoke/allowed_record.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <limits>
#include <nlohmann/json.hpp>

#include "shared/ipc/login_rules.h"
#include "shared/ipc/state_file.h"
#include "shared/ipc/unique_fd.h"
#include "shared/unix_name.h"

namespace portal::revoke {

namespace {

using nlohmann::json;
constexpr int kVersion = 1;
constexpr std::size_t kMaxRecordBytes = 64 * 1024 * 1024;

}  // namespace

std::vector<AllowedMember> allowed_members(const ipc::LoginState& state) {
    // check_account's find() is linear: decide on one member at a time in a scratch state.
    ipc::LoginState scratch;
    scratch.enforce_2fa = state.enforce_2fa;
    scratch.login_roles = state.login_roles;
    scratch.members.resize(1);
    const ipc::LoginPolicy policy = ipc::policy_of(state);
    std::vector<AllowedMember> out;
    for (const auto& m : state.members) {
        scratch.members[0].unix_name = m.unix_name;
        scratch.members[0].role = m.role;
        scratch.members[0].status = m.status;
        scratch.members[0].tfa_enabled = m.tfa_enabled;
        scratch.members[0].published = m.published;
        scratch.members[0].access_until = m.access_until;
        if (ipc::check_account(scratch, m.unix_name, policy).allow) out.push_back({m.user_id, m.unix_name, m.uid});
    }
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

std::string allowed_record_to_json(const std::vector<AllowedMember>& members) {
    // Written out directly, each string escaped by the JSON library: the same text as a
    // document dump (keys in order), without a tree of 10,000 objects built at every
    // revocation. allowed_record_test checks the two agree.
    auto quoted = [](const std::string& v) { return json(v).dump(-1, ' ', false, json::error_handler_t::replace); };
    std::string out = R"({"members":[)";
    out.reserve(members.size() * 80 + 32);
    for (std::size_t i = 0; i < members.size(); ++i) {
        const auto& m = members[i];
        if (i) out += ',';
        out += R"({"uid":)";
        out += std::to_string(m.uid);
        out += R"(,"unix_name":)";
        out += quoted(m.unix_name);
        out += R"(,"user_id":)";
        out += quoted(m.user_id);
        out += '}';
    }
    out += R"(],"version":)";
    out += std::to_string(kVersion);
    out += '}';
    return out;
}

std::optional<std::vector<AllowedMember>> allowed_record_from_json(std::string_view text, std::string& error) {
    error.clear();
    const json doc = json::parse(text.begin(), text.end(), nullptr, /*allow_exceptions=*/false);
    auto bad = [&](const std::string& what) -> std::optional<std::vector<AllowedMember>> {
        error = what;
        return std::nullopt;
    };
    if (doc.is_discarded()) return bad("not valid JSON");
    if (!doc.is_object()) return bad("not a JSON object");
    for (const auto& [key, value] : doc.items())
        if (key != "version" && key != "members") return bad(key + ": unknown field");
    if (!doc.contains("version") || !doc["version"].is_number_integer()) return bad("version: missing or not an integer");
    if (doc["version"].get<std::int64_t>() != kVersion) return bad("version: unknown version");
    if (!doc.contains("members") || !doc["members"].is_array()) return bad("members: missing or not an array");
    std::vector<AllowedMember> out;
    std::size_t i = 0;
    for (const auto& m : doc["members"]) {
        const std::string at = "members[" + std::to_string(i++) + "]";
        if (!m.is_object()) return bad(at + ": not an object");
        if (m.size() != 3) return bad(at + ": expected user_id, unix_name and uid only");
        if (!m.contains("user_id") || !m["user_id"].is_string() || m["user_id"].get_ref<const std::string&>().empty())
            return bad(at + ".user_id: missing or not a non-empty string");
        if (!m.contains("unix_name") || !m["unix_name"].is_string() ||
            !is_valid_unix_name(m["unix_name"].get_ref<const std::string&>()))
            return bad(at + ".unix_name: missing or not a valid user name");
        if (!m.contains("uid") || !m["uid"].is_number_unsigned() ||
            m["uid"].get<std::uint64_t>() > std::numeric_limits<std::uint32_t>::max())
            return bad(at + ".uid: missing or not a uid");
        out.push_back({m["user_id"].get<std::string>(), m["unix_name"].get<std::string>(), m["uid"].get<std::uint32_t>()});
    }
    return out;
}

std::optional<std::vector<AllowedMember>> read_allowed_record(const std::string& path, std::string& error) {
    error.clear();
    ipc::UniqueFd fd(::open(path.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC | O_NOCTTY));
    if (!fd) {
        if (errno != ENOENT) error = path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    struct stat st {};
    if (::fstat(fd.get(), &st) != 0) {
        error = path + ": " + std::strerror(errno);
        return std::nullopt;
    }
    if (!S_ISREG(st.st_mode)) error = path + ": not a regular file";
    else if (st.st_uid != ::geteuid()) error = path + ": not owned by this daemon's user";
    else if (st.st_mode & (S_IWGRP | S_IWOTH)) error = path + ": writable by group or others";
    else if (static_cast<std::uint64_t>(st.st_size) > kMaxRecordBytes) error = path + ": too large";
    if (!error.empty()) return std::nullopt;
    std::string text(static_cast<std::size_t>(st.st_size), '\0');
    std::size_t got = 0;
    while (got < text.size()) {
        const ssize_t n = ::read(fd.get(), text.data() + got, text.size() - got);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            error = path + ": " + std::strerror(errno);
            return std::nullopt;
        }
        if (n == 0) break;
        got += static_cast<std::size_t>(n);
    }
    text.resize(got);
    std::string parse_error;
    auto out = allowed_record_from_json(text, parse_error);
    if (!out) error = path + ": " + parse_error;
    return out;
}

bool write_allowed_record(const std::string& path, const std::vector<AllowedMember>& members, std::string& error) {
    ipc::StateFileMode mode;
    mode.mode = 0600;
    return ipc::write_file_atomically(path, allowed_record_to_json(members), mode, error);
}

}  // namespace portal::revoke
