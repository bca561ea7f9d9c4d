#include "data/prep/fmnist_prep.hpp"

#include <algorithm>
#include <filesystem>
#include <numeric>
#include <ostream>
#include <span>
#include <vector>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/prep/idx_reader.hpp"
#include "data/prep/lra_common.hpp"
#include "data/store/dataset_store.hpp"

namespace elm::prep {
namespace {

namespace fs = std::filesystem;

// <dir>/<name>.gz, else <dir>/<name>; an error naming both when neither exists.
std::string find_input(const fs::path& dir, const std::string& name) {
  const fs::path gz = dir / (name + ".gz"), raw = dir / name;
  std::error_code ec;
  if (fs::is_regular_file(gz, ec)) return gz.string();
  if (fs::is_regular_file(raw, ec)) return raw.string();
  fail("fmnist: missing input file ", gz.string(), " (or ", raw.string(), ")");
}

struct Part {
  std::string images_path, labels_path;
  IdxImages images;
  std::vector<uint8_t> labels;
};

Part read_part(const fs::path& dir, const std::string& prefix) {
  Part p;
  p.images_path = find_input(dir, prefix + "-images-idx3-ubyte");
  p.labels_path = find_input(dir, prefix + "-labels-idx1-ubyte");
  p.images = read_idx_images(p.images_path);
  p.labels = read_idx_labels(p.labels_path);
  ELM_CHECK(p.images.rows == kFmnistSide && p.images.cols == kFmnistSide, p.images_path, ": images of ",
            p.images.rows, "x", p.images.cols, " pixels, Fashion-MNIST has ", kFmnistSide, "x", kFmnistSide);
  ELM_CHECK(p.images.count == int64_t(p.labels.size()), p.images_path, " holds ", p.images.count, " images but ",
            p.labels_path, " holds ", p.labels.size(), " labels");
  ELM_CHECK(p.images.count >= 1, p.images_path, ": no images");
  for (size_t i = 0; i < p.labels.size(); ++i)
    ELM_CHECK(p.labels[i] < kFmnistClasses, p.labels_path, ": label ", int(p.labels[i]), " of item ", i,
              " is outside 0..", kFmnistClasses - 1);
  return p;
}

}  // namespace

void prep_fmnist(const std::string& in_dir, const std::string& out_dir, std::ostream& log,
                 const FmnistPrepOptions& options) {
  const fs::path dir(in_dir);
  std::error_code ec;
  ELM_CHECK(fs::is_directory(dir, ec), "fmnist: ", in_dir, " is not a directory (expected the Fashion-MNIST IDX files, ",
            "e.g. ", kFmnistDefaultDir, " from the Debian package dataset-fashion-mnist)");
  // Read and check everything before any output exists.
  const Part train = read_part(dir, "train");
  const Part test = read_part(dir, "t10k");
  const int64_t n = train.images.count;
  ELM_CHECK(options.valid_count >= 1 && options.valid_count < n, "fmnist: valid_count ", options.valid_count,
            " must be in [1, ", n, ") (", train.images_path, " holds ", n, " images)");

  // Seeded Fisher-Yates permutation; its first valid_count entries are the valid split.
  std::vector<int64_t> perm(static_cast<size_t>(n));
  std::iota(perm.begin(), perm.end(), int64_t(0));
  RngStream rng(options.seed, kFmnistSplitStream);
  for (int64_t i = n - 1; i >= 1; --i) std::swap(perm[size_t(i)], perm[rng.below(uint64_t(i + 1))]);
  std::vector<char> is_valid(static_cast<size_t>(n), 0);
  for (int64_t k = 0; k < options.valid_count; ++k) is_valid[size_t(perm[size_t(k)])] = 1;

  StoreInfo base;
  base.task = "fmnist";
  base.input_kind = "tokens";
  base.channels = 256;
  base.num_classes = kFmnistClasses;
  base.max_length = kFmnistPixels;
  base.extra["vocabulary"] = "gray levels 0..255";
  base.extra["encoding"] = "IDX pixel value as published (0 = background), raster order";
  base.extra["height"] = std::to_string(kFmnistSide);
  base.extra["width"] = std::to_string(kFmnistSide);
  base.extra["classes"] = "T-shirt/top, Trouser, Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot";
  base.extra["split_rule"] =
      "valid = the first valid_count entries of a Fisher-Yates permutation of the training images drawn from "
      "RngStream(seed, 0x666d6e697374), train = the rest, both in file order; test = t10k in file order";
  base.extra["split_seed"] = std::to_string(options.seed);
  base.extra["valid_count"] = std::to_string(options.valid_count);
  const std::map<std::string, FieldType> fields{{"tokens", FieldType::UInt8}};
  const std::string train_source = train.images_path + ", " + train.labels_path;
  StoreWriter train_w(split_path("fmnist", out_dir, "train"), split_info(base, "train", train_source), fields);
  StoreWriter valid_w(split_path("fmnist", out_dir, "valid"), split_info(base, "valid", train_source), fields);
  StoreWriter test_w(split_path("fmnist", out_dir, "test"),
                     split_info(base, "test", test.images_path + ", " + test.labels_path), fields);

  auto image = [](const Part& p, int64_t i) {
    return std::span<const uint8_t>(p.images.pixels.data() + size_t(i) * kFmnistPixels, size_t(kFmnistPixels));
  };
  for (int64_t i = 0; i < n; ++i) {
    StoreWriter& w = is_valid[size_t(i)] ? valid_w : train_w;
    w.append_u8("tokens", image(train, i));
    w.end_sample(train.labels[size_t(i)]);
  }
  for (int64_t i = 0; i < test.images.count; ++i) {
    test_w.append_u8("tokens", image(test, i));
    test_w.end_sample(test.labels[size_t(i)]);
  }
  const int64_t n_train = train_w.num_samples(), n_valid = valid_w.num_samples(), n_test = test_w.num_samples();
  train_w.commit();
  valid_w.commit();
  test_w.commit();
  log << "fmnist: wrote train " << n_train << ", valid " << n_valid << ", test " << n_test << " samples to " << out_dir
      << " (split seed " << options.seed << ")\n"
      << std::flush;
}

}  // namespace elm::prep
