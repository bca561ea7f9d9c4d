#include "data/store/dataset_store.hpp"

#include <H5Cpp.h>

#include <algorithm>
#include <atomic>
#include <bit>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <mutex>
#include <optional>
#include <thread>
#include <type_traits>
#include <utility>

#include "core/error.hpp"
#include "core/key_values.hpp"
#include "core/stop_request.hpp"
#include "data/store/chunk_codec.hpp"
#include "data/store/conversion_stop.hpp"
#include "io/hdf5_io.hpp"

namespace elm {

namespace {

constexpr const char* kFormat = "elmrun-store-1";
// Elements per chunk of fields/*/values. Reading one sample inflates every chunk
// it touches, so chunks are kept near a typical sample's size (an SHD sample is
// 1-3k events): 64 Ki-element chunks made random access 8-11x slower.
constexpr hsize_t kValuesChunk = 4 * 1024;
constexpr hsize_t kIndexChunk = 8 * 1024;     // elements per chunk of offsets and labels
constexpr int kDeflateLevel = 1;
constexpr size_t kFlushBytes = 4u << 20;      // flush a dataset's buffer once it holds this much
// Offsets of at most this many samples are read (and checked) whole at open;
// larger stores check each sample's pair when it is read.
constexpr int64_t kEagerOffsets = int64_t(1) << 22;
// No sample of any elmrun task comes near this; larger means a corrupt file.
constexpr int64_t kMaxSampleValues = int64_t(1) << 31;

// The StoreCommitGroup in force, if any (guarded by g_group_mutex).
std::mutex g_group_mutex;
StoreCommitGroup* g_group = nullptr;

// pause_store_writes_for_tests: the sample to pause at and the samples ended so far.
std::atomic<int64_t> g_pause_at_sample{0};
std::atomic<int64_t> g_samples_ended{0};

void maybe_pause_for_tests() {
  const int64_t at = g_pause_at_sample.load(std::memory_order_relaxed);
  if (at <= 0 || g_samples_ended.fetch_add(1) + 1 != at) return;
  while (!StopRequest::pending()) std::this_thread::sleep_for(std::chrono::milliseconds(2));
}

// HDF5's error-printing switch is per thread in a thread-safe build: silence it
// in every thread that touches a store (the prefetch thread included).
void quiet_this_thread() {
  thread_local bool done = false;
  if (!done) {
    H5::Exception::dontPrint();
    done = true;
  }
}

const char* type_name(FieldType t) {
  switch (t) {
    case FieldType::UInt8: return "uint8";
    case FieldType::UInt16: return "uint16";
    case FieldType::Int32: return "int32";
    case FieldType::Int64: return "int64";
    case FieldType::Float32: return "float32";
  }
  return "?";
}

size_t elem_size(FieldType t) {
  switch (t) {
    case FieldType::UInt8: return 1;
    case FieldType::UInt16: return 2;
    case FieldType::Int32: return 4;
    case FieldType::Int64: return 8;
    case FieldType::Float32: return 4;
  }
  return 1;
}

const H5::PredType& file_type(FieldType t) {
  switch (t) {
    case FieldType::UInt8: return H5::PredType::STD_U8LE;
    case FieldType::UInt16: return H5::PredType::STD_U16LE;
    case FieldType::Int32: return H5::PredType::STD_I32LE;
    case FieldType::Int64: return H5::PredType::STD_I64LE;
    case FieldType::Float32: return H5::PredType::IEEE_F32LE;
  }
  return H5::PredType::STD_U8LE;
}

// Chunks go to the file raw, so the buffer's native layout must be the file
// types' (little-endian).
static_assert(std::endian::native == std::endian::little, "the store writer assumes a little-endian host");

// A 1-D extendible dataset written in blocks: values accumulate in `buffer`
// (native layout of the memory type) and go to the file in whole chunks.
struct Appender {
  H5::DataSet ds;
  size_t elem = 1;
  hsize_t chunk = 1;
  hsize_t written = 0;          // elements already in the file
  std::vector<unsigned char> buffer;

