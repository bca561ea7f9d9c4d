#include "data/prep/pickle_reader.hpp"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <bit>
#include <cerrno>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "data/prep/pickle_text.hpp"
#include "data/store/conversion_stop.hpp"

namespace elm::pickle {
namespace {

static_assert(std::endian::native == std::endian::little, "the pickle reader assumes a little-endian host");

template <class T>
T load(const uint8_t* p) {
  T v;
  std::memcpy(&v, p, sizeof v);
  return v;
}

double half_to_double(uint16_t h) {
  const int sign = h >> 15, exp = (h >> 10) & 0x1F, frac = h & 0x3FF;
  double v;
  if (exp == 0) {
    v = std::ldexp(double(frac), -24);
  } else if (exp == 31) {
    if (frac == 0) {
      v = HUGE_VAL;
    } else {
      // Keep the payload the way a float16 -> float64 cast does.
      const uint64_t bits = (uint64_t(sign) << 63) | (uint64_t(0x7FF) << 52) | (uint64_t(frac) << 42);
      return std::bit_cast<double>(bits);
    }
  } else {
    v = std::ldexp(double(frac | 0x400), exp - 25);
  }
  return sign ? -v : v;
}

template <class T>
void convert(const uint8_t* src, uint64_t count, double* out) {
  for (uint64_t k = 0; k < count; ++k) out[k] = double(load<T>(src + k * sizeof(T)));
}

bool is_text(const Object& o) { return o.kind == Kind::Str; }

bool text_equals(const Object& o, std::string_view s) {
  return o.kind == Kind::Str && o.n == s.size() && std::memcmp(o.p, s.data(), s.size()) == 0;
}

std::string_view view(const Object& o) { return {reinterpret_cast<const char*>(o.p), size_t(o.n)}; }

// A short printable excerpt of a name for reasons.
std::string printable(std::string_view s) {
  std::string r;
  for (char c : s.substr(0, 60)) r += (c >= 32 && c < 127) ? c : '?';
  return r;
}

GlobalId resolve_global(std::string_view module, std::string_view name) {
  const bool multiarray = module == "numpy.core.multiarray" || module == "numpy._core.multiarray";
  const bool numeric = module == "numpy.core.numeric" || module == "numpy._core.numeric";
  if (multiarray && name == "_reconstruct") return GlobalId::Reconstruct;
  if (multiarray && name == "scalar") return GlobalId::Scalar;
  if (numeric && name == "_frombuffer") return GlobalId::FromBuffer;
  if (module == "numpy" && name == "ndarray") return GlobalId::NdArray;
  if (module == "numpy" && name == "dtype") return GlobalId::Dtype;
  if (module == "_codecs" && name == "encode") return GlobalId::CodecsEncode;
  if ((module == "__builtin__" || module == "builtins") && name == "bytes") return GlobalId::Bytes;
  fail("unsupported global ", printable(module), ".", printable(name));
}

// numpy's dtype strings as dtype.__reduce__ writes them: kind and size ("f8",
// "i4", "b1", "U5"), optionally with a byte order.
DtypeInfo parse_dtype(std::string_view s) {
  DtypeInfo d;
  if (!s.empty() && (s[0] == '<' || s[0] == '>' || s[0] == '|' || s[0] == '=')) {
    d.byteorder = s[0];
    s.remove_prefix(1);
  }
  ELM_CHECK(s.size() >= 2 && s.size() <= 6, "unsupported numpy dtype '", printable(s), "'");
  uint64_t n = 0;
  for (char c : s.substr(1)) {
    ELM_CHECK(c >= '0' && c <= '9', "unsupported numpy dtype '", printable(s), "'");
    n = n * 10 + uint64_t(c - '0');
  }
  d.kind = s[0];
  bool ok = false;
  switch (d.kind) {
    case 'b': ok = n == 1; break;
    case 'i':
    case 'u': ok = n == 1 || n == 2 || n == 4 || n == 8; break;
    case 'f': ok = n == 2 || n == 4 || n == 8; break;
    case 'c': ok = n == 8 || n == 16; break;
    case 'S':
    case 'V': ok = n >= 1; break;
    case 'U': ok = n >= 1; n *= 4; break;
    case 'O': ok = n == 8; break;  // objects: only skipped, never read
    default: break;
  }
  ELM_CHECK(ok, "unsupported numpy dtype '", printable(s), "'");
  d.itemsize = uint32_t(n);
  return d;
}

}  // namespace

MappedFile::MappedFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  ELM_CHECK(fd >= 0, "cannot open: ", std::strerror(errno));
  struct stat st {};
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    fail("not a regular file");
  }
  size_ = size_t(st.st_size);
  if (size_ == 0) {
    ::close(fd);
    fail("empty file");
  }
  void* p = ::mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  const int err = errno;
  ::close(fd);
  ELM_CHECK(p != MAP_FAILED, "cannot map the file: ", std::strerror(err));
  // One sequential pass (MAP_POPULATE spares a page fault per page).
  ::madvise(p, size_, MADV_SEQUENTIAL | MADV_WILLNEED);
  data_ = static_cast<const uint8_t*>(p);
}

