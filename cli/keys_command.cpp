// `cadre keys gen DIR`: CURVE key pairs for a hub and its agents.
#include <sys/stat.h>

#include <filesystem>
#include <iostream>

#include "cadre/transport/curve.h"
#include "commands.h"

namespace cadre::cli {
namespace {

bool exists(const std::string& path) { return std::filesystem::exists(path); }

// Makes NAME.key/.pub in `dir` unless both are there; a lone half is an error (a key pair is
// never rebuilt around a surviving secret or public file).
int ensure_pair(const std::string& dir, const std::string& name) {
  const std::string key = dir + "/" + name + ".key", pub = dir + "/" + name + ".pub";
  if (exists(key) && exists(pub)) {
    std::cout << "kept    " << key << "\n";
    return kExitOk;
  }
  if (exists(key) || exists(pub)) {
    print_error("only one half of the key pair " + dir + "/" + name +
                " exists; remove it to make a new pair");
    return kExitFailure;
  }
  if (auto written = transport::write_key_pair(dir, name); !written.ok()) {
    print_error(written.error().to_string());
    return kExitFailure;
  }
  std::cout << "made    " << key << " (secret, mode 600) and " << pub << "\n";
  return kExitOk;
}

bool plain_name(const std::string& name) {
  if (name.empty() || name == "." || name == "..") return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.')) return false;
  return true;
}

}  // namespace

int keys_gen_command(const KeysGenArgs& args) {
  std::vector<std::string> agents = args.agents;
  if (agents.empty()) agents.push_back("agent");
  for (const auto& name : agents) {
    if (!plain_name(name)) {
      print_error("--agent '" + name + "': use letters, digits, '-', '_' and '.' only");
      return kExitBadInput;
    }
  }
  std::error_code error;
  std::filesystem::create_directories(args.dir + "/agents", error);
  if (error) {
    print_error("cannot create " + args.dir + "/agents: " + error.message());
    return kExitFailure;
  }
  // The folders hold secrets: only their owner may list or enter them.
  ::chmod(args.dir.c_str(), 0700);
  ::chmod((args.dir + "/agents").c_str(), 0700);
  if (int code = ensure_pair(args.dir, "hub"); code != kExitOk) return code;
  for (const auto& name : agents)
    if (int code = ensure_pair(args.dir + "/agents", name); code != kExitOk) return code;
  std::cout << "hub:    cadre hub SCENARIO --listen tcp://0.0.0.0:PORT --keys " << args.dir
            << "\nagents: cadre agent --hub tcp://HOST:PORT --keys " << args.dir
            << " [--key-name NAME] ...\n"
            << "The hub admits the agents whose .pub files are in " << args.dir
            << "/agents; copy the folder (or an agent's .key and hub.pub) to the agents' hosts.\n";
  return kExitOk;
}

}  // namespace cadre::cli
