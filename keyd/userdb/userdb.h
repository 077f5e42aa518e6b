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
#include "keyd/userdb/publication.h"
