// Text: IMDB aclImdb/{train,test}/{pos,neg}/*.txt, byte-level, truncated to 4096.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <ostream>

#include "core/error.hpp"
#include "data/prep/lra_common.hpp"
#include "data/prep/lra_prep.hpp"

namespace elm::prep {
namespace {

namespace fs = std::filesystem;

struct Review {
  int64_t id;  // <id> of <id>_<rating>.txt; -1 when the name has another form
  std::string name;
  std::string path;
  int64_t label;
};

std::vector<Review> list_reviews(const fs::path& split_dir) {
  std::vector<Review> reviews;
  for (const auto& [sub, label] : {std::pair<const char*, int64_t>{"neg", 0}, {"pos", 1}}) {
    const fs::path dir = split_dir / sub;
    require_dir("text", dir);
    std::vector<Review> part;
    std::error_code ec;
    for (fs::directory_iterator it(dir, ec), end; !ec && it != end; it.increment(ec)) {
      if (it->path().extension() != ".txt") continue;
      const std::string name = it->path().filename().string();
      int64_t id = -1;
      const size_t underscore = name.find('_');
      if (underscore == std::string::npos || !parse_int(std::string_view(name).substr(0, underscore), id)) id = -1;
      part.push_back({id, name, it->path().string(), label});
    }
    ELM_CHECK(!ec, "text: cannot list ", dir.string(), ": ", ec.message());
    std::sort(part.begin(), part.end(),
              [](const Review& x, const Review& y) { return x.id != y.id ? x.id < y.id : x.name < y.name; });
    reviews.insert(reviews.end(), part.begin(), part.end());
  }
  return reviews;
}

void scan_reviews(const std::vector<Review>& reviews, const TokenEmit& emit) {
  std::vector<uint8_t> bytes(kTextMaxBytes);
  for (const Review& review : reviews) {
    std::ifstream in(review.path, std::ios::binary);
    ELM_CHECK(in, "text: cannot open review ", review.path);
    in.read(reinterpret_cast<char*>(bytes.data()), kTextMaxBytes);
    ELM_CHECK(!in.bad(), "text: read error in ", review.path);
    const auto n = static_cast<size_t>(in.gcount());
    ELM_CHECK(n > 0, "text: ", review.path, ": empty review");
    emit(TokenSample{std::span<const uint8_t>(bytes.data(), n), {}, review.label});
  }
}

}  // namespace

void prep_text(const std::string& raw_dir, const std::string& out_dir, std::ostream& log) {
  const auto root = task_root(raw_dir, "aclImdb", "train");
  std::vector<TokenSplitSpec> splits;
  for (const char* split : {"train", "test"}) {
    const fs::path dir = root / split;
    require_dir("text", dir);
    auto reviews = std::make_shared<std::vector<Review>>(list_reviews(dir));
    ELM_CHECK(!reviews->empty(), "text: no *.txt reviews under ", (dir / "neg").string(), " and ",
              (dir / "pos").string());
    log << "text " << split << ": " << reviews->size() << " reviews under " << dir.string() << '\n';
    splits.push_back({split, dir.string(), [reviews](const TokenEmit& emit) { scan_reviews(*reviews, emit); }});
  }
  StoreInfo base;
  base.task = "text";
  base.input_kind = "tokens";
  base.channels = 256;
  base.num_classes = 2;
  base.extra["vocabulary"] = "bytes 0..255 (token id = byte value)";
  base.extra["encoding"] = "raw bytes of the review file, truncated to 4096; labels neg=0 pos=1; "
                           "order: neg then pos, by numeric review id; no valid split (LRA uses 25k/25k)";
  base.extra["truncate"] = std::to_string(kTextMaxBytes);
  convert_token_splits(base, false, splits, out_dir, log);
}

}  // namespace elm::prep
