// CURVE keys for encrypted, authenticated transport: generation, key files and allow lists.
// No ZeroMQ header leaks out of this file. Keys are Z85 text (40 characters for 32 bytes).
//
// Key file format (UTF-8 text, one field per line; blank lines and lines whose first non-space
// character is '#' are ignored; spaces around '=' are optional):
//
//   NAME.key  (mode 0600: it holds the secret)      NAME.pub  (mode 0644)
//     # cadre CURVE key pair "NAME"                   # cadre CURVE public key "NAME"
//     public-key = <40 Z85 characters>                public-key = <40 Z85 characters>
//     secret-key = <40 Z85 characters>
//
// Allow-list file format: one client public key per line, either bare Z85 or
// "public-key = <z85>" (so `cat *.pub > allowed` makes a valid list); blank lines and comment lines
// are ignored. ('#' is a Z85 character, but never the first of a key: a 5-character group
// starting with '#' or '$' exceeds 32 bits, so comment lines are unambiguous.)
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "cadre/result.h"

namespace cadre::transport {

struct CurveKeyPair {
  std::string public_key;  // Z85, 40 characters
  std::string secret_key;  // Z85, 40 characters
};

// A fresh key pair from libzmq (fails only if libzmq was built without CURVE).
Result<CurveKeyPair> generate_curve_key_pair();

// Ok if `key` is 40 characters of valid Z85 (32 bytes once decoded).
Status check_curve_key(std::string_view key);

// Ok if both keys are well formed and `pair.public_key` is the public half of `pair.secret_key`.
Status check_curve_key_pair(const CurveKeyPair& pair);

// Generates a key pair and writes DIR/NAME.key (both keys, created with mode 0600) and
// DIR/NAME.pub (public key only, mode 0644). DIR must exist; NAME must be a plain file name.
// Refuses to overwrite: if either file exists, nothing is written and the error names it.
Status write_key_pair(const std::string& dir, const std::string& name);

// Reads a NAME.key file. Refuses a file with any group or world permission bit (mode & 077), with
// the path, its mode and the fix in the message; errors for malformed content name path:line.
// Checks both keys and that the public key belongs to the secret key.
Result<CurveKeyPair> read_secret_key_file(const std::string& path);

// Reads the public key from a .pub or a .key file (the secret, if present, is not checked).
Result<std::string> read_public_key_file(const std::string& path);

// Reads an allow list of client public keys. `path` is a directory (every regular *.pub file in
// it, in name order) or an allow-list file (format above). Duplicates are dropped; an empty result
// is an error, since a secured hub that admits nobody is almost certainly misconfigured.
Result<std::vector<std::string>> read_allow_list(const std::string& path);

// True if traffic to `endpoint` cannot leave this host: ipc://, inproc://, and tcp:// to
// 127.x.x.x, localhost or [::1]. False for wildcard binds (tcp://*:..., tcp://0.0.0.0:...),
// interface names, any other host, other transports and anything malformed.
bool is_loopback_endpoint(const std::string& endpoint);

}  // namespace cadre::transport
