// Envelope codec: round trips, every decode failure reason, and a mutation fuzz.
#include "cadre/transport/envelope.h"

#include <gtest/gtest.h>
#include <msgpack.hpp>

#include <chrono>
#include <functional>
#include <random>
#include <string>
#include <vector>

namespace cadre::transport {
namespace {

using Reason = DecodeFailure::Reason;
using Packer = msgpack::packer<msgpack::sbuffer>;

// Packs whatever `build` writes into one buffer.
std::string packed(const std::function<void(Packer&)>& build) {
  msgpack::sbuffer buffer;
  Packer packer(buffer);
  build(packer);
  return std::string(buffer.data(), buffer.size());
}

std::string sample_body() {
  return packed([](Packer& p) {
    p.pack_map(2);
    p.pack(std::string("goal_id"));
    p.pack(std::string("g1"));
    p.pack(std::string("items"));
    p.pack_array(3);
    p.pack(1);
    p.pack(-2);
    p.pack(3.5);
  });
}

Envelope sample_envelope(MessageKind kind = MessageKind::result) {
  Envelope e;
  e.kind = kind;
  e.msg_id = 1234567890123ULL;
  e.sender = "coder-2";
  e.body = sample_body();
  return e;
}

// A hand-built five-element frame; each element is written by its own function.
std::string frame_of(const std::function<void(Packer&)>& version,
                     const std::function<void(Packer&)>& kind,
                     const std::function<void(Packer&)>& msg_id,
                     const std::function<void(Packer&)>& sender,
                     const std::function<void(Packer&)>& body) {
  return packed([&](Packer& p) {
    p.pack_array(5);
    version(p);
    kind(p);
    msg_id(p);
    sender(p);
    body(p);
  });
}

auto uint_of(std::uint64_t v) { return [v](Packer& p) { p.pack_uint64(v); }; }
auto str_of(std::string s) { return [s](Packer& p) { p.pack(s); }; }
auto empty_map() { return [](Packer& p) { p.pack_map(0); }; }

void expect_failure(std::string_view frame, Reason reason) {
  DecodeResult r = decode_envelope(frame);
  ASSERT_FALSE(r.ok()) << "decoded unexpectedly";
  EXPECT_EQ(r.failure().reason, reason)
      << "got " << reason_name(r.failure().reason) << ": " << r.failure().detail;
  EXPECT_FALSE(r.failure().detail.empty());
}

TEST(EnvelopeCodec, RoundTripsEveryKind) {
  for (int k = kMinKind; k <= kMaxKind; ++k) {
    Envelope sent = sample_envelope(static_cast<MessageKind>(k));
    DecodeResult r = decode_envelope(encode_envelope(sent));
    ASSERT_TRUE(r.ok()) << "kind " << k << ": " << r.failure().detail;
    const Envelope& got = r.envelope();
    EXPECT_EQ(got.version, kProtocolVersion);
    EXPECT_EQ(got.kind, sent.kind);
    EXPECT_EQ(got.msg_id, sent.msg_id);
    EXPECT_EQ(got.sender, sent.sender);
    EXPECT_EQ(got.body, sent.body) << "body must come back byte for byte";
  }
}

TEST(EnvelopeCodec, EmptyBodyIsSentAsEmptyMap) {
  Envelope e;
  e.kind = MessageKind::heartbeat;
  e.msg_id = 7;
  e.sender = "hub";
  std::string frame = encode_envelope(e);
  EXPECT_EQ(frame, std::string("\x95\x01\x03\x07\xa3hub\x80", 9));
  DecodeResult r = decode_envelope(frame);
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.envelope().body, "\x80");
}

TEST(EnvelopeCodec, ExtremeValuesRoundTrip) {
  Envelope e = sample_envelope();
  e.msg_id = std::numeric_limits<std::uint64_t>::max();
  e.sender = std::string(kMaxSenderBytes, 's');
  DecodeResult r = decode_envelope(encode_envelope(e));
  ASSERT_TRUE(r.ok()) << r.failure().detail;
  EXPECT_EQ(r.envelope().msg_id, e.msg_id);
  EXPECT_EQ(r.envelope().sender, e.sender);

  e.sender.clear();  // an empty sender is well-formed; whether it is acceptable is the hub's call
  r = decode_envelope(encode_envelope(e));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r.envelope().sender, "");
}