  hsize_t buffered() const { return buffer.size() / elem; }
  hsize_t total() const { return written + buffered(); }

  void create(H5::H5File& file, const std::string& name, const H5::PredType& ftype, size_t esize,
              hsize_t chunk_elems) {
    elem = esize;
    chunk = chunk_elems;
    hsize_t dims[1] = {0}, maxdims[1] = {H5S_UNLIMITED}, cdims[1] = {chunk_elems};
    H5::DataSpace space(1, dims, maxdims);
    H5::DSetCreatPropList props;
    props.setChunk(1, cdims);
    props.setShuffle();
    props.setDeflate(kDeflateLevel);
    H5::LinkCreatPropList links;
    links.setCreateIntermediateGroup(true);
    ds = file.createDataSet(name, ftype, space, props, H5::DSetAccPropList::DEFAULT, links);
  }

  // Writes the first `n` buffered elements and drops them from the buffer.
  // The chunks are encoded on all cores (chunk_codec.hpp) and written raw;
  // `written` is always a whole number of chunks, as only the final flush
  // writes a partial chunk.
  void write_front(hsize_t n) {
    if (n == 0) return;
    throw_if_stop_requested();  // each flush encodes up to kFlushBytes on all cores
    ELM_CHECK(written % chunk == 0, "store writer: a partial chunk was flushed before the end");
    hsize_t new_size[1] = {written + n};
    ds.extend(new_size);
    const std::vector<EncodedChunk> chunks = encode_chunks(buffer.data(), n, elem, chunk, kDeflateLevel);
    for (size_t c = 0; c < chunks.size(); ++c) {
      const hsize_t offset[1] = {written + c * chunk};
      if (H5Dwrite_chunk(ds.getId(), H5P_DEFAULT, 0, offset, chunks[c].size(), chunks[c].data()) < 0)
        throw H5::DataSetIException("H5Dwrite_chunk", "cannot write chunk at element " + std::to_string(offset[0]));
    }
    written += n;
    buffer.erase(buffer.begin(), buffer.begin() + static_cast<std::ptrdiff_t>(n * elem));
  }

  // Flushes whole chunks once the buffer is large, so that no chunk is
  // written twice (a partial chunk would be re-read and re-compressed).
  void maybe_flush() {
    if (buffer.size() < kFlushBytes) return;
    write_front(buffered() / chunk * chunk);
  }

  void flush_all() { write_front(buffered()); }

  template <class T>
  void push(const T* data, size_t n) {
    const auto* bytes = reinterpret_cast<const unsigned char*>(data);
    buffer.insert(buffer.end(), bytes, bytes + n * sizeof(T));
  }
};

// String attributes are fixed-length (null-terminated), not variable-length:
// a variable-length string lives in the file's global heap, and libhdf5 1.10
// crashes (H5HG_read) on some corrupted heap references instead of failing.
void write_string_attr(H5::H5File& file, const std::string& name, const std::string& v) {
  H5::StrType type(H5::PredType::C_S1, std::max<size_t>(v.size(), 1));
  type.setStrpad(H5T_STR_NULLTERM);
  type.setCset(H5T_CSET_UTF8);
  file.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, v);
}

void write_int_attr(H5::H5File& file, const std::string& name, int64_t v) {
  file.createAttribute(name, H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR))
      .write(H5::PredType::NATIVE_INT64, &v);
}

}  // namespace

// ---------------------------------------------------------------------------
// Writer

struct StoreWriter::Impl {
  struct Field {
    std::string name;
    FieldType type;
    Appender values;
    Appender offsets;
    bool appended = false;  // this sample's append happened
  };

  // Declared first so that it is destroyed last: every dataset is closed
  // before the file is (a dataset left open would keep the file open).
  H5AtomicWriter writer;
  std::string path;
  StoreInfo info;
  std::map<std::string, Field> fields;
  Appender labels;
  int64_t samples = 0;
  bool committed = false;

