#include "data/prep/png_reader.hpp"

#include <png.h>

#include <csetjmp>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>

#include "core/error.hpp"

namespace elm::prep {
namespace {

struct DecodeContext {
  const uint8_t* data = nullptr;
  size_t size = 0;
  size_t pos = 0;
  char message[200] = {0};
};

void set_message(DecodeContext* ctx, const char* msg) {
  std::snprintf(ctx->message, sizeof ctx->message, "%s", msg ? msg : "unknown libpng error");
  // Keep the message on one line.
  for (char* p = ctx->message; *p; ++p)
    if (*p == '\n' || *p == '\r') *p = ' ';
}

void on_error(png_structp png, png_const_charp msg) {
  set_message(static_cast<DecodeContext*>(png_get_error_ptr(png)), msg);
  png_longjmp(png, 1);
}

void on_warning(png_structp, png_const_charp) {}

void read_memory(png_structp png, png_bytep out, size_t n) {
  auto* ctx = static_cast<DecodeContext*>(png_get_io_ptr(png));
  if (n > ctx->size - ctx->pos) png_error(png, "unexpected end of data (truncated PNG)");
  std::memcpy(out, ctx->data + ctx->pos, n);
  ctx->pos += n;
}

// The frame that calls setjmp holds only trivially destructible objects, so a
// longjmp out of libpng skips no destructor. Output goes to caller-owned objects.
bool decode_into(DecodeContext* ctx, GrayImage* image, std::vector<png_bytep>* rows) {
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, ctx, on_error, on_warning);
  if (!png) {
    set_message(ctx, "cannot create libpng read struct");
    return false;
  }
  png_infop info = png_create_info_struct(png);
  if (!info) {
    png_destroy_read_struct(&png, nullptr, nullptr);
    set_message(ctx, "cannot create libpng info struct");
    return false;
  }
  if (setjmp(png_jmpbuf(png))) {
    png_destroy_read_struct(&png, &info, nullptr);
    return false;
  }
  png_set_read_fn(png, ctx, read_memory);
  png_set_user_limits(png, 1u << 15, 1u << 15);
  png_read_info(png, info);

  const png_uint_32 width = png_get_image_width(png, info);
  const png_uint_32 height = png_get_image_height(png, info);
  const int color_type = png_get_color_type(png, info);
  const int bit_depth = png_get_bit_depth(png, info);
  if (static_cast<uint64_t>(width) * height > kPngMaxPixels) png_error(png, "image too large");

  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (bit_depth == 16) png_set_scale_16(png);
  if (color_type & PNG_COLOR_MASK_ALPHA) png_set_strip_alpha(png);
  if (color_type == PNG_COLOR_TYPE_PALETTE || (color_type & PNG_COLOR_MASK_COLOR)) {
    // Weights in 1/100000: red 0.299, green 0.587 (blue gets the rest, 0.114).
    png_set_rgb_to_gray_fixed(png, PNG_ERROR_ACTION_NONE, 29900, 58700);
  }
  // A tRNS chunk would become alpha on expansion; strip it as well.
  if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_strip_alpha(png);
  png_set_interlace_handling(png);
  png_read_update_info(png, info);

  if (png_get_channels(png, info) != 1 || png_get_bit_depth(png, info) != 8 ||
      png_get_rowbytes(png, info) != width)
    png_error(png, "cannot convert the image to 8-bit grayscale");

  image->width = width;
  image->height = height;
  image->pixels.resize(static_cast<size_t>(width) * height);
  rows->resize(height);
  for (png_uint_32 y = 0; y < height; ++y) (*rows)[y] = image->pixels.data() + static_cast<size_t>(y) * width;
  png_read_image(png, rows->data());
  png_read_end(png, nullptr);
  png_destroy_read_struct(&png, &info, nullptr);
  return true;
}

}  // namespace

GrayImage decode_png_gray(std::span<const uint8_t> bytes, const std::string& name) {
  ELM_CHECK(!bytes.empty(), name, ": empty PNG file");
  ELM_CHECK(bytes.size() >= 8 && png_sig_cmp(bytes.data(), 0, 8) == 0, name, ": not a PNG file (bad signature)");
  DecodeContext ctx;
  ctx.data = bytes.data();
  ctx.size = bytes.size();
  GrayImage image;
  std::vector<png_bytep> rows;
  if (!decode_into(&ctx, &image, &rows)) fail(name, ": unreadable PNG: ", ctx.message);
  return image;
}

GrayImage read_png_gray(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  ELM_CHECK(in, path, ": cannot open PNG file");
  std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  ELM_CHECK(!in.bad(), path, ": read error");
  return decode_png_gray(bytes, path);
}

}  // namespace elm::prep