TEST(EnvelopeCodec, AcceptsNonMinimalIntegerAndArrayEncodings) {
  // array16 header holding 5 elements, uint64-encoded small numbers: legal msgpack, so accepted.
  std::string frame("\xdc\x00\x05", 3);
  frame += std::string("\xcf\x00\x00\x00\x00\x00\x00\x00\x01", 9);  // version 1
  frame += std::string("\xcd\x00\x03", 3);                          // kind 3
  frame += std::string("\x2a", 1);                                  // msg_id 42
  frame += std::string("\xd9\x02" "a1", 4);                         // str8 "a1"
  frame += std::string("\xde\x00\x00", 3);                          // map16, empty
  DecodeResult r = decode_envelope(frame);
  ASSERT_TRUE(r.ok()) << r.failure().detail;
  EXPECT_EQ(r.envelope().kind, MessageKind::heartbeat);
  EXPECT_EQ(r.envelope().msg_id, 42u);
  EXPECT_EQ(r.envelope().sender, "a1");
  EXPECT_EQ(r.envelope().body, std::string("\xde\x00\x00", 3));
}

TEST(EnvelopeDecode, RejectsGarbageAsNotMsgpack) {
  expect_failure(std::string("\xc1", 1), Reason::not_msgpack);  // 0xc1 is never used
  expect_failure(std::string("\xc1\xc1\xc1\xc1", 4), Reason::not_msgpack);
  // A five-element array whose second element is garbage.
  expect_failure(std::string("\x95\x01\xc1\x01\xa1x\x80", 7), Reason::not_msgpack);
}

TEST(EnvelopeDecode, RejectsWellFormedNonArraysAsBadShape) {
  expect_failure("hello", Reason::bad_shape);  // 'h' is a positive fixint, then trailing bytes
  expect_failure(packed([](Packer& p) { p.pack(std::string("a string")); }), Reason::bad_shape);
  expect_failure(std::string("\x80", 1), Reason::bad_shape);  // a map
}

TEST(EnvelopeDecode, RejectsEmptyFrameAsTruncated) { expect_failure("", Reason::truncated); }

TEST(EnvelopeDecode, RejectsEveryTruncationOfAValidFrame) {
  const std::string frame = encode_envelope(sample_envelope());
  for (std::size_t cut = 0; cut < frame.size(); ++cut) {
    SCOPED_TRACE("cut at " + std::to_string(cut));
    expect_failure(std::string_view(frame).substr(0, cut), Reason::truncated);
  }
  // Also with wide headers (array32, str32), cut inside the headers.
  std::string wide("\xdd\x00\x00\x00\x05\x01\x01\x01\xdb\x00\x00\x00\x01x\x80", 15);
  ASSERT_TRUE(decode_envelope(wide).ok());
  for (std::size_t cut = 0; cut < wide.size(); ++cut) {
    SCOPED_TRACE("wide cut at " + std::to_string(cut));
    expect_failure(std::string_view(wide).substr(0, cut), Reason::truncated);
  }
}

TEST(EnvelopeDecode, RejectsWrongArrayLength) {
  for (std::uint32_t n : {0u, 1u, 4u, 6u, 15u}) {
    SCOPED_TRACE("length " + std::to_string(n));
    expect_failure(packed([n](Packer& p) {
                     p.pack_array(n);
                     for (std::uint32_t i = 0; i < n; ++i) p.pack(1);
                   }),
                   Reason::bad_shape);
  }
  // A huge declared length is rejected from the header alone, without allocation.
  expect_failure(std::string("\xdd\xff\xff\xff\xff", 5), Reason::bad_shape);
}

