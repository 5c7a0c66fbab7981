// Turning --keys/--key/--hub-key/--allow/--insecure into transport security, with the rules that
// keep a hub from listening on the network in plain text by accident.
#pragma once

#include <optional>
#include <string>

#include "cadre/result.h"
#include "cadre/transport/endpoint.h"
#include "commands.h"

namespace cadre::cli {

// The hub's security for listening on `listen`: from KeyArgs::keys_dir (DIR/hub.key, allow list
// DIR/agents/ unless --allow names another), or none. Without keys, a listen address that is not
// loopback is refused unless --insecure. Key files readable by group or others are refused.
Result<std::optional<transport::ServerSecurity>> hub_security(const KeyArgs& keys,
                                                              const std::string& listen);

// The agent's security: from --keys DIR (DIR/agents/<key-name>.key and DIR/hub.pub) or from
// --key FILE with --hub-key FILE; none when no key option is given.
Result<std::optional<transport::ClientSecurity>> agent_security(const KeyArgs& keys);

// An address other hosts can connect to for a bound endpoint: a wildcard host (0.0.0.0, *, ::)
// is replaced by this machine's host name.
std::string connectable_endpoint(const std::string& bound);

}  // namespace cadre::cli
