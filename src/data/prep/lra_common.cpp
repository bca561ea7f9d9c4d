#include "data/prep/lra_common.hpp"

#include <algorithm>
#include <cstdio>
#include <ostream>
#include <system_error>

#include "core/error.hpp"
#include "data/store/conversion_stop.hpp"

namespace elm::prep {

namespace fs = std::filesystem;

std::string printable(std::string_view s, size_t max_chars) {
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    if (out.size() >= max_chars) {
      out += "...";
      break;
    }
    const auto c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '\\') {
      out += static_cast<char>(c);
    } else {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    }
  }
  return out;
}

fs::path task_root(const std::string& raw_dir, const std::string& folder, const std::string& probe) {
  std::error_code ec;
  const fs::path nested = fs::path(raw_dir) / folder;
  if (fs::is_directory(nested, ec)) return nested;
  if (fs::exists(fs::path(raw_dir) / probe, ec)) return fs::path(raw_dir);
  return nested;
}

void require_file(const std::string& task, const fs::path& path) {
  std::error_code ec;
  ELM_CHECK(fs::is_regular_file(path, ec), task, ": missing input file ", path.string());
}

void require_dir(const std::string& task, const fs::path& path) {
  std::error_code ec;
  ELM_CHECK(fs::is_directory(path, ec), task, ": missing input directory ", path.string());
}

LineReader::LineReader(const std::string& task, const fs::path& path) : path_(path.string()) {
  require_file(task, path);
  in_.open(path, std::ios::binary);
  ELM_CHECK(in_, task, ": cannot open ", path_);
}

bool LineReader::next(std::string& line) {
  if (!std::getline(in_, line)) {
    ELM_CHECK(!in_.bad(), path_, ": read error after line ", line_);
    return false;
  }
  ++line_;
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return true;
}

std::string LineReader::where() const { return path_ + ":" + std::to_string(line_); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool parse_int(std::string_view s, int64_t& value) {
  s = trim(s);
  bool negative = false;
  if (!s.empty() && (s.front() == '-' || s.front() == '+')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty() || s.size() > 18) return false;
  int64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  value = negative ? -v : v;
  return true;
}

Progress::Progress(std::ostream& log, std::string label, int64_t total, int64_t every)
    : log_(log), label_(std::move(label)), total_(total), every_(std::max<int64_t>(every, 1)) {}

void Progress::tick() {
  ++count_;
  if (count_ % every_ == 0) {
    log_ << label_ << ": " << count_;
    if (total_ > 0) log_ << " / " << total_ << " (" << (100 * count_ / total_) << "%)";
    log_ << '\n' << std::flush;
  }
}

std::string split_path(const std::string& task, const std::string& out_dir, const std::string& split) {
  std::error_code ec;
  fs::create_directories(out_dir, ec);
  ELM_CHECK(!ec && fs::is_directory(out_dir), task, ": cannot create output directory ", out_dir,
            ec ? ": " + ec.message() : std::string());
  return (fs::path(out_dir) / (split + ".h5")).string();
}

void convert_token_splits(const StoreInfo& base, bool two_documents, const std::vector<TokenSplitSpec>& splits,
                          const std::string& out_dir, std::ostream& log) {
  // Pass 1: parse everything, so that bad input fails before anything is written.
  std::vector<int64_t> counts(splits.size(), 0), max_lengths(splits.size(), 0);
  for (size_t s = 0; s < splits.size(); ++s) {
    log << base.task << " " << splits[s].split << ": checking " << splits[s].source << '\n' << std::flush;
    int64_t& count = counts[s];
    int64_t& max_length = max_lengths[s];
    splits[s].scan([&](const TokenSample& sample) {
      throw_if_stop_requested();
      ++count;
      max_length = std::max<int64_t>({max_length, static_cast<int64_t>(sample.a.size()),
                                      static_cast<int64_t>(sample.b.size())});
    });
    ELM_CHECK(count > 0, base.task, ": ", splits[s].source, " holds no samples");
  }

  // Pass 2: write every split under its temporary name, then commit them all.
  std::vector<std::unique_ptr<StoreWriter>> writers;
  for (size_t s = 0; s < splits.size(); ++s) {
    StoreInfo info = split_info(base, splits[s].split, splits[s].source);
    info.max_length = max_lengths[s];
    std::map<std::string, FieldType> fields{{"tokens", FieldType::UInt8}};
    if (two_documents) fields["tokens_b"] = FieldType::UInt8;
    const std::string path = split_path(base.task, out_dir, splits[s].split);
    writers.push_back(std::make_unique<StoreWriter>(path, info, fields));
    StoreWriter& writer = *writers.back();
    Progress progress(log, base.task + " " + splits[s].split, counts[s], 10000);
    int64_t written = 0;
    splits[s].scan([&](const TokenSample& sample) {
      writer.append_u8("tokens", sample.a);
      if (two_documents) writer.append_u8("tokens_b", sample.b);
      writer.end_sample(sample.label);
      ++written;
      progress.tick();
    });
    ELM_CHECK(written == counts[s], base.task, ": ", splits[s].source, " changed while it was converted");
  }
  for (size_t s = 0; s < splits.size(); ++s) {
    writers[s]->commit();
    log << base.task << " " << splits[s].split << ": wrote " << counts[s] << " samples (max length "
        << max_lengths[s] << ") to " << split_path(base.task, out_dir, splits[s].split) << '\n' << std::flush;
  }
}

StoreInfo split_info(const StoreInfo& base, const std::string& split, const std::string& source) {
  StoreInfo info = base;
  info.split = split;
  info.source = source;
  return info;
}

}  // namespace elm::prep