TEST(EnvelopeDecode, RejectsWrongElementTypes) {
  auto v1 = uint_of(1);
  auto hb = uint_of(3);
  auto id = uint_of(9);
  auto who = str_of("agent");
  auto body = empty_map();
  auto str = str_of("1");
  auto negative = [](Packer& p) { p.pack(-1); };
  auto real = [](Packer& p) { p.pack(1.5); };  // integral doubles are packed as ints
  auto nil = [](Packer& p) { p.pack_nil(); };
  auto bin = [](Packer& p) {
    p.pack_bin(5);
    p.pack_bin_body("agent", 5);
  };
  auto array = [](Packer& p) { p.pack_array(0); };

  struct Case {
    const char* what;
    std::string frame;
  };
  const Case cases[] = {
      {"version as string", frame_of(str, hb, id, who, body)},
      {"version negative", frame_of(negative, hb, id, who, body)},
      {"version as float", frame_of(real, hb, id, who, body)},
      {"kind as string", frame_of(v1, str, id, who, body)},
      {"kind as nil", frame_of(v1, nil, id, who, body)},
      {"msg_id negative", frame_of(v1, hb, negative, who, body)},
      {"msg_id as float", frame_of(v1, hb, real, who, body)},
      {"sender as int", frame_of(v1, hb, id, uint_of(5), body)},
      {"sender as bin", frame_of(v1, hb, id, bin, body)},
      {"sender too long", frame_of(v1, hb, id, str_of(std::string(kMaxSenderBytes + 1, 'x')), body)},
      {"body as array", frame_of(v1, hb, id, who, array)},
      {"body as string", frame_of(v1, hb, id, who, str)},
      {"body as nil", frame_of(v1, hb, id, who, nil)},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.what);
    expect_failure(c.frame, Reason::bad_shape);
  }
}

TEST(EnvelopeDecode, BadBodyStillReportsSender) {
  DecodeResult r = decode_envelope(frame_of(uint_of(1), uint_of(5), uint_of(77), str_of("coder-1"),
                                            [](Packer& p) { p.pack(3); }));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().reason, Reason::bad_shape);
  EXPECT_EQ(r.failure().sender, "coder-1");
  EXPECT_EQ(r.failure().msg_id, 77u);
}

TEST(EnvelopeDecode, RejectsOtherVersionsButRecoversSenderAndMsgId) {
  for (std::uint64_t version : {0ull, 2ull, 1ull << 40}) {
    SCOPED_TRACE("version " + std::to_string(version));
    DecodeResult r = decode_envelope(
        frame_of(uint_of(version), uint_of(1), uint_of(41), str_of("planner-1"), empty_map()));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure().reason, Reason::bad_version);
    EXPECT_EQ(r.failure().sender, "planner-1");
    EXPECT_EQ(r.failure().msg_id, 41u);
  }
}

TEST(EnvelopeDecode, RejectsUnknownKindsButRecoversSenderAndMsgId) {
  for (std::uint64_t kind : {0ull, 13ull, 99ull, 256ull, 1ull << 33}) {
    SCOPED_TRACE("kind " + std::to_string(kind));
    DecodeResult r = decode_envelope(
        frame_of(uint_of(1), uint_of(kind), uint_of(5), str_of("critic-3"), empty_map()));
    ASSERT_FALSE(r.ok());
    EXPECT_EQ(r.failure().reason, Reason::unknown_kind);
    EXPECT_EQ(r.failure().sender, "critic-3");
    EXPECT_EQ(r.failure().msg_id, 5u);
  }
}

TEST(EnvelopeDecode, RejectsTrailingBytes) {
  std::string frame = encode_envelope(sample_envelope());
  expect_failure(frame + '\x00', Reason::bad_shape);
  expect_failure(frame + frame, Reason::bad_shape);
  expect_failure(frame + '\xc1', Reason::bad_shape);
}

TEST(EnvelopeDecode, RejectsOversizedFrames) {
  expect_failure(std::string(kMaxFrameBytes + 1, '\x00'), Reason::too_large);

  // A valid frame of exactly kMaxFrameBytes decodes.
  Envelope e = sample_envelope();
  const std::size_t overhead = encode_envelope(Envelope{1, e.kind, e.msg_id, e.sender, "\x80"}).size();
  const std::size_t str_header = 5;  // str32
  const std::size_t map_header = 1 + 2;  // fixmap(1) + fixstr "k"
  e.body = packed([&](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("k"));
    p.pack(std::string(kMaxFrameBytes - overhead + 1 - str_header - map_header, 'x'));
  });
  std::string frame = encode_envelope(e);
  ASSERT_EQ(frame.size(), kMaxFrameBytes);
  DecodeResult r = decode_envelope(frame);
  ASSERT_TRUE(r.ok()) << r.failure().detail;
  EXPECT_EQ(r.envelope().body, e.body);

  e.body = packed([&](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("k"));
    p.pack(std::string(kMaxFrameBytes, 'x'));
  });
  expect_failure(encode_envelope(e), Reason::too_large);
}

