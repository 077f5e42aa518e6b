// Portal members as Unix users through systemd's userdb. What the daemon calls:
//   at start:   ensure_userdb_bypass(cfg) (before other threads), DropinWriter writer(cfg),
//               Provider provider(io, cfg), name/id checks = local_name_check(cfg), local_id_check(cfg)
//   per change: auto plan = plan_publication(state, cfg, name_check, id_check);
//               log plan.warnings; writer.publish(plan.state);
//               provider.update(std::make_shared<const ipc::LoginState>(plan.state));
//               serve the login socket from plan.state (unpublished members are not_published)
#pragma once
#include "keyd/userdb/config.h"
#include "keyd/userdb/dropin_writer.h"
#include "keyd/userdb/provider.h"
#include "keyd/userdb/local_accounts.h"
#include "keyd/userdb/publication.h"

// Findings (Debian 12, systemd 252; tests/e2e/userdb_nss_test.sh checks the first three):
// - SYSTEMD_BYPASS_USERDB=<service> hides our Varlink socket from this process's NSS, but not
//   our drop-ins: nss-systemd reads /run/userdb in-process whatever the variable says (even
//   "1" hides only the group drop-ins). So local_name_check/local_id_check skip NSS for names
//   and ids that have a drop-in of ours instead of asking it.
// - nss-systemd enumerates drop-ins and providers without deduplicating: the provider answers
//   look-ups of users and per-user groups but does not enumerate them.
// - "locked": true shows as an account expired on day 1 (getent shadow) and userdbctl
//   "Locked: yes"; sshd's PAM account phase refuses it.
// - Every file in /run/userdb costs every process on the machine: nss-systemd reads the whole
//   directory for *.membership files on each group look-up and initgroups. 10,000 members
//   (50,000 files): `getent group <member>` ~40-80 ms, `id <member>` ~200 ms, a miss of
//   getgrnam ~40 ms, `getent group` (enumeration) minutes.
