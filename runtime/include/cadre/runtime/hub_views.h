// Views of a running hub for the tools people use beside it: `cadre status` (the live team) and
// `cadre inbox` (what waits for a person). Pure functions of the core and what the shell knows;
// the JSON documents they make are the bodies of VIEW messages (docs/protocol.md, "Tools").
#pragma once

#include <map>
#include <string>

#include "cadre/result.h"
#include "cadre/roles/messages.h"
#include "cadre/runtime/hub_core.h"

namespace cadre::runtime {

// The live team and the state of the work: agents (role, state, the tasks they hold, heartbeat
// age), goals by state, tasks, cost. `last_seen` maps the agents connected over the wire to the
// time the hub last heard from them; agents missing from it (the inbox) have no heartbeat age.
std::string status_view(const HubCore& core, const std::map<std::string, TimeUs>& last_seen,
                        TimeUs now);

// What waits for a person: every task the inbox (kInboxAgentId) holds — escalated subtasks
// (`resolve`) with their candidates and the critics' feedback so far, and goals awaiting
// approval (`approve`) with the team's work. `has_inbox`: the team has an inbox human at all.
std::string inbox_view(const HubCore& core, bool has_inbox, TimeUs now);

// The RESULT a person's decision stands for, to feed to HubCore::result_received as the inbox.
// Fails, saying why and what would be valid, on an unknown goal, item, action or candidate.
Result<roles::TaskOutcome> inbox_decision(const HubCore& core, const roles::Decision& decision,
                                          TimeUs now);

// The id `cadre inbox` lists for a candidate of an escalated subtask: "<subtask>/<attempt>";
// the team's finished work awaiting approval is "team".
std::string candidate_id(const std::string& subtask_id, std::uint32_t attempt);
inline constexpr const char* kTeamCandidateId = "team";

}  // namespace cadre::runtime