TEST(EnvelopeDecode, HostileBodiesFailFastWithoutAllocating) {
  const std::string head("\x95\x01\x05\x01\xa1x", 6);
  // Body claims 2^32-1 array elements / map pairs: refused on the header, past the limits.
  expect_failure(head + std::string("\x81\xa1k\xdd\xff\xff\xff\xff", 8), Reason::too_large);
  expect_failure(head + std::string("\xdf\xff\xff\xff\xff", 5), Reason::too_large);
  // A string header claiming 2^32-1 bytes that are not there: truncated.
  expect_failure(head + std::string("\x81\xa1k\xdb\xff\xff\xff\xff", 8), Reason::truncated);
  // Nesting 100000 arrays deep is refused as bad_shape, not a stack overflow.
  std::string deep = head + "\x81\xa1k" + std::string(100000, '\x91') + '\x01';
  expect_failure(deep, Reason::bad_shape);
  // Moderate nesting is fine.
  std::string shallow = head + "\x81\xa1k" + std::string(20, '\x91') + '\x01';
  EXPECT_TRUE(decode_envelope(shallow).ok());
}

// A frame whose body is `body` (one encoded msgpack object), from sender "x".
std::string frame_with_body(const std::string& body) {
  return std::string("\x95\x01\x05\x01\xa1x", 6) + body;
}

void expect_too_large(const std::string& frame, const std::string& words) {
  DecodeResult r = decode_envelope(frame);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.failure().reason, Reason::too_large) << r.failure().detail;
  EXPECT_NE(r.failure().detail.find(words), std::string::npos) << r.failure().detail;
  EXPECT_EQ(r.failure().sender, "x");  // known: the hub can answer ERROR
}

TEST(EnvelopeDecode, ContainerLimitsAreCheckedOnTheHeader) {
  const auto start = std::chrono::steady_clock::now();
  // 20 bytes or fewer, each declaring a container far past the limits: refused on the header,
  // before a single item is read (and nothing is sized from it).
  for (const char* header : {"\xdd\xff\xff\xff\xff", "\xdd\x00\x01\x00\x01"}) {
    const std::string frame = frame_with_body(std::string("\x81\xa1k", 3) + std::string(header, 5));
    ASSERT_LE(frame.size(), 20u);
    expect_too_large(frame, "exceeds the limit of " + std::to_string(kMaxArrayItems));
  }
  for (const char* header : {"\xdf\xff\xff\xff\xff", "\xdf\x00\x00\x10\x01"}) {
    expect_too_large(frame_with_body(std::string(header, 5)),
                     "exceeds the limit of " + std::to_string(kMaxMapPairs));
  }
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(100));
}

TEST(EnvelopeDecode, ContainersAtTheLimitsDecode) {
  // kMaxArrayItems nils in an array, kMaxMapPairs pairs in a map: accepted.
  std::string body = packed([](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("k"));
    p.pack_array(static_cast<std::uint32_t>(kMaxArrayItems));
    for (std::size_t i = 0; i < kMaxArrayItems; ++i) p.pack_nil();
  });
  EXPECT_TRUE(decode_envelope(frame_with_body(body)).ok());
  body = packed([](Packer& p) {
    p.pack_map(static_cast<std::uint32_t>(kMaxMapPairs));
    for (std::size_t i = 0; i < kMaxMapPairs; ++i) {
      p.pack(static_cast<std::uint64_t>(i));
      p.pack_nil();
    }
  });
  EXPECT_TRUE(decode_envelope(frame_with_body(body)).ok());
  // One more item or pair, all present, is refused.
  body = packed([](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("k"));
    p.pack_array(static_cast<std::uint32_t>(kMaxArrayItems + 1));
    for (std::size_t i = 0; i <= kMaxArrayItems; ++i) p.pack_nil();
  });
  expect_too_large(frame_with_body(body), "array of 65537 items");
  body = packed([](Packer& p) {
    p.pack_map(static_cast<std::uint32_t>(kMaxMapPairs + 1));
    for (std::size_t i = 0; i <= kMaxMapPairs; ++i) {
      p.pack(static_cast<std::uint64_t>(i));
      p.pack_nil();
    }
  });
  expect_too_large(frame_with_body(body), "map of 4097 pairs");
}

