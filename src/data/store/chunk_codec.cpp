#include "data/store/chunk_codec.hpp"

#include <zlib.h>
#ifdef ELM_HAVE_LIBDEFLATE
#include <libdeflate.h>
#endif

#include <algorithm>
#include <atomic>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

#include "core/error.hpp"

namespace elm {

namespace {

// Element-wise for the common widths: one load per element, E byte stores
// (the byte-strided loop below does not vectorise and was 5% of a NeuronIO
// conversion).
template <size_t E, class Word>
void shuffle_words(const unsigned char* src, size_t n_elems, unsigned char* dst) {
  static_assert(sizeof(Word) == E);
  for (size_t i = 0; i < n_elems; ++i) {
    Word w;
    std::memcpy(&w, src + i * E, E);
    for (size_t j = 0; j < E; ++j) dst[j * n_elems + i] = static_cast<unsigned char>(w >> (8 * j));
  }
}

void shuffle_bytes(const unsigned char* src, size_t n_elems, size_t elem, unsigned char* dst) {
  switch (elem) {
    case 1: std::memcpy(dst, src, n_elems); return;
    case 2: shuffle_words<2, uint16_t>(src, n_elems, dst); return;
    case 4: shuffle_words<4, uint32_t>(src, n_elems, dst); return;
    case 8: shuffle_words<8, uint64_t>(src, n_elems, dst); return;
    default: break;
  }
  for (size_t j = 0; j < elem; ++j) {
    unsigned char* out = dst + j * n_elems;
    const unsigned char* in = src + j;
    for (size_t i = 0; i < n_elems; ++i) out[i] = in[i * elem];
  }
}

// One thread's deflate state, producing zlib streams (HDF5's deflate filter
// format): libdeflate where available (about 1.8x faster at level 1 on store
// data), else zlib with one stream reset between chunks, since deflateInit
// allocates and clears ~270 KB, more than a small chunk costs to compress.
class ChunkCompressor {
 public:
  explicit ChunkCompressor(int level) {
#ifdef ELM_HAVE_LIBDEFLATE
    c_ = libdeflate_alloc_compressor(level);
#else
    ok_ = deflateInit(&zs_, level) == Z_OK;
#endif
  }
  ChunkCompressor(const ChunkCompressor&) = delete;
  ChunkCompressor& operator=(const ChunkCompressor&) = delete;
  ~ChunkCompressor() {
#ifdef ELM_HAVE_LIBDEFLATE
    if (c_) libdeflate_free_compressor(c_);
#else
    if (ok_) deflateEnd(&zs_);
#endif
  }

#ifdef ELM_HAVE_LIBDEFLATE
  bool ok() const { return c_ != nullptr; }
  bool compress(const unsigned char* in, size_t n, EncodedChunk& out) {
    // Into a reused buffer, then copied at its compressed size: sizing `out`
    // for the bound would clear a chunk's worth of bytes each time.
    scratch_.resize(libdeflate_zlib_compress_bound(c_, n));
    const size_t size = libdeflate_zlib_compress(c_, in, n, scratch_.data(), scratch_.size());
    out.assign(scratch_.data(), scratch_.data() + size);
    return size > 0;
  }
#else
  bool ok() const { return ok_; }
  bool compress(const unsigned char* in, size_t n, EncodedChunk& out) {
    out.resize(deflateBound(&zs_, n));
    deflateReset(&zs_);
    zs_.next_in = const_cast<unsigned char*>(in);
    zs_.avail_in = static_cast<uInt>(n);
    zs_.next_out = out.data();
    zs_.avail_out = static_cast<uInt>(out.size());
    if (deflate(&zs_, Z_FINISH) != Z_STREAM_END) return false;
    out.resize(zs_.total_out);
    return true;
  }
#endif

 private:
#ifdef ELM_HAVE_LIBDEFLATE
  libdeflate_compressor* c_ = nullptr;
  std::vector<unsigned char> scratch_;
#else
  z_stream zs_{};
  bool ok_ = false;
#endif
};

}  // namespace

std::vector<EncodedChunk> encode_chunks(const unsigned char* data, size_t count, size_t elem_size, size_t chunk_elems,
                                        int level) {
  ELM_CHECK(elem_size > 0 && chunk_elems > 0, "encode_chunks: element size and chunk size must be positive");
  const size_t n_chunks = (count + chunk_elems - 1) / chunk_elems;
  const size_t chunk_bytes = chunk_elems * elem_size;
  std::vector<EncodedChunk> out(n_chunks);
  std::atomic<bool> failed{false};
  std::atomic<size_t> next{0};
  // Plain threads rather than OpenMP: OpenMP's idle threads spin after each
  // region, which took 8% of the CPU of a conversion from the threads reading
  // pickles.
  const auto work = [&] {
    std::vector<unsigned char> padded, shuffled(chunk_bytes);
    ChunkCompressor compressor(level);
    if (!compressor.ok()) {
      failed = true;
      return;
    }
    for (size_t c = next++; c < n_chunks; c = next++) {
      const size_t first = c * chunk_elems;
      const size_t n = std::min(chunk_elems, count - first);
      const unsigned char* src = data + first * elem_size;
      if (n < chunk_elems) {
        padded.assign(chunk_bytes, 0);
        std::memcpy(padded.data(), src, n * elem_size);
        src = padded.data();
      }
      shuffle_bytes(src, chunk_elems, elem_size, shuffled.data());
      if (!compressor.compress(shuffled.data(), chunk_bytes, out[c])) failed = true;
    }
  };
  // A thread per 16 chunks (~256 KB), at most one per core.
  const size_t threads = std::min<size_t>(std::max(1u, std::thread::hardware_concurrency()), (n_chunks + 15) / 16);
  std::vector<std::thread> helpers;
  for (size_t t = 1; t < threads; ++t) helpers.emplace_back(work);
  work();
  for (auto& h : helpers) h.join();
  ELM_CHECK(!failed, "encode_chunks: deflate failed (out of memory?)");
  return out;
}

}  // namespace elm
