#include "security_args.h"

#include <unistd.h>

#include "cadre/transport/curve.h"

namespace cadre::cli {

Result<std::optional<transport::ServerSecurity>> hub_security(const KeyArgs& keys,
                                                              const std::string& listen) {
  if (!keys.key_file.empty() || !keys.hub_key_file.empty())
    return make_error("--key and --hub-key are agent options; the hub takes --keys DIR");
  if (keys.keys_dir.empty()) {
    if (!keys.allow.empty()) return make_error("--allow needs --keys DIR (the hub's own key)");
    if (!keys.insecure && !transport::is_loopback_endpoint(listen))
      return make_error(
          "refusing to listen on " + listen +
          " without keys: traffic would travel in plain text and any host could join. Give "
          "--keys DIR (make one with `cadre keys gen DIR`), or --insecure on a network you trust");
    return std::optional<transport::ServerSecurity>();
  }
  transport::ServerSecurity security;
  auto pair = transport::read_secret_key_file(keys.keys_dir + "/hub.key");
  if (!pair.ok()) return pair.error();
  security.server = *pair;
  auto allowed = transport::read_allow_list(keys.allow.empty() ? keys.keys_dir + "/agents" : keys.allow);
  if (!allowed.ok()) return allowed.error();
  security.allowed_clients = *allowed;
  return std::optional<transport::ServerSecurity>(std::move(security));
}

Result<std::optional<transport::ClientSecurity>> agent_security(const KeyArgs& keys) {
  if (keys.insecure || !keys.allow.empty())
    return make_error("--insecure and --allow are hub options");
  std::string key_file = keys.key_file, hub_key_file = keys.hub_key_file;
  if (!keys.keys_dir.empty()) {
    if (key_file.empty()) key_file = keys.keys_dir + "/agents/" + keys.key_name + ".key";
    if (hub_key_file.empty()) hub_key_file = keys.keys_dir + "/hub.pub";
  }
  if (key_file.empty() && hub_key_file.empty()) return std::optional<transport::ClientSecurity>();
  if (key_file.empty() || hub_key_file.empty())
    return make_error("an agent with keys needs both its own key (--key FILE) and the hub's "
                      "public key (--hub-key FILE), or --keys DIR for both");
  transport::ClientSecurity security;
  auto pair = transport::read_secret_key_file(key_file);
  if (!pair.ok()) return pair.error();
  security.client = *pair;
  auto hub_key = transport::read_public_key_file(hub_key_file);
  if (!hub_key.ok()) return hub_key.error();
  security.server_public_key = *hub_key;
  return std::optional<transport::ClientSecurity>(std::move(security));
}

std::string connectable_endpoint(const std::string& bound) {
  const std::string prefix = "tcp://";
  if (bound.rfind(prefix, 0) != 0) return bound;
  const auto colon = bound.rfind(':');
  if (colon == std::string::npos || colon < prefix.size()) return bound;
  const std::string host = bound.substr(prefix.size(), colon - prefix.size());
  if (host != "0.0.0.0" && host != "*" && host != "[::]" && host != "::") return bound;
  char name[256] = {};
  if (::gethostname(name, sizeof name - 1) != 0 || name[0] == '\0') return bound;
  return prefix + name + bound.substr(colon);
}

}  // namespace cadre::cli