MappedFile::~MappedFile() {
  if (data_) ::munmap(const_cast<uint8_t*>(data_), size_);
}

Document::Document(const uint8_t* data, size_t size) : data_(data), size_(size) {
  // Reserved address space costs nothing until touched, and growing copies:
  // NeuronIO pickles spend about 30 bytes per object (protocol 2).
  objects_.reserve(size / 16 + 16);
  pool_.reserve(size / 16 + 16);
  run();
}

uint32_t Document::add(const Object& o) {
  ELM_CHECK(objects_.size() < kNoObject, "too many objects");
  objects_.push_back(o);
  return uint32_t(objects_.size() - 1);
}

std::span<const uint32_t> Document::items(uint32_t id) const {
  const Object& o = objects_[id];
  if (o.kind == Kind::Tuple) return {pool_.data() + o.a, size_t(o.n)};
  if (o.kind == Kind::List || o.kind == Kind::Dict) return containers_[o.a];
  return {};
}

uint32_t Document::find(uint32_t dict, std::string_view key) const {
  const auto& kv = containers_[objects_[dict].a];
  for (size_t k = kv.size(); k >= 2; k -= 2)
    if (text_equals(objects_[kv[k - 2]], key)) return kv[k - 1];
  return kNoObject;
}

uint64_t Document::str_length(uint32_t id) const {
  const Object& o = objects_[id];
  if (o.flags & kLatin1Text) return o.n;
  uint64_t n = 0;
  for (uint64_t k = 0; k < o.n; ++k) n += (o.p[k] & 0xC0) != 0x80;
  return n;
}

void Document::set_item(uint32_t container, uint32_t key, uint32_t value) {
  // Python hashes the key: only hashable kinds are accepted (tuples one level deep).
  const Object& k = objects_[key];
  auto hashable = [&](const Object& o) {
    return o.kind == Kind::None || o.kind == Kind::Bool || o.kind == Kind::Int || o.kind == Kind::Float ||
           o.kind == Kind::Str || o.kind == Kind::Bytes || o.kind == Kind::Global || o.kind == Kind::Dtype;
  };
  if (!hashable(k)) {
    ELM_CHECK(k.kind == Kind::Tuple, "unsupported dict key (an unhashable object)");
    for (uint32_t i : items(key)) ELM_CHECK(hashable(objects_[i]), "unsupported dict key (a nested tuple)");
  }
  auto& kv = containers_[container];
  kv.push_back(key);
  kv.push_back(value);
}

DtypeInfo& Document::dtype_of(uint32_t id) {
  ELM_CHECK(objects_[id].kind == Kind::Dtype, "numpy call without a dtype");
  return dtypes_[objects_[id].a];
}

// Shape tuple -> element count (and ndim, first_dim), with overflow checks.
uint64_t Document::shape_size(uint32_t shape, ArrayInfo& info) const {
  ELM_CHECK(objects_[shape].kind == Kind::Tuple, "numpy array shape is not a tuple");
  const auto dims = items(shape);
  uint64_t size = 1;
  uint32_t big_dims = 0;
  for (uint32_t d : dims) {
    const Object& o = objects_[d];
    ELM_CHECK(o.kind == Kind::Int && o.i >= 0 && !(o.flags & kUnsigned64), "bad numpy array shape");
    ELM_CHECK(!__builtin_mul_overflow(size, uint64_t(o.i), &size), "numpy array shape overflows");
    big_dims += o.i > 1;
  }
  info.ndim = uint32_t(dims.size());
  info.first_dim = dims.empty() ? 0 : uint64_t(objects_[dims[0]].i);
  info.size = size;
  info.c_order = big_dims <= 1;  // whatever the order; callers set true for C order
  return size;
}

// Attaches the payload object (bytes, Python 2 str, or protocol 2's latin1
// text) and checks its length against the shape where that costs no pass.
void Document::set_payload(ArrayInfo& info, uint32_t raw) {
  const Object& r = objects_[raw];
  if (info.dtype.kind == 'O') {
    // Object arrays pickle their elements as a list.
    ELM_CHECK(r.kind == Kind::List && containers_[r.a].size() == info.size, "bad numpy object array state");
    info.validated = true;
    return;
  }
  uint64_t nbytes;
  ELM_CHECK(!__builtin_mul_overflow(info.size, uint64_t(info.dtype.itemsize), &nbytes), "numpy array too large");
  const bool bytes = r.kind == Kind::Bytes || (r.kind == Kind::Str && (r.flags & kLatin1Text));
  ELM_CHECK(bytes, "numpy array data is not bytes");
  info.raw = raw;
  if (r.kind == Kind::Bytes && (r.flags & kFromUtf8)) {
    // 1 or 2 UTF-8 bytes per byte; the exact count is checked when decoded.
    ELM_CHECK(r.n >= nbytes && r.n / 2 <= nbytes, "numpy array data size does not match its shape");
    info.validated = false;
  } else {
    ELM_CHECK(r.n == nbytes, "numpy array data size does not match its shape");
    info.validated = true;
  }
}

