// `cadre status` and `cadre inbox`: tools that ask a running hub for a view (QUERY -> VIEW) and,
// for the inbox, send a person's decision (DECIDE). They never join the team.
#pragma once

#include <string>

#include "commands.h"

namespace cadre::cli {

struct ToolArgs {
  std::string hub;          // an endpoint (tcp://..., ipc://...) or a run folder with hub.endpoint
  KeyArgs keys;             // as for `cadre agent`: the tool's own key when the hub uses CURVE
  double timeout_s = 5;     // how long to wait for the hub's answer
  bool json = false;        // print the hub's JSON view as it is
};

struct InboxArgs {
  ToolArgs tool;
  std::string resolve_goal;  // --resolve GOAL: decide instead of listing
  std::string item;          // --item: which of the goal's waiting items
  std::string accept;        // --accept CANDIDATE
  std::string answer;        // --answer TEXT
  bool reject = false;       // --reject [REASON]
  std::string reason;
  std::string by;            // --by NAME (default $USER)
  bool no_prompt = false;    // list only, even on a terminal
};

int status_command(const ToolArgs& args);
int inbox_command(const InboxArgs& args);

}  // namespace cadre::cli
