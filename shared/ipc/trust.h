// Who the login path trusts to own its socket and state file: root, and in tests the
// invoking user (docs/LOGIN_PROTOCOL.md, "Trust").
#pragma once
#include <sys/types.h>

namespace portal::ipc {

inline constexpr const char* kTestAllowUidEnv = "PORTAL_KEYD_TEST_ALLOW_UID";

// uid 0; or the caller's own uid when PORTAL_KEYD_TEST_ALLOW_UID names it and the process
// is not setuid/setgid (secure_getenv, and real == effective ids).
bool is_trusted_uid(uid_t uid);

}  // namespace portal::ipc