TEST(EnvelopeDecode, ObjectCountIsBounded) {
  // `arrays` arrays of kMaxArrayItems nils, each within its own limit, in the body {"k": [...]}.
  auto body_of = [](std::size_t arrays) {
    return packed([&](Packer& p) {
      p.pack_map(1);
      p.pack(std::string("k"));
      p.pack_array(static_cast<std::uint32_t>(arrays));
      for (std::size_t a = 0; a < arrays; ++a) {
        p.pack_array(static_cast<std::uint32_t>(kMaxArrayItems));
        for (std::size_t i = 0; i < kMaxArrayItems; ++i) p.pack_nil();
      }
    });
  };
  // Together they announce more than kMaxObjects: refused when the count passes the limit.
  const std::size_t too_many = kMaxObjects / kMaxArrayItems;
  ASSERT_GT(3 + too_many * (kMaxArrayItems + 1), kMaxObjects);
  std::string body = body_of(too_many);
  ASSERT_LE(body.size(), kMaxFrameBytes);
  expect_too_large(frame_with_body(body), "exceeds the limit of " + std::to_string(kMaxObjects));
  // One array fewer stays under the limit.
  ASSERT_LE(3 + (too_many - 1) * (kMaxArrayItems + 1), kMaxObjects);
  EXPECT_TRUE(decode_envelope(frame_with_body(body_of(too_many - 1))).ok());
}

TEST(EnvelopeDecode, NestingLimitIsExact) {
  // The body map is level 1; kMaxNestingDepth levels decode, one more is bad_shape.
  const std::string ok_body = std::string("\x81\xa1k", 3) +
                              std::string(kMaxNestingDepth - 1, '\x91') + '\x01';
  EXPECT_TRUE(decode_envelope(frame_with_body(ok_body)).ok());
  const std::string deep_body = std::string("\x81\xa1k", 3) +
                                std::string(kMaxNestingDepth, '\x91') + '\x01';
  expect_failure(frame_with_body(deep_body), Reason::bad_shape);
}

TEST(EnvelopeCheckMap, ReportsLimits) {
  std::string why;
  EXPECT_EQ(check_msgpack_map(std::string("\xdf\xff\xff\xff\xff", 5), &why),
            MapCheck::over_limit);
  EXPECT_NE(why.find("map of 4294967295 pairs exceeds the limit of 4096"), std::string::npos)
      << why;
  EXPECT_EQ(check_msgpack_map(std::string("\x81\xa1k\xdd\x00\x01\x00\x01", 8)),
            MapCheck::over_limit);
  // A string past kMaxStringBytes (possible in a body checked on its own, not in a frame).
  std::string big = packed([](Packer& p) {
    p.pack_map(1);
    p.pack(std::string("k"));
    p.pack(std::string(kMaxStringBytes + 1, 'x'));
  });
  why.clear();
  EXPECT_EQ(check_msgpack_map(big, &why), MapCheck::over_limit);
  EXPECT_NE(why.find("string of " + std::to_string(kMaxStringBytes + 1) + " bytes"),
            std::string::npos)
      << why;
  EXPECT_EQ(check_msgpack_map(std::string(1, '\x81') + std::string(kMaxNestingDepth, '\x91')),
            MapCheck::too_deep);
  EXPECT_EQ(check_msgpack_map(std::string("\x80", 1)), MapCheck::ok);
}

