// `portalctl login`'s session token, kept for the commands that follow: an agent's socket
// sends it on to the portal, and --url sends it to the portal itself.
// $XDG_CONFIG_HOME/portalctl/session (default ~/.config/portalctl/session): a file of the
// user's own, mode 0600, in a directory of theirs with mode 0700. The token is a password.
#pragma once
#include <filesystem>
#include <string>

namespace portal::ctl {

std::filesystem::path session_file_path();
// The token in it; "" when there is none, or none we may read, or the file is not a regular
// file of ours (ignored, with a warning). Throws CliError when others may read it.
std::string read_session_token();
// Replaces the file at once (a new file renamed over the old one); the directories it needs
// are made 0700.
void write_session_token(const std::string& token);
// True if there was one.
bool remove_session_token();

}  // namespace portal::ctl
