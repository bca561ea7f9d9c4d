// Pathfinder / Path-X: pathfinder<R>/<difficulty>/metadata/<i>.npy (plain text: per
// line "imgs/<i> sample_<k>.png <x> <label> ...") and the PNGs they name.
#include <algorithm>
#include <filesystem>
#include <memory>
#include <ostream>
#include <sstream>

#include "core/error.hpp"
#include "core/rng.hpp"
#include "data/prep/lra_common.hpp"
#include "data/prep/lra_prep.hpp"
#include "data/prep/png_reader.hpp"
#include "data/store/conversion_stop.hpp"

namespace elm::prep {
namespace {

namespace fs = std::filesystem;

struct Entry {
  std::string path;
  int64_t label;
  int split;  // 0 train, 1 valid, 2 test
};

constexpr int64_t kMaxWarnings = 20;

std::vector<fs::path> metadata_files(const std::string& task, const fs::path& dir) {
  require_dir(task, dir);
  std::vector<std::pair<int64_t, fs::path>> files;
  std::error_code ec;
  for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->path().extension() != ".npy") continue;
    int64_t index = 0;
    if (!parse_int(it->path().stem().string(), index)) index = INT64_MAX;  // other names last, by name
    files.emplace_back(index, it->path());
  }
  ELM_CHECK(!ec, task, ": cannot list ", dir.string(), ": ", ec.message());
  ELM_CHECK(!files.empty(), task, ": no metadata files (*.npy) in ", dir.string());
  std::sort(files.begin(), files.end());
  std::vector<fs::path> out;
  for (auto& f : files) out.push_back(f.second);
  return out;
}

void read_metadata(const std::string& task, const fs::path& base, const fs::path& file, std::vector<Entry>& entries) {
  LineReader reader(task, file);
  std::string line;
  while (reader.next(line)) {
    if (trim(line).empty()) continue;
    std::istringstream fields(line);
    std::vector<std::string> f;
    for (std::string s; fields >> s && f.size() < 4;) f.push_back(s);
    ELM_CHECK(f.size() >= 4, reader.where(), ": expected at least 4 space-separated fields (dir, file, _, label), found ",
              f.size());
    int64_t label = 0;
    ELM_CHECK(parse_int(f[3], label) && (label == 0 || label == 1), reader.where(),
              ": label (4th field) must be 0 or 1, found \"", printable(f[3]), "\"");
    ELM_CHECK(f[1].find('/') == std::string::npos && f[0].find("..") == std::string::npos && f[0][0] != '/',
              reader.where(),
              ": unexpected image path \"", printable(f[0] + "/" + f[1]), "\"");
    entries.push_back({(base / f[0] / f[1]).string(), label, 0});
  }
}

}  // namespace

void prep_pathfinder(const std::string& raw_dir, const std::string& out_dir, std::ostream& log,
                     const PathfinderOptions& options) {
  const std::string& task = options.task;
  const int res = options.resolution;
  ELM_CHECK(res == 32 || res == 64 || res == 128 || res == 256, task, ": resolution must be 32, 64, 128 or 256, got ",
            res);
  const std::string folder = "pathfinder" + std::to_string(res);
  fs::path base = task_root(raw_dir, folder, options.difficulty) / options.difficulty;
  require_dir(task, base);

  std::vector<Entry> entries;
  for (const auto& file : metadata_files(task, base / "metadata")) read_metadata(task, base, file, entries);
  const auto n = static_cast<int64_t>(entries.size());
  ELM_CHECK(n >= 10, task, ": ", (base / "metadata").string(), " lists ", n,
            " images; at least 10 are needed for an 80/10/10 split");

  // Seeded 80/10/10 split: Fisher-Yates permutation, then cut.
  std::vector<int64_t> perm(n);
  for (int64_t i = 0; i < n; ++i) perm[i] = i;
  RngStream rng(options.seed, kPathfinderSplitStream);
  for (int64_t i = n - 1; i > 0; --i) std::swap(perm[i], perm[rng.below(static_cast<uint64_t>(i + 1))]);
  const int64_t n_train = n * 8 / 10, n_valid = n / 10;
  for (int64_t k = 0; k < n; ++k) entries[perm[k]].split = k < n_train ? 0 : (k < n_train + n_valid ? 1 : 2);

  const char* split_names[3] = {"train", "valid", "test"};
  StoreInfo base_info;
  base_info.task = task;
  base_info.source = base.string();
  base_info.input_kind = "tokens";
  base_info.channels = 256;
  base_info.num_classes = 2;
  base_info.max_length = static_cast<int64_t>(res) * res;
  base_info.extra["vocabulary"] = "gray levels 0..255";
  base_info.extra["encoding"] = "PNG gray value (libpng, BT.601 for color), raster order";
  base_info.extra["height"] = std::to_string(res);
  base_info.extra["width"] = std::to_string(res);
  base_info.extra["difficulty"] = options.difficulty;
  base_info.extra["split_rule"] =
      "Fisher-Yates permutation of metadata entries from RngStream(seed, 0x70617468); first 80% train, next 10% "
      "valid, rest test";
  base_info.extra["seed"] = std::to_string(options.seed);

  // StoreInfo is fixed when a writer opens, before the images are decoded, so
  // the number of skipped images goes to the log (not to the store).
  std::vector<std::unique_ptr<StoreWriter>> writers;
  const std::map<std::string, FieldType> fields{{"tokens", FieldType::UInt8}};
  for (int s = 0; s < 3; ++s) {
    const StoreInfo info = split_info(base_info, split_names[s], base_info.source);
    writers.push_back(std::make_unique<StoreWriter>(split_path(task, out_dir, info.split), info, fields));
  }

  int64_t skipped = 0;
  int64_t written[3] = {0, 0, 0};
  Progress progress(log, task, n, std::max<int64_t>(1, std::min<int64_t>(10000, n / 20)));
  for (const Entry& e : entries) {
    throw_if_stop_requested();
    GrayImage image;
    bool ok = true;
    try {
      image = read_png_gray(e.path);
    } catch (const ElmError& err) {
      ok = false;
      ++skipped;
      if (skipped <= kMaxWarnings) log << task << ": warning: skipping " << err.what() << '\n';
      if (skipped == kMaxWarnings) log << task << ": warning: further skipped images are not listed\n";
    }
    if (ok) {
      ELM_CHECK(image.width == static_cast<uint32_t>(res) && image.height == static_cast<uint32_t>(res), e.path,
                ": image is ", image.width, "x", image.height, ", expected ", res, "x", res, " for ", folder);
      writers[e.split]->append_u8("tokens", image.pixels);
      writers[e.split]->end_sample(e.label);
      ++written[e.split];
    }
    progress.tick();
  }
  for (int s = 0; s < 3; ++s)
    ELM_CHECK(written[s] > 0, task, ": split ", split_names[s], " has no readable images under ", base.string());
  for (int s = 0; s < 3; ++s) writers[s]->commit();
  log << task << ": wrote train " << written[0] << ", valid " << written[1] << ", test " << written[2]
      << " samples to " << out_dir << "; skipped " << skipped << " unreadable image" << (skipped == 1 ? "" : "s")
      << '\n'
      << std::flush;
}

void prep_pathx(const std::string& raw_dir, const std::string& out_dir, std::ostream& log) {
  PathfinderOptions options;
  options.resolution = 128;
  options.task = "pathx";
  prep_pathfinder(raw_dir, out_dir, log, options);
}

}  // namespace elm::prep
