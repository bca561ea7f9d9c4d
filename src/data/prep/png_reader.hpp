#pragma once
// PNG decoding to 8-bit grayscale with libpng. Palette and 1/2/4-bit images are
// expanded, 16-bit samples scaled to 8 bits (rounded), alpha stripped, and RGB
// converted with the ITU-R BT.601 weights (0.299, 0.587, 0.114) applied to the
// stored values. Errors (empty, truncated or corrupt data, oversized images)
// throw ElmError with one line naming `name`.
#include <cstdint>
#include <span>
#include <string>
#include <vector>

namespace elm::prep {

struct GrayImage {
  uint32_t width = 0;
  uint32_t height = 0;
  std::vector<uint8_t> pixels;  // row-major, width * height
};

// Images with more than this many pixels are rejected before allocation.
inline constexpr uint64_t kPngMaxPixels = uint64_t{1} << 26;

GrayImage decode_png_gray(std::span<const uint8_t> bytes, const std::string& name);
GrayImage read_png_gray(const std::string& path);

}  // namespace elm::prep
