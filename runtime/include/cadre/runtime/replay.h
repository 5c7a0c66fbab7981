// Rebuilding a hub's state from its journal: the records are fed to a fresh HubCore in the order
// they were written, so the core — deterministic, events in and commands out — ends in the state
// the hub had when the last record was written. `cadre run/hub --resume` continue from there.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "cadre/result.h"
#include "cadre/runtime/clock.h"
#include "cadre/runtime/hub_core.h"
#include "cadre/runtime/journal.h"

namespace cadre::runtime {

struct ReplayResult {
  std::uint64_t records = 0;  // records read (events and notes)
  TimeUs last_t = 0;          // the core's clock at the last record
  bool started = false;       // a start record was seen
  // Agents joined and not gone at the last record, in the order they joined.
  std::vector<std::string> agents_present;
  std::map<std::string, std::int64_t> agent_pids;
  // Verifications the core asked for that have no verdict in the journal: to be run again.
  std::vector<VerifyCommand> unfinished_verifications;
  // Every workspace change, in order (mirroring them again on disk is idempotent).
  std::vector<WorkspaceCommand> workspace_updates;
};

// Ok when a run can resume from the journal at `path`: it can be read and is not damaged in the
// middle (a torn tail is fine: resume drops it). Fails with the offset of the damage otherwise.
Status check_resumable(const std::string& path);
Status check_resumable(const JournalContents& contents, const std::string& path);

// Feeds `records` (from read_journal) to `core`, which must be fresh and made from the scenario
// the journal was written for. Stops after `until` records when given. Fails naming the record
// number when a record is not a journal event the hub writes.
Result<ReplayResult> replay_journal(const std::vector<JournalRecord>& records, HubCore& core,
                                    std::optional<std::uint64_t> until = std::nullopt);

}  // namespace cadre::runtime
