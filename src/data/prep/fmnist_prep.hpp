#pragma once
// Fashion-MNIST (Xiao et al. 2017; Debian package dataset-fashion-mnist, files in
// /usr/share/datasets/fashion-mnist) into the dataset store, task "fmnist".
//
// Input: <in_dir>/{train,t10k}-{images-idx3,labels-idx1}-ubyte.gz (IDX files,
// data/prep/idx_reader.hpp); the uncompressed name without ".gz" is used when
// the .gz file is absent. 28x28 grayscale images, labels 0..9.
//
// Output: <out_dir>/{train,valid,test}.h5, field `tokens` (uint8, the IDX pixel
// value 0..255 as published, 0 = background, raster order, 784 per image),
// int64 labels; StoreInfo task "fmnist", input_kind "tokens", channels 256,
// num_classes 10, max_length 784.
//
// Splits: valid = options.valid_count (default 5000) images of the 60000 training
// images, chosen by a Fisher-Yates permutation of 0..N-1 (for i = N-1 down to 1:
// swap(p[i], p[below(i + 1)])) drawn from RngStream(options.seed (default 0),
// kFmnistSplitStream): the first valid_count entries of the permutation are the
// valid split, the rest train (55000). Within a split, images keep file order.
// test = the 10000 t10k images in file order.
//
// Errors are one-line ElmErrors naming the file: wrong magic number, truncated
// file (gzip or raw), image/label count mismatch, images not 28x28, label > 9,
// valid_count not below the number of training images. Every input file is read
// and checked before any output is created; the writers work under temporary
// names and rename on commit, so a failure leaves nothing under <split>.h5.
#include <cstdint>
#include <iosfwd>
#include <string>

namespace elm::prep {

inline constexpr const char* kFmnistDefaultDir = "/usr/share/datasets/fashion-mnist";
inline constexpr uint64_t kFmnistSplitStream = 0x666d6e697374ULL;  // "fmnist"
inline constexpr int64_t kFmnistSide = 28;
inline constexpr int64_t kFmnistPixels = kFmnistSide * kFmnistSide;
inline constexpr int kFmnistClasses = 10;

struct FmnistPrepOptions {
  int64_t valid_count = 5000;  // images of the training files that form the valid split
  uint64_t seed = 0;           // split permutation seed
};

void prep_fmnist(const std::string& in_dir, const std::string& out_dir, std::ostream& log,
                 const FmnistPrepOptions& options = {});

}  // namespace elm::prep