uint32_t Document::reduce(uint32_t callable, uint32_t args_id) {
  const Object& c = objects_[callable];
  ELM_CHECK(c.kind == Kind::Global, "unsupported REDUCE (callable is not a known global)");
  ELM_CHECK(objects_[args_id].kind == Kind::Tuple, "REDUCE arguments are not a tuple");
  const auto args = items(args_id);
  const auto id = GlobalId(c.a);
  Object out;
  switch (id) {
    case GlobalId::Reconstruct: {
      // _reconstruct(ndarray, (0,), b'b'): an empty int8 array until BUILD.
      ELM_CHECK(args.size() == 3 && objects_[args[0]].kind == Kind::Global &&
                    GlobalId(objects_[args[0]].a) == GlobalId::NdArray,
                "unsupported numpy _reconstruct call");
      ELM_CHECK(objects_[args[1]].kind == Kind::Tuple && objects_[args[1]].n == 1, "unsupported numpy _reconstruct shape");
      const Object& dim = objects_[items(args[1])[0]];
      ELM_CHECK(dim.kind == Kind::Int && dim.i == 0, "unsupported numpy _reconstruct shape");
      // numpy writes b'b' (int8); Python 2 wrote 'b'. (As UTF-8 text, 'b' is one byte too.)
      const Object& code = objects_[args[2]];
      ELM_CHECK((code.kind == Kind::Str || code.kind == Kind::Bytes) && code.n == 1 && code.p[0] == 'b',
                "unsupported numpy _reconstruct type code");
      ArrayInfo a;
      a.dtype.kind = 'i';
      a.ndim = 1;
      a.validated = true;
      arrays_.push_back(a);
      out.kind = Kind::Array;
      out.a = uint32_t(arrays_.size() - 1);
      break;
    }
    case GlobalId::Dtype: {
      ELM_CHECK(!args.empty() && args.size() <= 3 && is_text(objects_[args[0]]), "unsupported numpy dtype call");
      dtypes_.push_back(parse_dtype(view(objects_[args[0]])));
      out.kind = Kind::Dtype;
      out.a = uint32_t(dtypes_.size() - 1);
      break;
    }
    case GlobalId::Scalar: {
      ELM_CHECK(args.size() == 2, "unsupported numpy scalar call");
      DtypeInfo& d = dtype_of(args[0]);
      d.used = true;
      ELM_CHECK(d.itemsize <= 8 && (d.byteorder != '>' || d.itemsize == 1) &&
                    (d.kind == 'b' || d.kind == 'i' || d.kind == 'u' || d.kind == 'f'),
                "unsupported numpy scalar dtype ", d.kind, d.itemsize);
      const Object& r = objects_[args[1]];
      ELM_CHECK(r.kind == Kind::Bytes || (r.kind == Kind::Str && (r.flags & kLatin1Text)), "numpy scalar data is not bytes");
      uint8_t raw[8] = {};
      if (r.kind == Kind::Bytes && (r.flags & kFromUtf8)) {
        ELM_CHECK(decode_latin1_utf8(r.p, r.n, raw, d.itemsize) == int64_t(d.itemsize), "bad numpy scalar data");
        objects_[args[1]].checked = true;
        objects_[objects_[args[1]].a].checked = true;
      } else {
        ELM_CHECK(r.n == d.itemsize, "bad numpy scalar data size");
        std::memcpy(raw, r.p, r.n);
      }
      out.flags = kNumpyScalar;
      if (d.kind == 'f') {
        out.kind = Kind::Float;
        double v;
        if (d.itemsize == 8) v = load<double>(raw);
        else if (d.itemsize == 4) v = double(load<float>(raw));
        else v = half_to_double(load<uint16_t>(raw));
        out.f = v;
      } else if (d.kind == 'b') {
        ELM_CHECK(raw[0] <= 1, "bad numpy bool scalar");
        out.kind = Kind::Bool;
        out.i = raw[0];
      } else {
        out.kind = Kind::Int;
        const uint32_t n = d.itemsize;
        if (d.kind == 'i') {
          out.i = n == 1 ? load<int8_t>(raw) : n == 2 ? load<int16_t>(raw) : n == 4 ? load<int32_t>(raw) : load<int64_t>(raw);
        } else {
          out.i = n == 1 ? int64_t(raw[0]) : n == 2 ? load<uint16_t>(raw) : n == 4 ? load<uint32_t>(raw) : load<int64_t>(raw);
          if (n == 8) out.flags |= kUnsigned64;
        }
      }
      break;
    }
    case GlobalId::FromBuffer: {
      // Protocol 5: _frombuffer(buffer, dtype, shape, order).
      ELM_CHECK(args.size() == 4, "unsupported numpy _frombuffer call");
      ArrayInfo a;
      DtypeInfo& d = dtype_of(args[1]);
      d.used = true;
      a.dtype = d;
      shape_size(args[2], a);
      const Object& order = objects_[args[3]];
      ELM_CHECK(text_equals(order, "C") || text_equals(order, "F"), "unsupported numpy _frombuffer order");
      // Fortran order matters only with two or more dimensions above 1.
      if (!text_equals(order, "F")) a.c_order = true;
      set_payload(a, args[0]);
      arrays_.push_back(a);
      out.kind = Kind::Array;
      out.a = uint32_t(arrays_.size() - 1);
      if (!a.validated) unvalidated_.push_back(out.a);
      break;
    }
    case GlobalId::CodecsEncode: {
      // Python 3's bytes under protocol 2: the text's code points are the bytes.
      ELM_CHECK(args.size() == 2 && is_text(objects_[args[0]]) &&
                    (text_equals(objects_[args[1]], "latin1") || text_equals(objects_[args[1]], "latin-1")),
                "unsupported _codecs.encode call");
      const Object& s = objects_[args[0]];
      out.kind = Kind::Bytes;
      out.p = s.p;
      out.n = s.n;
      if (!(s.flags & kLatin1Text)) {
        out.flags = kFromUtf8;
        out.a = args[0];
        const uint32_t id = add(out);
        pending_.push_back(id);
        return id;
      }
      break;
    }
    case GlobalId::Bytes: {
      ELM_CHECK(args.empty(), "unsupported bytes() call");
      out.kind = Kind::Bytes;
      out.p = data_;
      out.n = 0;
      break;
    }
    case GlobalId::NdArray:
      fail("unsupported call of numpy.ndarray");
  }
  return add(out);
}