  Impl(const std::string& p, const StoreInfo& i) : writer(p), path(p), info(i) {}

  Field& field(const std::string& name, const char* what) {
    auto it = fields.find(name);
    ELM_CHECK(it != fields.end(), path, ": ", what, " to undeclared field '", name, "' (sample ", samples, ")");
    ELM_CHECK(!it->second.appended, path, ": field '", name, "' appended twice in sample ", samples,
              " (call end_sample between samples)");
    ELM_CHECK(!committed, path, ": append after commit()");
    return it->second;
  }

  // Converts `values` to the field's stored type, checking each value fits.
  template <class Src>
  void append(const std::string& name, std::span<const Src> values, const char* what) {
    quiet_this_thread();
    Field& f = field(name, what);
    const size_t n = values.size();
    auto bad = [&](size_t k) {
      fail(path, ": sample ", samples, ", field '", name, "' value #", k, " = ", +values[k], " does not fit the field's type ",
           type_name(f.type));
    };
    auto convert = [&](auto tag) {
      using Dst = decltype(tag);
      if constexpr (std::is_same_v<Src, Dst>) {
        f.values.push(values.data(), n);  // nothing to convert or check
        return;
      }
      std::vector<Dst> out(n);
      for (size_t k = 0; k < n; ++k) {
        const Src v = values[k];
        if constexpr (std::is_floating_point_v<Dst>) {
          if constexpr (std::is_integral_v<Src>) {
            // Integers above 2^24 would be rounded: refuse instead.
            if (static_cast<int64_t>(static_cast<Dst>(v)) != static_cast<int64_t>(v)) bad(k);
          }
          out[k] = static_cast<Dst>(v);
        } else if constexpr (std::is_floating_point_v<Src>) {
          if (!std::isfinite(v) || v != std::trunc(v) || v < static_cast<double>(std::numeric_limits<Dst>::min()) ||
              v > static_cast<double>(std::numeric_limits<Dst>::max()))
            bad(k);
          out[k] = static_cast<Dst>(v);
        } else {
          if (std::cmp_less(v, std::numeric_limits<Dst>::min()) || std::cmp_greater(v, std::numeric_limits<Dst>::max()))
            bad(k);
          out[k] = static_cast<Dst>(v);
        }
      }
      f.values.push(out.data(), n);
    };
    switch (f.type) {
      case FieldType::UInt8: convert(uint8_t{}); break;
      case FieldType::UInt16: convert(uint16_t{}); break;
      case FieldType::Int32: convert(int32_t{}); break;
      case FieldType::Int64: convert(int64_t{}); break;
      case FieldType::Float32: convert(float{}); break;
    }
    f.appended = true;
  }

  void end_sample(int64_t label) {
    quiet_this_thread();
    maybe_pause_for_tests();
    throw_if_stop_requested();
    ELM_CHECK(!committed, path, ": end_sample after commit()");
    for (auto& [name, f] : fields)
      ELM_CHECK(f.appended, path, ": sample ", samples, " has no append for field '", name,
                "' (append an empty span for an empty field)");
    try {
      for (auto& [name, f] : fields) {
        const int64_t end = static_cast<int64_t>(f.values.total());
        f.offsets.push(&end, 1);
        f.appended = false;
        f.values.maybe_flush();
        f.offsets.maybe_flush();
      }
      labels.push(&label, 1);
      labels.maybe_flush();
    } catch (const H5::Exception& e) {
      fail(path, ": cannot write sample ", samples, ": ", e.getDetailMsg());
    }
    ++samples;
  }

