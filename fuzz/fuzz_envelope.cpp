// libFuzzer target: the frame decoder and every body decoder, on hostile bytes.
//
// The input is decoded as a frame; the body of a frame that decodes (or, when the frame does not
// decode, the input itself, so body decoders see arbitrary maps too) is given to every body
// decoder. Besides "never crash, never throw, never allocate past the limits" (ASan/UBSan and
// libFuzzer's -rss_limit_mb watch those), it checks that whatever decodes round-trips: re-encoding
// gives bytes that decode to the same thing. The view decoder (decode_envelope_view) and the
// decoders of checked bodies must agree with the copying ones on every input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "cadre/roles/messages.h"
#include "cadre/transport/envelope.h"

namespace {

using namespace cadre;

// Stops the run with a crash report: libFuzzer saves the input.
[[noreturn]] void broken() { __builtin_trap(); }

// A body that decodes must encode to bytes that decode and encode to the same bytes again
// (encode(decode(x)) is a fixed point after one step; doubles such as NaN compare by bytes).
template <typename Decode>
void round_trip(std::string_view body, Decode decode) {
  auto first = decode(body);
  if (!first.ok()) return;
  const std::string once = roles::encode(*first);
  auto second = decode(once);
  if (!second.ok()) broken();
  if (roles::encode(*second) != once) broken();
}

void decode_bodies(std::string_view body) {
  round_trip(body, roles::decode_hello);
  round_trip(body, roles::decode_welcome);
  round_trip(body, roles::decode_assignment);
  round_trip(body, roles::decode_outcome);
  round_trip(body, roles::decode_ack);
  round_trip(body, roles::decode_error);
  round_trip(body, roles::decode_bye);
  round_trip(body, roles::decode_cancel);
  round_trip(body, roles::decode_query);
  round_trip(body, roles::decode_view);
  round_trip(body, roles::decode_decision);
}

// A body the envelope walk checked decodes as its bytes do (same value, or the same error).
template <typename FromBytes, typename FromChecked>
void same_decode(transport::CheckedMap body, FromBytes from_bytes, FromChecked from_checked) {
  auto a = from_bytes(body.bytes());
  auto b = from_checked(body);
  if (a.ok() != b.ok()) broken();
  if (a.ok()) {
    if (roles::encode(*a) != roles::encode(*b)) broken();
  } else if (a.error().to_string() != b.error().to_string()) {
    broken();
  }
}

// The view decoder agrees with the copying one.
void check_view(std::string_view input, transport::DecodeResult& copied) {
  transport::DecodeViewResult viewed = transport::decode_envelope_view(input);
  if (viewed.ok() != copied.ok()) broken();
  if (!copied.ok()) {
    const auto& f = copied.failure();
    const auto& g = viewed.failure();
    if (f.reason != g.reason || f.detail != g.detail || f.sender != g.sender || f.msg_id != g.msg_id)
      broken();
    return;
  }
  const transport::EnvelopeView& v = viewed.envelope();
  const transport::Envelope& e = copied.envelope();
  if (v.kind != e.kind || v.msg_id != e.msg_id || v.sender != e.sender || v.body.bytes() != e.body)
    broken();
  same_decode(v.body, [](std::string_view b) { return roles::decode_outcome(b); },
              [](transport::CheckedMap b) { return roles::decode_checked_outcome(b); });
  same_decode(v.body, [](std::string_view b) { return roles::decode_assignment(b); },
              [](transport::CheckedMap b) { return roles::decode_checked_assignment(b); });
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  transport::DecodeResult decoded = transport::decode_envelope(input);
  check_view(input, decoded);
  if (!decoded.ok()) {
    // A failure always names its reason and says why.
    if (std::string_view(transport::reason_name(decoded.failure().reason)) == "unknown") broken();
    if (decoded.failure().detail.empty()) broken();
    if (decoded.failure().sender.size() > transport::kMaxSenderBytes) broken();
    decode_bodies(input);
    return 0;
  }
  const transport::Envelope& envelope = decoded.envelope();
  if (envelope.sender.size() > transport::kMaxSenderBytes) broken();
  if (transport::check_msgpack_map(envelope.body) != transport::MapCheck::ok) broken();

  // The envelope round-trips byte for byte in what it carries.
  transport::DecodeResult again = transport::decode_envelope(transport::encode_envelope(envelope));
  if (!again.ok()) broken();
  if (again.envelope().kind != envelope.kind || again.envelope().msg_id != envelope.msg_id ||
      again.envelope().sender != envelope.sender || again.envelope().body != envelope.body) {
    broken();
  }
  decode_bodies(envelope.body);
  return 0;
}