void Document::build(uint32_t inst, uint32_t state_id) {
  Object& o = objects_[inst];
  const Object& st = objects_[state_id];
  ELM_CHECK(st.kind == Kind::Tuple, "unsupported BUILD state");
  const auto state = items(state_id);
  if (o.kind == Kind::Dtype) {
    // (3, '<', subarray, names, fields, elsize, alignment, flags[, metadata])
    DtypeInfo& d = dtypes_[o.a];
    ELM_CHECK(!d.used, "unsupported BUILD of a numpy dtype already in use");
    // Version 3 (8 items) or 4 (with metadata), what numpy has written since 2009.
    ELM_CHECK(state.size() == 8 || state.size() == 9, "unsupported numpy dtype state");
    ELM_CHECK(objects_[state[0]].kind == Kind::Int && objects_[state[0]].i == int64_t(state.size()) - 5,
              "unsupported numpy dtype state version");
    const Object& order = objects_[state[1]];
    ELM_CHECK(is_text(order) && order.n == 1 && std::strchr("<>|=", order.p[0]), "unsupported numpy dtype byte order");
    for (size_t k = 2; k <= 4; ++k) ELM_CHECK(objects_[state[k]].kind == Kind::None, "unsupported structured numpy dtype");
    // numpy applies elsize, alignment and flags from the state (flags decide
    // e.g. whether arrays hold objects): only the values numpy writes itself.
    int64_t want[3] = {-1, -1, 0};
    if (d.kind == 'O') want[2] = 63;
    if (d.kind == 'S' || d.kind == 'V') want[0] = d.itemsize, want[1] = 1;
    if (d.kind == 'U') want[0] = d.itemsize, want[1] = 4, want[2] = 8;
    for (size_t k = 0; k < 3; ++k) {
      const Object& v = objects_[state[5 + k]];
      ELM_CHECK(v.kind == Kind::Int && v.i == want[k], "unsupported numpy dtype state (size, alignment or flags)");
    }
    if (state.size() == 9) ELM_CHECK(objects_[state[8]].kind == Kind::None, "unsupported numpy dtype metadata");
    d.byteorder = char(order.p[0]);
    return;
  }
  ELM_CHECK(o.kind == Kind::Array, "unsupported BUILD (not a numpy array or dtype)");
  // ndarray.__setstate__((version, shape, dtype, is_fortran, raw)); numpy
  // also takes the 4-tuple without version.
  ELM_CHECK(state.size() == 5 || state.size() == 4, "unsupported numpy array state");
  const size_t base = state.size() - 4;
  if (base) ELM_CHECK(objects_[state[0]].kind == Kind::Int && objects_[state[0]].i == 1, "unsupported numpy array state version");
  ArrayInfo a;
  DtypeInfo& d = dtype_of(state[base + 1]);
  d.used = true;
  a.dtype = d;
  shape_size(state[base], a);
  const Object& fortran = objects_[state[base + 2]];
  ELM_CHECK(fortran.kind == Kind::Bool || fortran.kind == Kind::Int, "unsupported numpy array order flag");
  if (fortran.i == 0) a.c_order = true;
  set_payload(a, state[base + 3]);
  arrays_[o.a] = a;
  if (!a.validated) unvalidated_.push_back(o.a);
}