  // Flushes everything and writes the attributes; StoreWriter::commit() then
  // installs the file.
  void finish() {
    quiet_this_thread();
    ELM_CHECK(!committed, path, ": commit() called twice");
    for (auto& [name, f] : fields)
      ELM_CHECK(!f.appended, path, ": commit() with an unfinished sample ", samples, " (field '", name,
                "' appended but end_sample not called)");
    try {
      H5::H5File& file = writer.file();
      for (auto& [name, f] : fields) {
        f.values.flush_all();
        f.offsets.flush_all();
        f.values.ds.close();
        f.offsets.ds.close();
      }
      labels.flush_all();
      labels.ds.close();
      info.num_samples = samples;
      write_string_attr(file, "format", kFormat);
      write_string_attr(file, "task", info.task);
      write_string_attr(file, "split", info.split);
      write_string_attr(file, "source", info.source);
      write_string_attr(file, "input_kind", info.input_kind);
      write_int_attr(file, "channels", info.channels);
      write_int_attr(file, "num_classes", info.num_classes);
      write_int_attr(file, "max_length", info.max_length);
      write_int_attr(file, "num_samples", info.num_samples);
      // The keys are listed so that the reader opens attributes by name only:
      // enumerating attributes by index crashes libhdf5 1.10 on some corrupt
      // object headers (H5A__attr_release_table frees an uninitialised table).
      std::vector<std::string> keys;
      for (const auto& [k, v] : info.extra) {
        keys.push_back(k);
        write_string_attr(file, "extra." + k, v);
      }
      write_string_attr(file, "extra_keys", join_lines(keys));
    } catch (const H5::Exception& e) {
      fail(path, ": cannot finish the store: ", e.getDetailMsg());
    }
  }
};

StoreCommitGroup::StoreCommitGroup() {
  std::lock_guard<std::mutex> lock(g_group_mutex);
  ELM_CHECK(!g_group, "internal error: a StoreCommitGroup is already in force");
  g_group = this;
}

StoreCommitGroup::~StoreCommitGroup() {
  std::lock_guard<std::mutex> lock(g_group_mutex);
  if (g_group == this) g_group = nullptr;
  for (const auto& [tmp, path] : files_) {
    std::error_code ec;
    std::filesystem::remove(tmp, ec);
  }
}

std::vector<std::string> StoreCommitGroup::commit() {
  std::lock_guard<std::mutex> lock(g_group_mutex);
  ELM_CHECK(g_group == this, "internal error: StoreCommitGroup::commit() on a group not in force");
  g_group = nullptr;
  std::vector<std::string> installed;
  while (!files_.empty()) {
    const auto [tmp, path] = files_.front();
    std::error_code ec;
    std::filesystem::rename(tmp, path, ec);
    ELM_CHECK(!ec, path, ": cannot rename from ", tmp, ": ", ec.message());
    files_.erase(files_.begin());
    installed.push_back(path);
  }
  return installed;
}

void pause_store_writes_for_tests(int64_t n) {
  g_samples_ended.store(0);
  g_pause_at_sample.store(n);
}

StoreWriter::StoreWriter(const std::string& path, const StoreInfo& info, const std::map<std::string, FieldType>& fields)
    : impl_(std::make_unique<Impl>(path, info)) {
  quiet_this_thread();
  ELM_CHECK(!fields.empty(), path, ": a store needs at least one field");
  for (const auto& [name, type] : fields) {
    ELM_CHECK(!name.empty() && name.find('/') == std::string::npos && name != "." && name != "..", path,
              ": invalid field name '", name, "'");
  }
  for (const auto& [k, v] : info.extra)
    ELM_CHECK(!k.empty() && k.find('/') == std::string::npos && k.find('\n') == std::string::npos, path, ": invalid extra attribute name '", k, "'");
  try {
    H5::H5File& file = impl_->writer.file();
    for (const auto& [name, type] : fields) {
      auto& f = impl_->fields[name];
      f.name = name;
      f.type = type;
      f.values.create(file, "fields/" + name + "/values", file_type(type), elem_size(type),
                      kValuesChunk);
      f.offsets.create(file, "fields/" + name + "/offsets", H5::PredType::STD_I64LE, 8,
                       kIndexChunk);
      const int64_t zero = 0;
      f.offsets.push(&zero, 1);
    }
    impl_->labels.create(file, "labels", H5::PredType::STD_I64LE, 8, kIndexChunk);
  } catch (const H5::Exception& e) {
    fail(path, ": cannot create the store layout: ", e.getDetailMsg());
  }
}

