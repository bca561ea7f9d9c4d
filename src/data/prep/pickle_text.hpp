#pragma once
// Text payloads of pickles, checked and decoded in bulk (SSSE3 where the
// build allows, else word-at-a-time scalar code): the arrays of a protocol-2
// pickle written by Python 3 are latin1 text inside UTF-8, tens of MB a file.
#include <cstddef>
#include <cstdint>

namespace elm::pickle {

// `in` is the UTF-8 of text whose code points are bytes (what protocol 2 uses
// for bytes: _codecs.encode(text, 'latin1')). Decodes it into out[0, cap), or
// only counts when out is null. Returns the byte count, or -1 for invalid
// UTF-8, a code point above 255 or more than cap bytes.
int64_t decode_latin1_utf8(const uint8_t* in, size_t n, uint8_t* out, size_t cap);

// UTF-8 as Python decodes BINUNICODE ('surrogatepass': lone surrogates allowed).
bool valid_utf8(const uint8_t* s, size_t n);

}  // namespace elm::pickle