// The walk that checks frames and bodies reads the bytes front to back and reports the first
// problem it meets, as msgpack-c's parser did before it: what comes first decides the reason.
TEST(EnvelopeCheckMap, ReportsTheFirstProblemInByteOrder) {
  std::string why;
  // A map header past the limit is refused before its (absent) items could be found missing.
  EXPECT_EQ(check_msgpack_map(std::string("\xde\x13\x88", 3), &why), MapCheck::over_limit);
  EXPECT_EQ(why, "map of 5000 pairs exceeds the limit of 4096");
  EXPECT_EQ(check_msgpack_map(std::string("\x81\xa1k\xdd\x00\x01\x11\x70", 8), &why),
            MapCheck::over_limit);
  EXPECT_EQ(why, "array of 70000 items exceeds the limit of 65536");
  // Items announced within the limit but absent: truncated.
  EXPECT_EQ(check_msgpack_map(std::string("\x81\xa1k\xdc\xff\xff", 6)), MapCheck::truncated);
  // ...but a string whose payload is cut short is truncated, whatever size it announces.
  EXPECT_EQ(check_msgpack_map(std::string("\x81\xa1k\xdb\x01\x00\x00\x00xy", 10)), MapCheck::truncated);
  // An ext 32 announcing 0xffffffff bytes (plus its type byte) is truncated, not an exception.
  EXPECT_EQ(check_msgpack_map(std::string("\x81\xa1k\xc9\xff\xff\xff\xff\x01", 9)), MapCheck::truncated);
  expect_failure(std::string("\x95\x01\x05\xc9\xff\xff\xff\xff", 8), Reason::truncated);
  // 0xc1 before a nesting problem: not msgpack; nesting before 0xc1: too deep.
  EXPECT_EQ(check_msgpack_map(std::string("\x82\xa1k\xc1\xa1j", 6) + std::string(40, '\x91')),
            MapCheck::not_msgpack);
  EXPECT_EQ(check_msgpack_map(std::string(1, '\x81') + std::string("\xa1k", 2) +
                              std::string(kMaxNestingDepth, '\x91') + "\xc1"),
            MapCheck::too_deep);
  // Every scalar form, in a map that is then cut one byte short at each length.
  const std::string every = packed([](Packer& p) {
    p.pack_map(13);
    p.pack(std::string("nil")), p.pack_nil();
    p.pack(std::string("t")), p.pack(true);
    p.pack(std::string("u8")), p.pack_uint8(200);
    p.pack(std::string("u64")), p.pack_uint64(1ull << 40);
    p.pack(std::string("i8")), p.pack_int8(-100);
    p.pack(std::string("i64")), p.pack_int64(-(1ll << 40));
    p.pack(std::string("nfix")), p.pack_int8(-3);
    p.pack(std::string("f32")), p.pack_float(1.5f);
    p.pack(std::string("f64")), p.pack_double(2.25);
    p.pack(std::string("s8")), p.pack(std::string(40, 's'));
    p.pack(std::string("bin")), p.pack_bin(3), p.pack_bin_body("abc", 3);
    p.pack(std::string("ext")), p.pack_ext(2, 7), p.pack_ext_body("xy", 2);
    p.pack(std::string("fixext")), p.pack_ext(4, 9), p.pack_ext_body("abcd", 4);
  });
  EXPECT_EQ(check_msgpack_map(every), MapCheck::ok);
  for (std::size_t n = 1; n < every.size(); ++n)
    EXPECT_EQ(check_msgpack_map(std::string_view(every).substr(0, n)), MapCheck::truncated) << n;
  EXPECT_EQ(check_msgpack_map(every + "\x01"), MapCheck::trailing_bytes);
}

