// Reading msgpack's big-endian integers (1, 2, 4 or 8 bytes) from a buffer: shared by the
// envelope walker (transport) and the body decoders (roles), which read frames in place.
#pragma once

#include <bit>
#include <cstddef>
#include <cstdint>
#include <cstring>

namespace cadre::transport {

// The unsigned integer in the `n` bytes at `p`, most significant first. Precondition: `n` <= 8
// bytes are readable at `p`.
inline std::uint64_t read_big_endian(const unsigned char* p, std::size_t n) {
  if constexpr (std::endian::native == std::endian::little) {
    switch (n) {  // the widths msgpack uses, as single loads
      case 1: return p[0];
      case 2: return std::uint64_t{p[0]} << 8 | p[1];
      case 4: {
        std::uint32_t v;
        std::memcpy(&v, p, 4);
        return __builtin_bswap32(v);
      }
      case 8: {
        std::uint64_t v;
        std::memcpy(&v, p, 8);
        return __builtin_bswap64(v);
      }
    }
  }
  std::uint64_t v = 0;
  for (std::size_t i = 0; i < n; ++i) v = (v << 8) | p[i];
  return v;
}

}  // namespace cadre::transport