StoreWriter::~StoreWriter() = default;  // without commit(), H5AtomicWriter removes the temp file

void StoreWriter::append_u8(const std::string& f, std::span<const uint8_t> v) { impl_->append(f, v, "append_u8"); }
void StoreWriter::append_u16(const std::string& f, std::span<const uint16_t> v) { impl_->append(f, v, "append_u16"); }
void StoreWriter::append_i32(const std::string& f, std::span<const int32_t> v) { impl_->append(f, v, "append_i32"); }
void StoreWriter::append_f32(const std::string& f, std::span<const float> v) { impl_->append(f, v, "append_f32"); }
void StoreWriter::end_sample(int64_t label) { impl_->end_sample(label); }
int64_t StoreWriter::num_samples() const { return impl_->samples; }
void StoreWriter::commit() {
  impl_->finish();
  {
    std::lock_guard<std::mutex> lock(g_group_mutex);
    if (g_group) {
      auto& held = g_group->files_;
      const std::string& path = impl_->path;
      const bool again = std::any_of(held.begin(), held.end(), [&](const auto& f) { return f.second == path; });
      const std::string tmp = impl_->writer.release();
      if (!again) held.emplace_back(tmp, path);  // else a second writer of `path` rewrote the same temporary file
      impl_->committed = true;
      return;
    }
  }
  impl_->writer.commit();
  impl_->committed = true;
}

// ---------------------------------------------------------------------------
// Reader

struct StoreReader::Impl {
  struct Field {
    H5::DataSet values, offsets;
    int64_t values_len = 0;
    bool stored_u16 = false;             // values are unsigned 16-bit (read without conversion)
    std::vector<int64_t> offsets_cache;  // whole offsets when N is small (checked at open)
  };

  std::string path;
  H5::H5File file;
  StoreInfo info;
  std::vector<int64_t> labels;
  std::map<std::string, Field> fields;

  const Field& field(const std::string& name) const {
    auto it = fields.find(name);
    ELM_CHECK(it != fields.end(), path, ": no field '", name, "' in this store");
    return it->second;
  }

  void check_index(int64_t i) const {
    ELM_CHECK(i >= 0 && i < info.num_samples, path, ": sample ", i, " out of range [0, ", info.num_samples, ")");
  }

  // [begin, end) of sample i in field `name`, checked against the values length.
  std::pair<int64_t, int64_t> range(const std::string& name, int64_t i) const {
    check_index(i);
    const Field& f = field(name);
    int64_t b = 0, e = 0;
    if (!f.offsets_cache.empty()) {
      b = f.offsets_cache[i];
      e = f.offsets_cache[i + 1];
    } else {
      int64_t pair[2] = {0, 0};
      try {
        H5::DataSpace fspace = f.offsets.getSpace();
        hsize_t start[1] = {static_cast<hsize_t>(i)}, count[1] = {2};
        fspace.selectHyperslab(H5S_SELECT_SET, count, start);
        H5::DataSpace mspace(1, count);
        f.offsets.read(pair, H5::PredType::NATIVE_INT64, mspace, fspace);
      } catch (const H5::Exception& ex) {
        fail(path, ": field '", name, "' sample ", i, ": cannot read offsets (corrupt file?): ", ex.getDetailMsg());
      }
      b = pair[0];
      e = pair[1];
      ELM_CHECK(0 <= b && b <= e && e <= f.values_len, path, ": field '", name, "' sample ", i, ": offsets [", b, ", ",
                e, ") are not monotone or exceed the ", f.values_len, " values (corrupt file?)");
    }
    ELM_CHECK(e - b <= kMaxSampleValues, path, ": field '", name, "' sample ", i, ": implausible length ", e - b,
              " (corrupt file?)");
    return {b, e};
  }