// Frames are what msgpack-cxx's packer writes for the five elements: the shortest form of each
// integer and of the sender's str header, whatever their size.
TEST(EnvelopeCodec, FramesAreByteForByteWhatMsgpackCxxPacks) {
  for (std::size_t sender_bytes : {0u, 1u, 31u, 32u, 255u, 256u}) {
    for (std::uint64_t msg_id : {0ull, 127ull, 128ull, 65536ull, 4294967296ull, ~0ull}) {
      for (const std::string& body : {std::string(), sample_body(), std::string(70000, '\x80')}) {
        Envelope e;
        e.kind = MessageKind::assign;
        e.msg_id = msg_id;
        e.sender = std::string(sender_bytes, 'a');
        e.body = body;
        const std::string expected = packed([&](Packer& p) {
          p.pack_array(5);
          p.pack_uint32(e.version);
          p.pack_uint8(static_cast<std::uint8_t>(e.kind));
          p.pack_uint64(e.msg_id);
          p.pack(e.sender);
          if (body.empty()) p.pack_map(0);
        }) + body;
        EXPECT_EQ(encode_envelope(e), expected) << sender_bytes << " " << msg_id << " " << body.size();
      }
    }
  }
}

// A frame written in place (head, then the body appended) is the frame encode_envelope writes.
TEST(EnvelopeCodec, HeadThenBodyIsTheEncodedFrame) {
  for (std::size_t sender_bytes : {0u, 1u, 31u, 32u, 255u, 256u, 70000u}) {
    for (std::uint64_t msg_id : {0ull, 127ull, 128ull, 255ull, 256ull, 65535ull, 65536ull,
                                 4294967295ull, 4294967296ull, ~0ull}) {
      for (int k = kMinKind; k <= kMaxKind; ++k) {
        Envelope e;
        e.kind = static_cast<MessageKind>(k);
        e.msg_id = msg_id;
        e.sender = std::string(sender_bytes, 's');
        e.body = sample_body();
        std::string frame = "prefix";  // appends after what the buffer holds
        append_envelope_head(frame, e.kind, e.msg_id, e.sender);
        frame += e.body;
        EXPECT_EQ(frame, "prefix" + encode_envelope(e)) << sender_bytes << " " << msg_id << " " << k;
      }
    }
  }
}

// The view decoder accepts and refuses exactly what the copying one does, with the same
// failures, and its views hold the same bytes.
void expect_same_decode(std::string_view frame) {
  DecodeResult copied = decode_envelope(frame);
  DecodeViewResult viewed = decode_envelope_view(frame);
  ASSERT_EQ(viewed.ok(), copied.ok()) << (copied.ok() ? "" : copied.failure().detail);
  if (copied.ok()) {
    const EnvelopeView& v = viewed.envelope();
    EXPECT_EQ(v.version, copied.envelope().version);
    EXPECT_EQ(v.kind, copied.envelope().kind);
    EXPECT_EQ(v.msg_id, copied.envelope().msg_id);
    EXPECT_EQ(v.sender, copied.envelope().sender);
    EXPECT_EQ(v.body.bytes(), copied.envelope().body);
    // Views into the frame, not copies.
    EXPECT_GE(v.body.bytes().data(), frame.data());
    EXPECT_LE(v.body.bytes().data() + v.body.bytes().size(), frame.data() + frame.size());
    EXPECT_EQ(check_msgpack_map(v.body.bytes()), MapCheck::ok);
  } else {
    EXPECT_EQ(viewed.failure().reason, copied.failure().reason);
    EXPECT_EQ(viewed.failure().detail, copied.failure().detail);
    EXPECT_EQ(viewed.failure().sender, copied.failure().sender);
    EXPECT_EQ(viewed.failure().msg_id, copied.failure().msg_id);
  }
}

TEST(EnvelopeDecodeView, AgreesWithTheCopyingDecoder) {
  expect_same_decode(encode_envelope(sample_envelope()));
  expect_same_decode(encode_envelope(Envelope{}));
  expect_same_decode("");
  expect_same_decode("\xc1");
  expect_same_decode(frame_of(uint_of(2), uint_of(4), uint_of(9), str_of("a"), empty_map()));
  expect_same_decode(frame_of(uint_of(1), uint_of(99), uint_of(9), str_of("a"), empty_map()));
  expect_same_decode(frame_of(uint_of(1), uint_of(4), uint_of(9), uint_of(3), empty_map()));
  expect_same_decode(encode_envelope(sample_envelope()) + "x");
  const std::string whole = encode_envelope(sample_envelope());
  for (std::size_t cut = 0; cut < whole.size(); ++cut) expect_same_decode(whole.substr(0, cut));
  std::mt19937_64 rng(7);
  for (int i = 0; i < 5000; ++i) {
    std::string f = whole;
    f[rng() % f.size()] = static_cast<char>(rng());
    expect_same_decode(f);
  }
}

