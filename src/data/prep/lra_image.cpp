// Image: CIFAR-10 binary batches, records of 1 label byte + 1024 R + 1024 G + 1024 B.
#include <array>
#include <filesystem>
#include <fstream>
#include <ostream>

#include "core/error.hpp"
#include "data/prep/lra_common.hpp"
#include "data/prep/lra_prep.hpp"

namespace elm::prep {
namespace {

namespace fs = std::filesystem;
constexpr int64_t kPixels = 1024;

// Number of records of a batch file; errors name the file and the truncated record.
int64_t count_records(const fs::path& path) {
  require_file("image", path);
  std::error_code ec;
  const auto size = static_cast<int64_t>(fs::file_size(path, ec));
  ELM_CHECK(!ec, "image: cannot read the size of ", path.string(), ": ", ec.message());
  ELM_CHECK(size > 0, path.string(), ": empty CIFAR-10 batch file");
  ELM_CHECK(size % kCifarRecordBytes == 0, path.string(), ": size ", size, " bytes is not a multiple of ",
            kCifarRecordBytes, " (record ", size / kCifarRecordBytes, " is truncated: ", size % kCifarRecordBytes,
            " of ", kCifarRecordBytes, " bytes)");
  return size / kCifarRecordBytes;
}

// Streams the records of one file: emit(record index in file, label, gray pixels).
template <class Emit>
void scan_batch(const fs::path& path, int64_t records, Emit&& emit) {
  std::ifstream in(path, std::ios::binary);
  ELM_CHECK(in, "image: cannot open ", path.string());
  std::array<uint8_t, kCifarRecordBytes> rec{};
  std::array<uint8_t, kPixels> gray{};
  for (int64_t r = 0; r < records; ++r) {
    in.read(reinterpret_cast<char*>(rec.data()), kCifarRecordBytes);
    ELM_CHECK(in.gcount() == kCifarRecordBytes, path.string(), ": record ", r, " is truncated (read ", in.gcount(),
              " of ", kCifarRecordBytes, " bytes)");
    ELM_CHECK(rec[0] <= 9, path.string(), ": record ", r, ": label ", int(rec[0]), " is outside 0..9");
    for (int64_t p = 0; p < kPixels; ++p)
      gray[p] = cifar_gray(rec[1 + p], rec[1 + kPixels + p], rec[1 + 2 * kPixels + p]);
    emit(r, static_cast<int64_t>(rec[0]), std::span<const uint8_t>(gray));
  }
}

}  // namespace

void prep_image(const std::string& raw_dir, const std::string& out_dir, std::ostream& log) {
  const auto root = task_root(raw_dir, "cifar-10-batches-bin", "data_batch_1.bin");
  std::vector<fs::path> train_files;
  for (int b = 1; b <= 5; ++b) train_files.push_back(root / ("data_batch_" + std::to_string(b) + ".bin"));
  const fs::path test_file = root / "test_batch.bin";
  // Check every file's presence and size before writing anything.
  std::vector<int64_t> train_records;
  int64_t total_train = 0;
  for (const auto& f : train_files) {
    train_records.push_back(count_records(f));
    total_train += train_records.back();
  }
  const int64_t test_records = count_records(test_file);
  const int64_t n_valid = total_train / 10;  // LRA: train[90%:], 5000 of 50000
  const int64_t n_train = total_train - n_valid;
  ELM_CHECK(n_valid > 0, "image: ", root.string(), ": too few training records (", total_train,
            ") for a 90/10 train/valid split");

  StoreInfo base;
  base.task = "image";
  base.input_kind = "tokens";
  base.channels = 256;
  base.num_classes = 10;
  base.max_length = kPixels;
  base.extra["vocabulary"] = "gray levels 0..255";
  base.extra["encoding"] = "gray = (299 R + 587 G + 114 B + 500) / 1000 (ITU-R BT.601 luma, rounded), raster order";
  base.extra["height"] = "32";
  base.extra["width"] = "32";
  base.extra["split_rule"] = "train = first 90% of data_batch_1..5 in file order, valid = last 10%, test = test_batch";
  const std::map<std::string, FieldType> fields{{"tokens", FieldType::UInt8}};

  const std::string sources = (root / "data_batch_{1..5}.bin").string();
  StoreWriter train(split_path("image", out_dir, "train"), split_info(base, "train", sources), fields);
  StoreWriter valid(split_path("image", out_dir, "valid"), split_info(base, "valid", sources), fields);
  StoreWriter test(split_path("image", out_dir, "test"), split_info(base, "test", test_file.string()), fields);

  Progress train_progress(log, "image train+valid", total_train, 10000);
  int64_t index = 0;
  for (size_t f = 0; f < train_files.size(); ++f) {
    scan_batch(train_files[f], train_records[f], [&](int64_t, int64_t label, std::span<const uint8_t> gray) {
      StoreWriter& w = index < n_train ? train : valid;
      w.append_u8("tokens", gray);
      w.end_sample(label);
      ++index;
      train_progress.tick();
    });
  }
  Progress test_progress(log, "image test", test_records, 10000);
  scan_batch(test_file, test_records, [&](int64_t, int64_t label, std::span<const uint8_t> gray) {
    test.append_u8("tokens", gray);
    test.end_sample(label);
    test_progress.tick();
  });
  train.commit();
  valid.commit();
  test.commit();
  log << "image: wrote train " << n_train << ", valid " << n_valid << ", test " << test_records << " samples to "
      << out_dir << '\n' << std::flush;
}

}  // namespace elm::prep