  // Values [from, from + len) of sample i (the whole sample when len < 0).
  template <class T>
  std::vector<T> read(const std::string& name, int64_t i, const H5::PredType& mtype, int64_t from = 0,
                      int64_t len = -1) const {
    quiet_this_thread();
    auto [b, e] = range(name, i);
    if (len >= 0) {
      ELM_CHECK(from >= 0 && from <= e - b && len <= e - b - from, path, ": field '", name, "' sample ", i,
                ": range [", from, ", ", from + len, ") outside the sample's ", e - b, " values");
      b += from;
      e = b + len;
    }
    std::vector<T> out(static_cast<size_t>(e - b));
    if (out.empty()) return out;
    try {
      const Field& f = fields.at(name);
      H5::DataSpace fspace = f.values.getSpace();
      hsize_t start[1] = {static_cast<hsize_t>(b)}, count[1] = {static_cast<hsize_t>(e - b)};
      fspace.selectHyperslab(H5S_SELECT_SET, count, start);
      H5::DataSpace mspace(1, count);
      f.values.read(out.data(), mtype, mspace, fspace);
    } catch (const H5::Exception& ex) {
      fail(path, ": field '", name, "' sample ", i, ": cannot read values (corrupt file?): ", ex.getDetailMsg());
    }
    return out;
  }

  std::string string_attr(const std::string& name) const {
    ELM_CHECK(file.attrExists(name), path, ": missing attribute '", name, "' (not an elmrun store?)");
    H5::Attribute a = file.openAttribute(name);
    ELM_CHECK(a.getTypeClass() == H5T_STRING, path, ": attribute '", name, "' is not a string");
    ELM_CHECK(a.getSpace().getSimpleExtentNpoints() == 1, path, ": attribute '", name, "' is not a scalar");
    std::string v;
    a.read(a.getStrType(), v);
    return v;
  }

  int64_t int_attr(const std::string& name) const {
    ELM_CHECK(file.attrExists(name), path, ": missing attribute '", name, "'");
    H5::Attribute a = file.openAttribute(name);
    ELM_CHECK(a.getTypeClass() == H5T_INTEGER, path, ": attribute '", name, "' is not an integer");
    ELM_CHECK(a.getSpace().getSimpleExtentNpoints() == 1, path, ": attribute '", name, "' is not a scalar");
    int64_t v = 0;
    a.read(H5::PredType::NATIVE_INT64, &v);
    return v;
  }

  // 1-D length of a dataset, checking its rank.
  int64_t length_1d(const H5::DataSet& ds, const std::string& name) const {
    H5::DataSpace space = ds.getSpace();
    ELM_CHECK(space.getSimpleExtentNdims() == 1, path, ": dataset '", name, "' is not 1-D");
    hsize_t d[1] = {0};
    space.getSimpleExtentDims(d);
    ELM_CHECK(d[0] < (hsize_t(1) << 40), path, ": dataset '", name, "' declares an implausible size (corrupt file?)");
    return static_cast<int64_t>(d[0]);
  }

  // The stored type must be a plain 1/2/4/8-byte integer or a 4/8-byte float:
  // libhdf5 1.10 overruns its buffers (a crash, not an error) when reading a
  // dataset whose datatype message was corrupted into an odd size.
  void check_type(const H5::DataSet& ds, const std::string& name, bool integer_only) const {
    const H5T_class_t cls = ds.getTypeClass();
    ELM_CHECK(cls == H5T_INTEGER || (!integer_only && cls == H5T_FLOAT), path, ": dataset '", name, "' is not ",
              integer_only ? "integer" : "numeric");
    H5::DataType type = ds.getDataType();
    const size_t size = type.getSize();
    const hid_t id = type.getId();
    const size_t precision = H5Tget_precision(id);
    const int offset = H5Tget_offset(id);
    const bool size_ok = cls == H5T_FLOAT ? (size == 4 || size == 8) : (size == 1 || size == 2 || size == 4 || size == 8);
    ELM_CHECK(size_ok && precision > 0 && offset >= 0 && precision + static_cast<size_t>(offset) <= 8 * size, path,
              ": dataset '", name, "' has an unsupported element type (", size, " bytes; corrupt file?)");
  }

