#include "data/store/chunk_codec.hpp"

#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>

#include "core/error.hpp"

namespace elm {

namespace {

void shuffle_bytes(const unsigned char* src, size_t n_elems, size_t elem, unsigned char* dst) {
  if (elem == 1) {
    std::memcpy(dst, src, n_elems);
    return;
  }
  for (size_t j = 0; j < elem; ++j) {
    unsigned char* out = dst + j * n_elems;
    const unsigned char* in = src + j;
    for (size_t i = 0; i < n_elems; ++i) out[i] = in[i * elem];
  }
}

void unshuffle_bytes(const unsigned char* src, size_t n_elems, size_t elem, unsigned char* dst) {
  if (elem == 1) {
    std::memcpy(dst, src, n_elems);
    return;
  }
  for (size_t j = 0; j < elem; ++j) {
    const unsigned char* in = src + j * n_elems;
    for (size_t i = 0; i < n_elems; ++i) dst[i * elem + j] = in[i];
  }
}

}  // namespace

std::vector<EncodedChunk> encode_chunks(const unsigned char* data, size_t count, size_t elem_size, size_t chunk_elems,
                                        int level) {
  ELM_CHECK(elem_size > 0 && chunk_elems > 0, "encode_chunks: element size and chunk size must be positive");
  const size_t n_chunks = (count + chunk_elems - 1) / chunk_elems;
  const size_t chunk_bytes = chunk_elems * elem_size;
  std::vector<EncodedChunk> out(n_chunks);
  std::atomic<int> zlib_error{Z_OK};
#pragma omp parallel if (n_chunks > 1)
  {
    // One deflate state per thread, reset between chunks: deflateInit
    // allocates and clears ~270 KB, more than a small chunk costs to compress.
    z_stream zs{};
    const int init = deflateInit(&zs, level);
    if (init != Z_OK) zlib_error = init;
    std::vector<unsigned char> padded, shuffled(chunk_bytes);
#pragma omp for schedule(dynamic, 8)
    for (size_t c = 0; c < n_chunks; ++c) {
      if (init != Z_OK) continue;
      const size_t first = c * chunk_elems;
      const size_t n = std::min(chunk_elems, count - first);
      const unsigned char* src = data + first * elem_size;
      if (n < chunk_elems) {
        padded.assign(chunk_bytes, 0);
        std::memcpy(padded.data(), src, n * elem_size);
        src = padded.data();
      }
      shuffle_bytes(src, chunk_elems, elem_size, shuffled.data());
      EncodedChunk& dst = out[c];
      dst.resize(deflateBound(&zs, chunk_bytes));
      deflateReset(&zs);
      zs.next_in = shuffled.data();
      zs.avail_in = static_cast<uInt>(chunk_bytes);
      zs.next_out = dst.data();
      zs.avail_out = static_cast<uInt>(dst.size());
      const int rc = deflate(&zs, Z_FINISH);
      if (rc != Z_STREAM_END) {
        zlib_error = rc == Z_OK ? Z_BUF_ERROR : rc;
        continue;
      }
      dst.resize(zs.total_out);
    }
    if (init == Z_OK) deflateEnd(&zs);
  }
  ELM_CHECK(zlib_error == Z_OK, "encode_chunks: zlib deflate failed (error ", zlib_error.load(), ")");
  return out;
}

std::vector<unsigned char> decode_chunk(const EncodedChunk& chunk, size_t elem_size, size_t chunk_elems) {
  const size_t chunk_bytes = chunk_elems * elem_size;
  std::vector<unsigned char> shuffled(chunk_bytes + 1), out(chunk_bytes);
  uLongf len = static_cast<uLongf>(shuffled.size());
  const int rc = uncompress(shuffled.data(), &len, chunk.data(), static_cast<uLong>(chunk.size()));
  ELM_CHECK(rc == Z_OK, "decode_chunk: corrupt zlib stream (error ", rc, ")");
  ELM_CHECK(len == chunk_bytes, "decode_chunk: chunk inflates to ", len, " bytes, expected ", chunk_bytes);
  unshuffle_bytes(shuffled.data(), chunk_elems, elem_size, out.data());
  return out;
}

}  // namespace elm
