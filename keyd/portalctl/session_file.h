// `portalctl login`'s session token, kept for the commands that follow, with the portal that
// made it: it goes only to that portal (with --url naming it), or to an agent's socket that
// follows it (the agent checks X-Portal-Session-For), never to another one.
// $XDG_CONFIG_HOME/portalctl/session (default ~/.config/portalctl/session): a file of the
// user's own, mode 0600, in a directory of theirs with mode 0700. The token is a password.
#pragma once
#include <filesystem>
#include <string>

namespace portal::ctl {

std::filesystem::path session_file_path();

struct Session {
    std::string token;
    std::string portal;  // "https://portal.example:8443"
    bool empty() const { return token.empty(); }
};
// What the file holds; empty when there is none, or none we may read, or the file is not a
// regular file of ours (ignored, with a warning). Throws CliError when others may read it.
Session read_session();
// Replaces the file at once (a new file renamed over the old one); the directories it needs
// are made 0700.
void write_session(const Session& s);
// True if there was one.
bool remove_session_token();

// The account `portalctl accounts use` selected: $XDG_CONFIG_HOME/portalctl/account (0600),
// used when --account is not given. "" when none is selected (or the file is not the user's own).
std::filesystem::path selected_account_path();
std::string read_selected_account();
void write_selected_account(const std::string& id);
bool clear_selected_account();  // true if one was selected

}  // namespace portal::ctl