void Document::run() {
  const uint8_t* const begin = data_;
  const uint8_t* const end = data_ + size_;
  const uint8_t* p = begin;
  std::vector<uint32_t> stack, marks, memo;
  stack.reserve(256);
  memo.reserve(size_ / 32 + 16);
  size_t memo_count = 0;
  constexpr uint32_t kUnset = kNoObject;

  auto at_offset = [&] { return int64_t(p - begin); };
  auto need = [&](uint64_t n) {
    if (uint64_t(end - p) < n) fail("truncated at byte ", at_offset());
  };
  auto fence = [&]() -> size_t { return marks.empty() ? 0 : marks.back(); };
  auto pop = [&]() -> uint32_t {
    if (stack.size() <= fence()) fail("stack underflow at byte ", at_offset());
    const uint32_t v = stack.back();
    stack.pop_back();
    return v;
  };
  auto top = [&]() -> uint32_t {
    if (stack.size() <= fence()) fail("stack underflow at byte ", at_offset());
    return stack.back();
  };
  auto pop_mark = [&]() -> size_t {
    if (marks.empty()) fail("missing MARK at byte ", at_offset());
    const size_t m = marks.back();
    marks.pop_back();
    return m;
  };
  auto push_new = [&](const Object& o) { stack.push_back(add(o)); };
  // Ints, None and bools are immutable: small ones are made once (BININT1
  // alone is a tenth of the opcodes of a NeuronIO pickle).
  uint32_t small_ints[256];
  std::fill(std::begin(small_ints), std::end(small_ints), kNoObject);
  uint32_t constants[3] = {kNoObject, kNoObject, kNoObject};  // None, False, True
  auto push_int = [&](int64_t v) {
    if (v >= 0 && v < 256 && small_ints[v] != kNoObject) {
      stack.push_back(small_ints[v]);
      return;
    }
    Object o;
    o.kind = Kind::Int;
    o.i = v;
    push_new(o);
    if (v >= 0 && v < 256) small_ints[v] = stack.back();
  };
  auto push_constant = [&](int which) {
    if (constants[which] == kNoObject) {
      Object o;
      o.kind = which == 0 ? Kind::None : Kind::Bool;
      o.i = which == 2;
      constants[which] = add(o);
    }
    stack.push_back(constants[which]);
  };
  auto push_view = [&](Kind kind, uint8_t flags, uint64_t n) {
    need(n);
    Object o;
    o.kind = kind;
    o.flags = flags;
    o.p = p;
    o.n = n;
    p += n;
    push_new(o);
    // UTF-8 text: short (names, keys) checked now, long when copied out or
    // by validate_rest().
    if (kind == Kind::Str && !(flags & kLatin1Text)) {
      if (n <= 64) {
        ELM_CHECK(valid_utf8(o.p, n), "invalid UTF-8 in a str at byte ", at_offset());
        objects_.back().checked = true;
      } else {
        pending_.push_back(stack.back());
      }
    }
  };
  auto make_tuple = [&](size_t from) {
    Object o;
    o.kind = Kind::Tuple;
    o.a = uint32_t(pool_.size());
    o.n = stack.size() - from;
    ELM_CHECK(pool_.size() + o.n < kNoObject, "too many tuple items");
    pool_.insert(pool_.end(), stack.begin() + ptrdiff_t(from), stack.end());
    stack.resize(from);
    push_new(o);
  };
  auto new_container = [&](Kind kind, size_t from) {
    Object o;
    o.kind = kind;
    o.a = uint32_t(containers_.size());
    containers_.emplace_back(stack.begin() + ptrdiff_t(from), stack.end());
    stack.resize(from);
    push_new(o);
    return o.a;
  };
  auto memo_put = [&](uint64_t idx) {
    const uint32_t v = top();
    // Picklers number memo entries from 0, one per object: an index past the
    // file size is not from one.
    ELM_CHECK(idx <= size_, "memo index ", idx, " out of range");
    if (idx >= memo.size()) memo.resize(std::min<size_t>(std::max<size_t>(idx + 1, memo.size() * 2), size_ + 1), kUnset);
    memo_count += memo[idx] == kUnset;
    memo[idx] = v;
  };
  auto memo_get = [&](uint64_t idx) {
    if (idx >= memo.size() || memo[idx] == kUnset) fail("memo entry ", idx, " not found at byte ", at_offset());
    stack.push_back(memo[idx]);
  };
  auto read_line = [&]() -> std::string_view {
    const void* nl = std::memchr(p, '\n', size_t(end - p));
    if (!nl) fail("truncated at byte ", at_offset());
    std::string_view s(reinterpret_cast<const char*>(p), size_t(static_cast<const uint8_t*>(nl) - p));
    p = static_cast<const uint8_t*>(nl) + 1;
    return s;
  };
  auto push_global = [&](std::string_view module, std::string_view name) {
    Object o;
    o.kind = Kind::Global;
    o.a = uint32_t(resolve_global(module, name));
    push_new(o);
  };
  // Dict, list: the container just below the top `from` items.
  auto container_below = [&](size_t from, Kind kind) -> uint32_t {
    if (from == 0 || from - 1 < fence()) fail("stack underflow at byte ", at_offset());
    const Object& c = objects_[stack[from - 1]];
    ELM_CHECK(c.kind == kind, "unsupported ", kind == Kind::Dict ? "SETITEM(S) on a non-dict" : "APPEND(S) on a non-list",
              " at byte ", at_offset());
    return c.a;
  };
  auto set_items = [&](size_t from) {
    const uint32_t c = container_below(from, Kind::Dict);
    ELM_CHECK((stack.size() - from) % 2 == 0, "odd number of items for SETITEMS at byte ", at_offset());
    for (size_t k = from; k < stack.size(); k += 2) set_item(c, stack[k], stack[k + 1]);
    stack.resize(from);
  };
  auto append_items = [&](size_t from) {
    const uint32_t c = container_below(from, Kind::List);
    auto& v = containers_[c];
    v.insert(v.end(), stack.begin() + ptrdiff_t(from), stack.end());
    stack.resize(from);
  };

  need(2);
  ELM_CHECK(p[0] == 0x80, "not a protocol 2+ pickle (no PROTO opcode)");
  ELM_CHECK(p[1] >= 2 && p[1] <= 5, "unsupported pickle protocol ", int(p[1]));
  p += 2;
  // A stop signal ends the parse (a NeuronIO file is ~10^7 opcodes).
  constexpr uint32_t kStopCheckEvery = 1u << 18;
  uint32_t until_stop_check = kStopCheckEvery;
  for (;;) {
    if (p >= end) fail("truncated at byte ", at_offset(), " (no STOP)");
    if (--until_stop_check == 0) {
      until_stop_check = kStopCheckEvery;
      throw_if_stop_requested();
    }
    const uint8_t op = *p++;
    switch (op) {
      case 0x80:  // PROTO
        need(1);
        ELM_CHECK(*p <= 5, "unsupported pickle protocol ", int(*p));
        ++p;
        break;
      case 0x95:  // FRAME: framing only groups reads; the data is contiguous here.
        need(8);
        ELM_CHECK(load<uint64_t>(p) <= uint64_t(end - p - 8), "frame beyond the end of the file");
        p += 8;
        break;
      case '.': {  // STOP
        root_ = pop();
        return;
      }
      case '(':  // MARK
        marks.push_back(uint32_t(stack.size()));
        break;
      case '0':  // POP (a MARK at the top is popped instead, as CPython does)
        if (!marks.empty() && marks.back() == stack.size()) marks.pop_back();
        else pop();
        break;
      case '1':  // POP_MARK
        stack.resize(pop_mark());
        break;
      case '2':  // DUP
        stack.push_back(top());
        break;
      case 'N':
        push_constant(0);
        break;
      case 0x88:  // NEWTRUE
        push_constant(2);
        break;
      case 0x89:  // NEWFALSE
        push_constant(1);
        break;
      case 'J':
        need(4);
        push_int(load<int32_t>(p));
        p += 4;
        break;
      case 'K':
        need(1);
        push_int(*p);
        p += 1;
        break;
      case 'M':
        need(2);
        push_int(load<uint16_t>(p));
        p += 2;
        break;
      case 0x8a:    // LONG1
      case 0x8b: {  // LONG4
        uint64_t n;
        if (op == 0x8a) {
          need(1);
          n = *p++;
        } else {
          need(4);
          const int32_t len = load<int32_t>(p);
          ELM_CHECK(len >= 0, "negative LONG4 size at byte ", at_offset());
          p += 4;
          n = uint64_t(len);
        }
        need(n);
        ELM_CHECK(n <= 8, "unsupported integer wider than 64 bits at byte ", at_offset());
        // Little-endian two's complement, sign-extended.
        uint64_t v = 0;
        for (uint64_t k = 0; k < n; ++k) v |= uint64_t(p[k]) << (8 * k);
        if (n > 0 && n < 8 && (p[n - 1] & 0x80)) v |= ~uint64_t(0) << (8 * n);
        p += n;
        push_int(int64_t(v));
        break;
      }
      case 'G': {  // BINFLOAT, big-endian
        need(8);
        Object o;
        o.kind = Kind::Float;
        o.f = std::bit_cast<double>(__builtin_bswap64(load<uint64_t>(p)));
        p += 8;
        push_new(o);
        break;
      }
      case 0x8c:  // SHORT_BINUNICODE
        need(1);
        ++p;
        push_view(Kind::Str, 0, p[-1]);
        break;
      case 'X':  // BINUNICODE
        need(4);
        p += 4;
        push_view(Kind::Str, 0, load<uint32_t>(p - 4));
        break;
      case 0x8d:  // BINUNICODE8
        need(8);
        p += 8;
        push_view(Kind::Str, 0, load<uint64_t>(p - 8));
        break;
      case 'U':  // SHORT_BINSTRING (a Python 2 str)
        need(1);
        ++p;
        push_view(Kind::Str, kLatin1Text, p[-1]);
        break;
      case 'T': {  // BINSTRING
        need(4);
        const int32_t n = load<int32_t>(p);
        ELM_CHECK(n >= 0, "negative BINSTRING size at byte ", at_offset());
        p += 4;
        push_view(Kind::Str, kLatin1Text, uint64_t(n));
        break;
      }
      case 'C':  // SHORT_BINBYTES
        need(1);
        ++p;
        push_view(Kind::Bytes, 0, p[-1]);
        break;
      case 'B':  // BINBYTES
        need(4);
        p += 4;
        push_view(Kind::Bytes, 0, load<uint32_t>(p - 4));
        break;
      case 0x8e:  // BINBYTES8
      case 0x96:  // BYTEARRAY8 (only read here, so a bytes view serves)
        need(8);
        p += 8;
        push_view(Kind::Bytes, 0, load<uint64_t>(p - 8));
        break;
      case ')':
        make_tuple(stack.size());
        break;
      case 0x85:
      case 0x86:
      case 0x87: {  // TUPLE1..3
        const size_t k = op - 0x84u;
        if (stack.size() < fence() + k) fail("stack underflow at byte ", at_offset());
        make_tuple(stack.size() - k);
        break;
      }
      case 't':
        make_tuple(pop_mark());
        break;
      case ']':
        new_container(Kind::List, stack.size());
        break;
      case 'l':
        new_container(Kind::List, pop_mark());
        break;
      case '}':
        new_container(Kind::Dict, stack.size());
        break;
      case 'd': {
        const size_t from = pop_mark();
        ELM_CHECK((stack.size() - from) % 2 == 0, "odd number of items for DICT at byte ", at_offset());
        std::vector<uint32_t> kv(stack.begin() + ptrdiff_t(from), stack.end());
        stack.resize(from);
        const uint32_t c = new_container(Kind::Dict, stack.size());
        for (size_t k = 0; k < kv.size(); k += 2) set_item(c, kv[k], kv[k + 1]);
        break;
      }
      case 'a':  // APPEND
        if (stack.size() < fence() + 1) fail("stack underflow at byte ", at_offset());
        append_items(stack.size() - 1);
        break;
      case 'e':
        append_items(pop_mark());
        break;
      case 's':  // SETITEM
        if (stack.size() < fence() + 2) fail("stack underflow at byte ", at_offset());
        set_items(stack.size() - 2);
        break;
      case 'u':
        set_items(pop_mark());
        break;
      case 'c': {  // GLOBAL
        const std::string_view module = read_line();
        const std::string_view name = read_line();
        push_global(module, name);
        break;
      }
      case 0x93: {  // STACK_GLOBAL
        const uint32_t name = pop(), module = pop();
        ELM_CHECK(is_text(objects_[name]) && is_text(objects_[module]), "STACK_GLOBAL requires str at byte ", at_offset());
        push_global(view(objects_[module]), view(objects_[name]));
        break;
      }
      case 'R': {  // REDUCE
        const uint32_t args = pop(), callable = pop();
        stack.push_back(reduce(callable, args));
        break;
      }
      case 'b': {  // BUILD
        const uint32_t state = pop();
        build(top(), state);
        break;
      }
      case 'q':  // BINPUT
        need(1);
        memo_put(*p++);
        break;
      case 'r':  // LONG_BINPUT
        need(4);
        memo_put(load<uint32_t>(p));
        p += 4;
        break;
      case 0x94:  // MEMOIZE
        memo_put(memo_count);
        break;
      case 'h':  // BINGET
        need(1);
        memo_get(*p++);
        break;
      case 'j':  // LONG_BINGET
        need(4);
        memo_get(load<uint32_t>(p));
        p += 4;
        break;
      default:
        fail("unsupported pickle opcode 0x", "0123456789abcdef"[op >> 4], "0123456789abcdef"[op & 15], " at byte ",
             at_offset() - 1);
    }
  }
}

