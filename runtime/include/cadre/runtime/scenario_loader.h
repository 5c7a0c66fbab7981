// Loading and validating scenario files.
#pragma once

#include <string>
#include <vector>

#include "cadre/result.h"
#include "cadre/runtime/scenario.h"

namespace cadre::runtime {

// One `--set key=value` override: a dotted path into the YAML document (e.g.
// "workflow.samples", "team.coder.count", "team.coder.brain.skill", "seed") and its new value.
struct Override {
  std::string path;
  std::string value;
};

// Parses "key=value". Fails on a missing '=' or empty key.
Result<Override> parse_override(const std::string& text);

// Reads, overrides, validates and expands a scenario file.
//
// Success: a Scenario whose goals are explicit or generated deterministically from the (possibly
// overridden) seed. Failure: an Error whose `where` is "file:line:col" of the offending node (or
// "file" alone when there is no node, e.g. unreadable file) and whose message names the field:
// unknown keys, wrong types, out-of-range values, missing required fields, unknown roles or
// brains, models without a price, and team/workflow mismatches (e.g. escalation without a human).
// `seed_override`, when non-negative, replaces the file's seed before goals are generated.
Result<Scenario> load_scenario(const std::string& path, const std::vector<Override>& overrides = {},
                               long long seed_override = -1);

// The same, from YAML text (tests, fuzzing); `name_for_errors` stands in for the file name.
Result<Scenario> parse_scenario(const std::string& yaml_text, const std::string& name_for_errors,
                                const std::vector<Override>& overrides = {},
                                long long seed_override = -1);

}  // namespace cadre::runtime