  int64_t read_one(const H5::DataSet& ds, int64_t at) const {
    int64_t v = 0;
    H5::DataSpace fspace = ds.getSpace();
    hsize_t start[1] = {static_cast<hsize_t>(at)}, count[1] = {1};
    fspace.selectHyperslab(H5S_SELECT_SET, count, start);
    H5::DataSpace mspace(1, count);
    ds.read(&v, H5::PredType::NATIVE_INT64, mspace, fspace);
    return v;
  }

  void open() {
    quiet_this_thread();
    {
      H5Reader probe(path);  // existence and "is HDF5" checks with its messages
      file = probe.file();
    }
    const std::string fmt = string_attr("format");
    ELM_CHECK(fmt == kFormat, path, ": format is '", fmt, "', expected '", kFormat, "'");
    info.task = string_attr("task");
    info.split = string_attr("split");
    info.source = string_attr("source");
    info.input_kind = string_attr("input_kind");
    info.channels = int_attr("channels");
    info.num_classes = int_attr("num_classes");
    info.max_length = int_attr("max_length");
    info.num_samples = int_attr("num_samples");
    const int64_t n = info.num_samples;
    ELM_CHECK(n >= 0 && n < (int64_t(1) << 32), path, ": attribute 'num_samples' = ", n, " is implausible");
    for (const std::string& key : split_lines(string_attr("extra_keys")))
      info.extra[key] = string_attr("extra." + key);

    ELM_CHECK(file.nameExists("labels"), path, ": missing dataset 'labels'");
    {
      H5::DataSet ds = file.openDataSet("labels");
      check_type(ds, "labels", true);
      const int64_t len = length_1d(ds, "labels");
      ELM_CHECK(len == n, path, ": dataset 'labels' has ", len, " entries, expected num_samples = ", n);
      labels.resize(static_cast<size_t>(n));
      if (n > 0) ds.read(labels.data(), H5::PredType::NATIVE_INT64);
    }

    ELM_CHECK(file.nameExists("fields"), path, ": missing group 'fields'");
    H5::Group group = file.openGroup("fields");
    const hsize_t nfields = group.getNumObjs();
    ELM_CHECK(nfields > 0, path, ": group 'fields' is empty");
    for (hsize_t k = 0; k < nfields; ++k) {
      const std::string name = group.getObjnameByIdx(k);
      const std::string base = "fields/" + name;
      const std::string vname = base + "/values", oname = base + "/offsets";
      ELM_CHECK(group.childObjType(name) == H5O_TYPE_GROUP, path, ": '", base, "' is not a group");
      H5::Group fg = group.openGroup(name);
      ELM_CHECK(fg.nameExists("values"), path, ": field '", name, "' has no dataset '", vname, "'");
      ELM_CHECK(fg.nameExists("offsets"), path, ": field '", name, "' has no dataset '", oname, "'");
      Field f;
      f.values = fg.openDataSet("values");
      f.offsets = fg.openDataSet("offsets");
      check_type(f.values, vname, false);
      check_type(f.offsets, oname, true);
      f.values_len = length_1d(f.values, vname);
      {
        const H5::DataType t = f.values.getDataType();
        f.stored_u16 = t.getClass() == H5T_INTEGER && t.getSize() == 2 && H5Tget_sign(t.getId()) == H5T_SGN_NONE;
      }
      const int64_t olen = length_1d(f.offsets, oname);
      ELM_CHECK(olen == n + 1, path, ": dataset '", oname, "' has ", olen, " entries, expected num_samples + 1 = ",
                n + 1);
      if (n + 1 <= kEagerOffsets) {
        f.offsets_cache.resize(static_cast<size_t>(n + 1));
        f.offsets.read(f.offsets_cache.data(), H5::PredType::NATIVE_INT64);
        const auto& o = f.offsets_cache;
        ELM_CHECK(o[0] == 0, path, ": dataset '", oname, "' starts at ", o[0], ", expected 0");
        for (int64_t i = 0; i < n; ++i)
          ELM_CHECK(o[i] <= o[i + 1], path, ": dataset '", oname, "' is not monotone at sample ", i, " (", o[i], " > ",
                    o[i + 1], ")");
        ELM_CHECK(o[n] == f.values_len, path, ": dataset '", oname, "' ends at ", o[n], " but '", vname, "' has ",
                  f.values_len, " values");
      } else {
        const int64_t first = read_one(f.offsets, 0), last = read_one(f.offsets, n);
        ELM_CHECK(first == 0, path, ": dataset '", oname, "' starts at ", first, ", expected 0");
        ELM_CHECK(last == f.values_len, path, ": dataset '", oname, "' ends at ", last, " but '", vname, "' has ",
                  f.values_len, " values");
      }
      fields.emplace(name, std::move(f));
    }
  }
};

