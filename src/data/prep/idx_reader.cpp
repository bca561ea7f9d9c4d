#include "data/prep/idx_reader.hpp"

#include <zlib.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>

#include "core/error.hpp"
#include "data/store/conversion_stop.hpp"

namespace elm::prep {
namespace {

std::vector<uint8_t> read_file(const std::string& path) {
  std::error_code ec;
  ELM_CHECK(std::filesystem::is_regular_file(path, ec), path, ": no such file");
  const auto size = std::filesystem::file_size(path, ec);
  ELM_CHECK(!ec, path, ": cannot read the file size: ", ec.message());
  std::ifstream in(path, std::ios::binary);
  ELM_CHECK(in, path, ": cannot open");
  std::vector<uint8_t> data(size);
  in.read(reinterpret_cast<char*>(data.data()), std::streamsize(size));
  ELM_CHECK(in.gcount() == std::streamsize(size), path, ": read error (", in.gcount(), " of ", size, " bytes)");
  return data;
}

std::vector<uint8_t> inflate_gzip(const std::string& path, const std::vector<uint8_t>& in, uint64_t max_bytes) {
  z_stream z{};
  // 15 + 16: gzip wrapper only (the caller checked the magic).
  ELM_CHECK(inflateInit2(&z, 15 + 16) == Z_OK, path, ": zlib inflateInit2 failed");
  std::vector<uint8_t> out;
  out.reserve(std::min<uint64_t>(max_bytes, uint64_t(in.size()) * 4 + 1024));
  uint8_t buf[1 << 16];
  z.next_in = const_cast<Bytef*>(in.data());
  z.avail_in = static_cast<uInt>(in.size());  // files here are far below 4 GiB
  ELM_CHECK(in.size() <= UINT32_MAX, path, ": compressed file larger than 4 GiB");
  int rc = Z_OK;
  std::string error;
  for (;;) {
    if (const int sig = StopRequest::pending()) {
      inflateEnd(&z);
      throw ConversionInterrupted(sig);
    }
    z.next_out = buf;
    z.avail_out = sizeof buf;
    rc = inflate(&z, Z_NO_FLUSH);
    const size_t produced = sizeof buf - z.avail_out;
    if (out.size() + produced > max_bytes) {
      error = "inflates to more than " + std::to_string(max_bytes) + " bytes";
      break;
    }
    out.insert(out.end(), buf, buf + produced);
    if (rc == Z_STREAM_END) {
      if (z.avail_in == 0) break;
      // Another gzip member follows (RFC 1952 allows concatenation).
      if (inflateReset(&z) != Z_OK) {
        error = "zlib inflateReset failed";
        break;
      }
      continue;
    }
    if (rc == Z_OK) continue;
    if (rc == Z_BUF_ERROR && z.avail_in == 0) {
      error = "truncated gzip stream (input ended after " + std::to_string(in.size()) + " bytes, " +
              std::to_string(out.size()) + " bytes inflated)";
    } else {
      error = std::string("corrupted gzip stream (zlib: ") + (z.msg ? std::string(z.msg) : "error " + std::to_string(rc)) + ")";
    }
    break;
  }
  inflateEnd(&z);
  ELM_CHECK(error.empty(), path, ": ", error);
  return out;
}

uint32_t be32(const uint8_t* p) {
  return (uint32_t(p[0]) << 24) | (uint32_t(p[1]) << 16) | (uint32_t(p[2]) << 8) | uint32_t(p[3]);
}

std::string hex32(uint32_t v) {
  char s[16];
  std::snprintf(s, sizeof s, "0x%08X", v);
  return s;
}

// Checks magic and sizes; returns the header length and fills dims.
size_t parse_header(const std::string& path, const std::vector<uint8_t>& data, uint32_t magic, const char* what,
                    std::vector<uint64_t>& dims) {
  const size_t ndims = magic & 0xFF;
  const size_t header = 4 + 4 * ndims;
  ELM_CHECK(data.size() >= 4, path, ": truncated IDX file (", data.size(), " bytes, shorter than the 4-byte magic number)");
  const uint32_t got = be32(data.data());
  ELM_CHECK(got == magic, path, ": magic number ", hex32(got), ", expected ", hex32(magic), " (IDX ", what,
            ": unsigned bytes, ", ndims, " dimension", ndims == 1 ? "" : "s", ")",
            got == kIdxImagesMagic ? " - this is an IDX image file"
            : got == kIdxLabelsMagic ? " - this is an IDX label file"
                                     : "");
  ELM_CHECK(data.size() >= header, path, ": truncated IDX header (", data.size(), " of ", header, " bytes)");
  dims.clear();
  uint64_t total = 1;
  for (size_t d = 0; d < ndims; ++d) {
    dims.push_back(be32(data.data() + 4 + 4 * d));
    ELM_CHECK(dims.back() == 0 || total <= (uint64_t(1) << 40) / dims.back(), path,
              ": IDX sizes too large (more than 2^40 bytes of data)");
    total *= dims.back();
  }
  const uint64_t body = data.size() - header;
  ELM_CHECK(body >= total, path, ": truncated IDX data: the header announces ", total, " bytes, the file holds ",
            body, " after the ", header, "-byte header");
  ELM_CHECK(body == total, path, ": ", body - total, " unexpected bytes after the ", total,
            " bytes of data the IDX header announces");
  return header;
}

}  // namespace

std::vector<uint8_t> read_maybe_gzip(const std::string& path, uint64_t max_bytes) {
  std::vector<uint8_t> raw = read_file(path);
  if (raw.size() >= 2 && raw[0] == 0x1f && raw[1] == 0x8b) return inflate_gzip(path, raw, max_bytes);
  return raw;
}

IdxImages read_idx_images(const std::string& path) {
  std::vector<uint8_t> data = read_maybe_gzip(path);
  std::vector<uint64_t> dims;
  const size_t header = parse_header(path, data, kIdxImagesMagic, "images", dims);
  IdxImages im;
  im.count = int64_t(dims[0]);
  im.rows = int64_t(dims[1]);
  im.cols = int64_t(dims[2]);
  data.erase(data.begin(), data.begin() + std::ptrdiff_t(header));
  im.pixels = std::move(data);
  return im;
}

std::vector<uint8_t> read_idx_labels(const std::string& path) {
  std::vector<uint8_t> data = read_maybe_gzip(path);
  std::vector<uint64_t> dims;
  const size_t header = parse_header(path, data, kIdxLabelsMagic, "labels", dims);
  data.erase(data.begin(), data.begin() + std::ptrdiff_t(header));
  return data;
}

}  // namespace elm::prep
