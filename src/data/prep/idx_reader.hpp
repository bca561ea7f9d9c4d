#pragma once
// Reader of the IDX format of (Fashion-)MNIST (http://yann.lecun.com/exdb/mnist/):
// a big-endian uint32 magic number 0x000008NN (0x08 = unsigned byte data, NN =
// number of dimensions), NN big-endian uint32 sizes, then the data in row-major
// order. Files may be gzip-compressed (detected by the gzip magic 1f 8b, not by
// the name); they are inflated through zlib, concatenated gzip members included.
//
// Every error is a one-line ElmError naming the file: wrong magic number, file
// shorter than its header, truncated or corrupted gzip stream, data shorter or
// longer than the header's sizes say.
#include <cstdint>
#include <string>
#include <vector>

namespace elm::prep {

inline constexpr uint32_t kIdxLabelsMagic = 0x00000801;  // unsigned byte, 1 dimension
inline constexpr uint32_t kIdxImagesMagic = 0x00000803;  // unsigned byte, 3 dimensions

// The whole content of `path`, inflated when it starts with the gzip magic.
// Refuses (one-line error) to inflate more than `max_bytes`.
std::vector<uint8_t> read_maybe_gzip(const std::string& path, uint64_t max_bytes = uint64_t(1) << 32);

struct IdxImages {
  int64_t count = 0, rows = 0, cols = 0;
  std::vector<uint8_t> pixels;  // count * rows * cols, image-major, raster order
};

// An IDX3 unsigned-byte file (magic 0x00000803).
IdxImages read_idx_images(const std::string& path);
// An IDX1 unsigned-byte file (magic 0x00000801): one byte per label.
std::vector<uint8_t> read_idx_labels(const std::string& path);

}  // namespace elm::prep