TEST(EnvelopeCheckMap, CheckedMapOnlyForWhatCheckMsgpackMapAccepts) {
  const std::string body = sample_body();
  auto checked = check_map(body);
  ASSERT_TRUE(checked.has_value());
  EXPECT_EQ(checked->bytes(), body);
  EXPECT_FALSE(check_map("").has_value());
  EXPECT_FALSE(check_map(body + "\x01").has_value());
  EXPECT_FALSE(check_map(body.substr(0, body.size() - 1)).has_value());
  EXPECT_FALSE(check_map("\x91\x01").has_value());  // an array
}

TEST(EnvelopeDecode, NeverCrashesOnMutatedFrames) {
  std::mt19937_64 rng(20240611);
  std::vector<std::string> seeds = {encode_envelope(sample_envelope()),
                                    encode_envelope(Envelope{}),
                                    encode_envelope(sample_envelope(MessageKind::hello))};
  const auto start = std::chrono::steady_clock::now();
  std::size_t decoded = 0;
  for (int i = 0; i < 30000; ++i) {
    std::string f = seeds[rng() % seeds.size()];
    const int edits = 1 + static_cast<int>(rng() % 4);
    for (int e = 0; e < edits && !f.empty(); ++e) {
      const std::size_t at = rng() % f.size();
      switch (rng() % 5) {
        case 0: f[at] = static_cast<char>(rng()); break;                   // overwrite a byte
        case 1: f[at] = static_cast<char>(f[at] ^ (1 << (rng() % 8))); break;  // flip a bit
        case 2: f.insert(at, 1, static_cast<char>(rng())); break;          // insert
        case 3: f.erase(at, 1); break;                                     // delete
        case 4: f.resize(at); break;                                       // truncate
      }
    }
    DecodeResult r = decode_envelope(f);
    if (r.ok()) {
      ++decoded;
      // Whatever decodes must re-encode to a frame that decodes the same.
      DecodeResult again = decode_envelope(encode_envelope(r.envelope()));
      ASSERT_TRUE(again.ok());
      EXPECT_EQ(again.envelope().body, r.envelope().body);
      EXPECT_EQ(again.envelope().sender, r.envelope().sender);
      EXPECT_EQ(again.envelope().msg_id, r.envelope().msg_id);
    } else {
      EXPECT_NE(reason_name(r.failure().reason), std::string("unknown"));
    }
  }
  EXPECT_GT(decoded, 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(2));
}

TEST(EnvelopeNames, KindAndReasonNames) {
  EXPECT_STREQ(kind_name(MessageKind::hello), "HELLO");
  EXPECT_STREQ(kind_name(MessageKind::welcome), "WELCOME");
  EXPECT_STREQ(kind_name(MessageKind::heartbeat), "HEARTBEAT");
  EXPECT_STREQ(kind_name(MessageKind::assign), "ASSIGN");
  EXPECT_STREQ(kind_name(MessageKind::result), "RESULT");
  EXPECT_STREQ(kind_name(MessageKind::ack), "ACK");
  EXPECT_STREQ(kind_name(MessageKind::error), "ERROR");
  EXPECT_STREQ(kind_name(MessageKind::bye), "BYE");
  EXPECT_STREQ(kind_name(MessageKind::cancel), "CANCEL");
  EXPECT_STREQ(kind_name(static_cast<MessageKind>(42)), "UNKNOWN");

  EXPECT_STREQ(reason_name(Reason::too_large), "too_large");
  EXPECT_STREQ(reason_name(Reason::truncated), "truncated");
  EXPECT_STREQ(reason_name(Reason::not_msgpack), "not_msgpack");
  EXPECT_STREQ(reason_name(Reason::bad_shape), "bad_shape");
  EXPECT_STREQ(reason_name(Reason::bad_version), "bad_version");
  EXPECT_STREQ(reason_name(Reason::unknown_kind), "unknown_kind");
}

}  // namespace
}  // namespace cadre::transport