StoreReader::StoreReader(const std::string& path) : impl_(std::make_unique<Impl>()) {
  impl_->path = path;
  try {
    impl_->open();
  } catch (const H5::Exception& e) {
    fail(path, ": not a readable elmrun store (truncated or corrupt?): ", e.getDetailMsg());
  }
}

StoreReader::~StoreReader() = default;
StoreReader::StoreReader(StoreReader&&) noexcept = default;
StoreReader& StoreReader::operator=(StoreReader&&) noexcept = default;

const StoreInfo& StoreReader::info() const { return impl_->info; }
const std::string& StoreReader::path() const { return impl_->path; }
int64_t StoreReader::num_samples() const { return impl_->info.num_samples; }
bool StoreReader::has_field(const std::string& name) const { return impl_->fields.count(name) > 0; }

int64_t StoreReader::label(int64_t i) const {
  impl_->check_index(i);
  return impl_->labels[static_cast<size_t>(i)];
}

const std::vector<int64_t>& StoreReader::labels() const { return impl_->labels; }

namespace {

// u16 fields are read in their stored width and widened here: HDF5's own
// conversion sets up (and clears) a conversion buffer on every read, which
// costs more than a typical sample's read.
std::vector<int32_t> widened(const std::vector<uint16_t>& v) { return std::vector<int32_t>(v.begin(), v.end()); }

}  // namespace

std::vector<int32_t> StoreReader::read_i32(const std::string& field, int64_t i) const {
  if (impl_->field(field).stored_u16) return widened(impl_->read<uint16_t>(field, i, H5::PredType::NATIVE_UINT16));
  return impl_->read<int32_t>(field, i, H5::PredType::NATIVE_INT32);
}

std::vector<float> StoreReader::read_f32(const std::string& field, int64_t i) const {
  return impl_->read<float>(field, i, H5::PredType::NATIVE_FLOAT);
}

std::vector<int32_t> StoreReader::read_i32_range(const std::string& field, int64_t i, int64_t begin,
                                                 int64_t count) const {
  ELM_CHECK(count >= 0, impl_->path, ": field '", field, "' sample ", i, ": negative range length ", count);
  if (impl_->field(field).stored_u16)
    return widened(impl_->read<uint16_t>(field, i, H5::PredType::NATIVE_UINT16, begin, count));
  return impl_->read<int32_t>(field, i, H5::PredType::NATIVE_INT32, begin, count);
}

std::vector<float> StoreReader::read_f32_range(const std::string& field, int64_t i, int64_t begin,
                                               int64_t count) const {
  ELM_CHECK(count >= 0, impl_->path, ": field '", field, "' sample ", i, ": negative range length ", count);
  return impl_->read<float>(field, i, H5::PredType::NATIVE_FLOAT, begin, count);
}

int64_t StoreReader::length(const std::string& field, int64_t i) const {
  quiet_this_thread();
  const auto [b, e] = impl_->range(field, i);
  return e - b;
}

}  // namespace elm