const uint8_t* Document::payload_bytes(uint32_t raw, uint64_t expected, std::vector<uint8_t>& scratch) {
  Object& r = objects_[raw];
  if (!(r.kind == Kind::Bytes && (r.flags & kFromUtf8))) return r.p;
  scratch.resize(expected);
  ELM_CHECK(decode_latin1_utf8(r.p, r.n, scratch.data(), expected) == int64_t(expected),
            "numpy array data size does not match its shape");
  r.checked = true;
  objects_[r.a].checked = true;
  return scratch.data();
}

void Document::array_to_double(uint32_t id, double* out) {
  ArrayInfo& a = arrays_[objects_[id].a];
  const DtypeInfo& d = a.dtype;
  ELM_CHECK(d.kind == 'b' || d.kind == 'i' || d.kind == 'u' || d.kind == 'f', "unsupported numpy array dtype ", d.kind,
            d.itemsize);
  ELM_CHECK(d.byteorder != '>' || d.itemsize == 1, "unsupported big-endian numpy array");
  ELM_CHECK(a.c_order, "unsupported Fortran-order numpy array");
  if (a.size == 0) return;
  const uint64_t nbytes = a.size * d.itemsize;
  const Object& r = objects_[a.raw];
  if (d.kind == 'f' && d.itemsize == 8) {
    // The common case: straight into the output, decoding on the way if needed.
    uint8_t* dst = reinterpret_cast<uint8_t*>(out);
    if (r.kind == Kind::Bytes && (r.flags & kFromUtf8)) {
      ELM_CHECK(decode_latin1_utf8(r.p, r.n, dst, nbytes) == int64_t(nbytes), "numpy array data size does not match its shape");
      objects_[a.raw].checked = true;
      objects_[r.a].checked = true;
    } else {
      std::memcpy(dst, r.p, nbytes);
    }
    a.validated = true;
    return;
  }
  const uint8_t* src = payload_bytes(a.raw, nbytes, scratch_);
  a.validated = true;
  const uint64_t n = a.size;
  switch (d.kind) {
    case 'b':
      for (uint64_t k = 0; k < n; ++k) {
        ELM_CHECK(src[k] <= 1, "bad numpy bool array value");
        out[k] = src[k];
      }
      break;
    case 'f':
      if (d.itemsize == 4) {
        convert<float>(src, n, out);
      } else {
        for (uint64_t k = 0; k < n; ++k) out[k] = half_to_double(load<uint16_t>(src + 2 * k));
      }
      break;
    case 'i':
      switch (d.itemsize) {
        case 1: convert<int8_t>(src, n, out); break;
        case 2: convert<int16_t>(src, n, out); break;
        case 4: convert<int32_t>(src, n, out); break;
        default: convert<int64_t>(src, n, out); break;
      }
      break;
    default:
      switch (d.itemsize) {
        case 1: convert<uint8_t>(src, n, out); break;
        case 2: convert<uint16_t>(src, n, out); break;
        case 4: convert<uint32_t>(src, n, out); break;
        default: convert<uint64_t>(src, n, out); break;
      }
      break;
  }
}

void Document::validate_rest() {
  for (uint32_t k : unvalidated_) {
    ArrayInfo& a = arrays_[k];
    if (a.validated) continue;
    throw_if_stop_requested();
    Object& r = objects_[a.raw];
    const uint64_t nbytes = a.size * a.dtype.itemsize;
    ELM_CHECK(decode_latin1_utf8(r.p, r.n, nullptr, nbytes) == int64_t(nbytes), "numpy array data size does not match its shape");
    r.checked = true;
    objects_[r.a].checked = true;
    a.validated = true;
  }
  // Bytes from text first: their check covers the text's UTF-8.
  for (uint32_t id : pending_) {
    Object& o = objects_[id];
    if (o.kind != Kind::Bytes || o.checked) continue;
    ELM_CHECK(decode_latin1_utf8(o.p, o.n, nullptr, o.n) >= 0, "bytes text with a code point above 255");
    o.checked = true;
    objects_[o.a].checked = true;
  }
  for (uint32_t id : pending_) {
    Object& o = objects_[id];
    if (o.kind != Kind::Str || o.checked) continue;
    ELM_CHECK(valid_utf8(o.p, o.n), "invalid UTF-8 in a str");
    o.checked = true;
  }
}

}  // namespace elm::pickle
