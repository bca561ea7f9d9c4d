#include "data/prep/pickle_text.hpp"

#include <bit>
#include <cstring>

#ifdef __SSSE3__
#include <immintrin.h>
#endif

namespace elm::pickle {
namespace {

constexpr uint64_t kAsciiMask = 0x8080808080808080ull;


#ifdef __SSSE3__
// For each 8-bit keep mask: the kept byte positions in order (pshufb indices).
struct CompactTable {
  uint8_t index[256][8];
};
constexpr CompactTable make_compact_table() {
  CompactTable t{};
  for (int m = 0; m < 256; ++m) {
    int k = 0;
    for (int j = 0; j < 8; ++j)
      if ((m >> j) & 1) t.index[m][k++] = uint8_t(j);
    while (k < 8) t.index[m][k++] = 0x80;
  }
  return t;
}
constexpr CompactTable kCompact = make_compact_table();
#endif

// Protocol 2 writes bytes as _codecs.encode(text, 'latin1'): `in` is the UTF-8
// of text whose code points are the bytes (ASCII, or C2/C3 + a continuation
// byte). Decodes into out[0, cap), or only counts when kWrite is false.
// Returns the byte count, or -1 for invalid UTF-8, a code point above 255 or
// more than cap bytes.
template <bool kWrite>
int64_t decode_latin1_utf8_impl(const uint8_t* in, size_t n, uint8_t* out, size_t cap) {
  size_t i = 0, o = 0;
  uint64_t bad = 0;
#ifdef __SSSE3__
  // 16 bytes per step at a fixed stride, so that no load waits on the
  // previous step; a lead byte in byte 15 takes its continuation from the next
  // block (`carry`: that byte is then dropped and checked there). The payloads
  // are arrays of doubles: half the bytes are two-byte sequences, and a branch
  // per character would mispredict constantly.
  const __m128i low2 = _mm_set1_epi8(0x03), low6 = _mm_set1_epi8(0x3F), lead_mask = _mm_set1_epi8(char(0xFE)),
                lead_ok = _mm_set1_epi8(char(0xC2)), eight = _mm_set1_epi8(8);
  uint32_t carry = 0;
  while (i + 17 <= n && o + 16 <= cap) {
    const __m128i v = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i));
    const uint32_t high = uint32_t(_mm_movemask_epi8(v));
    const uint32_t lead = uint32_t(_mm_movemask_epi8(_mm_add_epi8(v, v))) & high;  // 11xxxxxx
    const uint32_t cont = high & ~lead;                                            // 10xxxxxx
    // Continuations exactly after leads, every lead C2 or C3.
    const uint32_t lead_good = uint32_t(_mm_movemask_epi8(_mm_cmpeq_epi8(_mm_and_si128(v, lead_mask), lead_ok)));
    bad |= (cont ^ (((lead << 1) | carry) & 0xFFFF)) | (lead & ~lead_good);
    const uint32_t keep = ~cont & 0xFFFF;
    if constexpr (kWrite) {
      const __m128i next = _mm_loadu_si128(reinterpret_cast<const __m128i*>(in + i + 1));
      const __m128i decoded =
          _mm_or_si128(_mm_slli_epi16(_mm_and_si128(v, low2), 6), _mm_and_si128(next, low6));
      // Non-ASCII positions take the decoded byte (continuations are dropped).
      const __m128i high_bytes = _mm_cmplt_epi8(v, _mm_setzero_si128());
      const __m128i t = _mm_or_si128(_mm_andnot_si128(high_bytes, v), _mm_and_si128(high_bytes, decoded));
      const __m128i lo = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(kCompact.index[keep & 0xFF]));
      const __m128i hi = _mm_add_epi8(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(kCompact.index[keep >> 8])), eight);
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out + o), _mm_shuffle_epi8(t, lo));
      o += size_t(std::popcount(keep & 0xFF));
      _mm_storel_epi64(reinterpret_cast<__m128i*>(out + o), _mm_shuffle_epi8(t, hi));
      o += size_t(std::popcount(keep >> 8));
    } else {
      o += size_t(std::popcount(keep));
    }
    carry = lead >> 15;
    i += 16;
  }
  if (carry) {
    // The continuation of the last block's lead (already decoded).
    if ((in[i] & 0xC0) != 0x80) return -1;
    ++i;
  }
#endif
  // The rest (and everything without SSSE3) a character at a time.
  while (i < n) {
    const uint8_t b = in[i];
    if (o >= cap) return -1;
    if (b < 0x80) {
      if constexpr (kWrite) out[o] = b;
      i += 1;
    } else {
      if (i + 1 >= n) return -1;
      const uint8_t c = in[i + 1];
      bad |= uint64_t((b & 0xFE) != 0xC2) | uint64_t((c & 0xC0) != 0x80);
      if constexpr (kWrite) out[o] = uint8_t((b << 6) | (c & 0x3F));
      i += 2;
    }
    o += 1;
  }
  if (bad) return -1;
  return int64_t(o);
}

}  // namespace

int64_t decode_latin1_utf8(const uint8_t* in, size_t n, uint8_t* out, size_t cap) {
  return out ? decode_latin1_utf8_impl<true>(in, n, out, cap) : decode_latin1_utf8_impl<false>(in, n, nullptr, cap);
}

// Python decodes BINUNICODE as UTF-8 with 'surrogatepass' (lone surrogates
// allowed).
bool valid_utf8(const uint8_t* s, size_t n) {
  size_t i = 0;
  while (i < n) {
    if (i + 8 <= n) {
      uint64_t w;
      std::memcpy(&w, s + i, 8);
      if ((w & kAsciiMask) == 0) {
        i += 8;
        continue;
      }
    }
    const uint8_t b = s[i];
    if (b < 0x80) {
      i += 1;
      continue;
    }
    size_t len;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) {
      len = 2;
    } else if (b >= 0xE0 && b <= 0xEF) {
      len = 3;
      if (b == 0xE0) lo = 0xA0;
    } else if (b >= 0xF0 && b <= 0xF4) {
      len = 4;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      return false;
    }
    if (n - i < len) return false;
    if (s[i + 1] < lo || s[i + 1] > hi) return false;
    for (size_t k = 2; k < len; ++k)
      if ((s[i + k] & 0xC0) != 0x80) return false;
    i += len;
  }
  return true;
}

}  // namespace elm::pickle
