#include "io/hdf5_io.hpp"

#include <unistd.h>

#include "core/error.hpp"
#include "io/output_dir.hpp"

#include <algorithm>
#include <cstring>
#include <fstream>
#include <map>
#include <type_traits>

namespace elm {

namespace {

struct QuietHdf5 {
  QuietHdf5() { H5::Exception::dontPrint(); }
};

void quiet() { static const QuietHdf5 once; }

std::vector<int64_t> dims_of(const H5::DataSet& ds) {
  H5::DataSpace space = ds.getSpace();
  const int rank = space.getSimpleExtentNdims();
  std::vector<hsize_t> d(rank);
  if (rank > 0) space.getSimpleExtentDims(d.data());
  return std::vector<int64_t>(d.begin(), d.end());
}

}  // namespace

H5Reader::H5Reader(const std::string& path) : path_(path) {
  quiet();
  ELM_CHECK(std::filesystem::exists(path), path, ": no such file");
  try {
    ELM_CHECK(H5::H5File::isHdf5(path), path, ": not an HDF5 file");
    file_.openFile(path, H5F_ACC_RDONLY);
  } catch (const H5::Exception& e) {
    fail(path, ": cannot open as HDF5 (truncated or corrupt?): ", e.getDetailMsg());
  }
}

bool H5Reader::has(const std::string& object) const {
  try {
    // Walk the path so that a missing parent group is "absent", not an error.
    size_t pos = 0;
    while (true) {
      pos = object.find('/', pos + 1);
      std::string prefix = object.substr(0, pos);
      if (!file_.nameExists(prefix)) return false;
      if (pos == std::string::npos) return true;
    }
  } catch (const H5::Exception&) {
    return false;
  }
}

bool H5Reader::has_attr(const std::string& name) const {
  try {
    return file_.attrExists(name);
  } catch (const H5::Exception&) {
    return false;
  }
}

std::vector<int64_t> H5Reader::shape(const std::string& dataset) const {
  ELM_CHECK(has(dataset), path_, ": missing dataset '", dataset, "'");
  try {
    return dims_of(file_.openDataSet(dataset));
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot read dataset '", dataset, "': ", e.getDetailMsg());
  }
}

template <class T>
Array<T> H5Reader::read_as(const std::string& dataset, const H5::PredType& mem_type) const {
  ELM_CHECK(has(dataset), path_, ": missing dataset '", dataset, "'");
  try {
    H5::DataSet ds = file_.openDataSet(dataset);
    Array<T> a;
    a.shape = dims_of(ds);
    // Guard against corrupt headers declaring absurd sizes (2^32 elements is
    // far beyond any array elmrun stores in one dataset).
    int64_t n = 1;
    for (auto d : a.shape) {
      ELM_CHECK(d >= 0 && d < (int64_t(1) << 32) && n * d < (int64_t(1) << 32), path_, ": dataset '", dataset,
                "' declares an implausible size (corrupt file?)");
      n *= d;
    }
    a.data.resize(n);
    if (n == 0) return a;
    const H5T_class_t cls = ds.getTypeClass();
    if (cls == H5T_ENUM) {
      // h5py stores bool as an int8 enum {FALSE, TRUE}; its values are 0/1.
      std::vector<int8_t> raw(n);
      ds.read(raw.data(), H5::PredType::NATIVE_INT8);
      for (int64_t i = 0; i < n; ++i) a.data[i] = static_cast<T>(raw[i]);
      return a;
    }
    ELM_CHECK(cls == H5T_INTEGER || cls == H5T_FLOAT, path_, ": dataset '", dataset, "' is not numeric");
    ds.read(a.data.data(), mem_type);
    return a;
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot read dataset '", dataset, "' (truncated or corrupt?): ", e.getDetailMsg());
  }
}

Array<float> H5Reader::read_float(const std::string& d) const { return read_as<float>(d, H5::PredType::NATIVE_FLOAT); }
Array<double> H5Reader::read_double(const std::string& d) const {
  return read_as<double>(d, H5::PredType::NATIVE_DOUBLE);
}
Array<int64_t> H5Reader::read_int(const std::string& d) const {
  return read_as<int64_t>(d, H5::PredType::NATIVE_INT64);
}

std::string H5Reader::read_attr_string(const std::string& name) const {
  ELM_CHECK(has_attr(name), path_, ": missing attribute '", name, "'");
  try {
    H5::Attribute a = file_.openAttribute(name);
    ELM_CHECK(a.getTypeClass() == H5T_STRING, path_, ": attribute '", name, "' is not a string");
    std::string value;
    a.read(a.getStrType(), value);
    return value;
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot read attribute '", name, "': ", e.getDetailMsg());
  }
}

double H5Reader::read_attr_double(const std::string& name) const {
  ELM_CHECK(has_attr(name), path_, ": missing attribute '", name, "'");
  try {
    H5::Attribute a = file_.openAttribute(name);
    ELM_CHECK(a.getTypeClass() == H5T_INTEGER || a.getTypeClass() == H5T_FLOAT, path_, ": attribute '", name,
              "' is not numeric");
    double v = 0;
    a.read(H5::PredType::NATIVE_DOUBLE, &v);
    return v;
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot read attribute '", name, "': ", e.getDetailMsg());
  }
}

std::vector<std::string> H5Reader::list(const std::string& group) const {
  ELM_CHECK(has(group), path_, ": missing group '", group, "'");
  try {
    H5::Group g = file_.openGroup(group);
    std::vector<std::string> names;
    for (hsize_t i = 0; i < g.getNumObjs(); ++i) names.push_back(g.getObjnameByIdx(i));
    return names;
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot list group '", group, "': ", e.getDetailMsg());
  }
}

namespace {

// Closes an HDF5 identifier of the C API on scope exit.
struct HidCloser {
  hid_t id;
  herr_t (*close)(hid_t);
  ~HidCloser() {
    if (id >= 0) close(id);
  }
};

uint64_t decode_le(const unsigned char* p, size_t n) {
  uint64_t v = 0;
  for (size_t i = 0; i < n; ++i) v |= uint64_t(p[i]) << (8 * i);
  return v;
}

// HDF5 1.10 trusts the global heap when it reads variable-length data: a
// corrupt heap reference or collection makes H5HG_read read out of bounds and
// crash. So before HDF5 touches the heap, the references of the rows to be read
// are checked here against the file's bytes, the way HDF5 parses them: each
// non-empty row names a well-formed collection ("GCOL", version 1, inside the
// file, objects tiling it exactly) and an object of it whose size is the row's
// length times the stored base type's size. Done for contiguous datasets (what
// h5py writes by default); other layouts are read unchecked.
void check_vlen_heap_refs(const std::string& path, const std::string& dataset, hid_t file_id, hid_t ds_id,
                          int64_t rows_total, int64_t start, int64_t count, size_t base_size) {
  const auto corrupt = [&](const auto&... why) {
    fail(path, ": dataset '", dataset, "': ", why..., " (corrupt file?)");
  };
  HidCloser dcpl{H5Dget_create_plist(ds_id), H5Pclose};
  if (dcpl.id < 0 || H5Pget_layout(dcpl.id) != H5D_CONTIGUOUS) return;
  const haddr_t data_addr = H5Dget_offset(ds_id);
  if (data_addr == HADDR_UNDEF) return;  // nothing allocated: HDF5 reads fill values
  HidCloser fcpl{H5Fget_create_plist(file_id), H5Pclose};
  size_t sa = 0, ss = 0;
  hsize_t userblock = 0;
  if (fcpl.id < 0 || H5Pget_sizes(fcpl.id, &sa, &ss) < 0 || H5Pget_userblock(fcpl.id, &userblock) < 0)
    corrupt("unreadable file creation properties");
  ELM_CHECK(sa >= 2 && sa <= 8 && ss >= 2 && ss <= 8, path, ": unsupported HDF5 address sizes");
  const size_t elem = 4 + sa + 4;  // sequence length, heap collection address, object index
  const hsize_t storage = H5Dget_storage_size(ds_id);
  if (storage != hsize_t(rows_total) * elem) corrupt("raw data size ", storage, " does not match ", rows_total, " rows");

  std::ifstream in(path, std::ios::binary);
  ELM_CHECK(in, path, ": cannot open for reading");
  in.seekg(0, std::ios::end);
  const uint64_t file_size = static_cast<uint64_t>(in.tellg());
  const auto read_at = [&](uint64_t off, size_t n, std::vector<unsigned char>& buf) {
    buf.resize(n);
    if (n > file_size || off > file_size - n) corrupt("reference beyond the end of the file");
    in.seekg(static_cast<std::streamoff>(off));
    in.read(reinterpret_cast<char*>(buf.data()), static_cast<std::streamsize>(n));
    if (!in) corrupt("unreadable bytes at offset ", off);
  };
  std::vector<unsigned char> refs;
  read_at(data_addr + uint64_t(start) * elem, size_t(count) * elem, refs);

  const auto align8 = [](uint64_t x) { return (x + 7) / 8 * 8; };
  const uint64_t hdr = align8(4 + 1 + 3 + ss), objhdr = 2 + 2 + 4 + ss;
  std::map<uint64_t, std::map<uint64_t, uint64_t>> collections;  // address -> object index -> size
  std::vector<unsigned char> buf;
  for (int64_t r = 0; r < count; ++r) {
    const unsigned char* e = refs.data() + size_t(r) * elem;
    const uint64_t len = decode_le(e, 4), addr = decode_le(e + 4, sa), idx = decode_le(e + 4 + sa, 4);
    if (len == 0 || addr == 0) continue;  // HDF5 reads no heap object for these
    auto it = collections.find(addr);
    if (it == collections.end()) {
      const uint64_t abs = addr + userblock;
      read_at(abs, size_t(hdr), buf);
      if (std::memcmp(buf.data(), "GCOL", 4) != 0 || buf[4] != 1)
        corrupt("row ", start + r, " refers to a bad heap collection at ", addr);
      const uint64_t size = decode_le(buf.data() + 8, ss);
      if (size < hdr || size > (uint64_t(1) << 32)) corrupt("heap collection at ", addr, " has size ", size);
      read_at(abs, size_t(size), buf);
      std::map<uint64_t, uint64_t> objects;
      uint64_t p = hdr;
      while (p < size) {
        if (p + objhdr > size) {  // a tail too small for an object header is free space
          p = size;
          break;
        }
        const uint64_t oidx = decode_le(buf.data() + p, 2), osize = decode_le(buf.data() + p + 8, ss);
        const uint64_t need = oidx > 0 ? objhdr + align8(osize) : osize;
        if (osize > size || need < objhdr || need > size - p) corrupt("heap collection at ", addr, " is malformed");
        if (oidx > 0) objects[oidx] = osize;
        p += need;
      }
      it = collections.emplace(addr, std::move(objects)).first;
    }
    const auto obj = it->second.find(idx);
    if (obj == it->second.end()) corrupt("row ", start + r, " refers to a missing heap object");
    if (obj->second != len * base_size)
      corrupt("row ", start + r, " has length ", len, " but its heap object holds ", obj->second, " bytes");
  }
}

}  // namespace

template <class T>
Ragged<T> H5Reader::read_vlen_as(const std::string& dataset, int64_t start, int64_t count, hid_t mem_base) const {
  ELM_CHECK(has(dataset), path_, ": missing dataset '", dataset, "'");
  const auto corrupt = [&](const char* what) {
    fail(path_, ": cannot read dataset '", dataset, "' (", what, "; truncated or corrupt?)");
  };
  Ragged<T> out;
  try {
    H5::DataSet ds = file_.openDataSet(dataset);
    const H5T_class_t cls = ds.getTypeClass();
    ELM_CHECK(cls == H5T_VLEN, path_, ": dataset '", dataset, "' is not a variable-length (ragged) dataset");
    HidCloser ftype{H5Dget_type(ds.getId()), H5Tclose};
    if (ftype.id < 0) corrupt("no type");
    HidCloser fbase{H5Tget_super(ftype.id), H5Tclose};
    if (fbase.id < 0) corrupt("no base type");
    const H5T_class_t bcls = H5Tget_class(fbase.id);
    ELM_CHECK(bcls == H5T_INTEGER || bcls == H5T_FLOAT, path_, ": dataset '", dataset,
              "' holds variable-length arrays of a non-numeric type");
    // Reading floats as integers would truncate silently: refuse.
    ELM_CHECK(!std::is_integral_v<T> || bcls == H5T_INTEGER, path_, ": dataset '", dataset,
              "' holds floating-point values where integers are expected");
    const std::vector<int64_t> dims = dims_of(ds);
    ELM_CHECK(dims.size() == 1, path_, ": dataset '", dataset, "' is not 1-D");
    ELM_CHECK(start >= 0 && count >= 0 && start + count <= dims[0], path_, ": dataset '", dataset, "': rows [",
              start, ", ", start + count, ") outside its ", dims[0], " rows");
    if (count == 0) return out;

    HidCloser mtype{H5Tvlen_create(mem_base), H5Tclose};
    HidCloser fspace{H5Dget_space(ds.getId()), H5Sclose};
    const hsize_t off = static_cast<hsize_t>(start), cnt = static_cast<hsize_t>(count);
    HidCloser mspace{H5Screate_simple(1, &cnt, nullptr), H5Sclose};
    if (mtype.id < 0 || fspace.id < 0 || mspace.id < 0) corrupt("no dataspace");
    if (H5Sselect_hyperslab(fspace.id, H5S_SELECT_SET, &off, nullptr, &cnt, nullptr) < 0) corrupt("bad selection");
    check_vlen_heap_refs(path_, dataset, file_.getId(), ds.getId(), dims[0], start, count, H5Tget_size(fbase.id));
    // Refuse absurd totals before HDF5 allocates them (corrupt heap lengths).
    hsize_t bytes = 0;
    if (H5Dvlen_get_buf_size(ds.getId(), mtype.id, fspace.id, &bytes) < 0) corrupt("unreadable lengths");
    ELM_CHECK(bytes < (hsize_t(1) << 34), path_, ": dataset '", dataset,
              "' declares an implausible size (corrupt file?)");
    std::vector<hvl_t> buf(count, hvl_t{0, nullptr});
    // On a failed read the partly converted buffer is leaked, not reclaimed:
    // freeing entries HDF5 may not have filled would be worse than a leak.
    if (H5Dread(ds.getId(), mtype.id, mspace.id, fspace.id, H5P_DEFAULT, buf.data()) < 0) corrupt("read failed");
    out.offsets.reserve(count + 1);
    size_t total = 0;
    for (const hvl_t& v : buf) total += v.len;
    if (total * sizeof(T) > bytes) {
      H5Dvlen_reclaim(mtype.id, mspace.id, H5P_DEFAULT, buf.data());
      corrupt("lengths changed while reading");
    }
    out.values.resize(total);
    size_t pos = 0;
    for (const hvl_t& v : buf) {
      if (v.len > 0) std::copy_n(static_cast<const T*>(v.p), v.len, out.values.data() + pos);
      pos += v.len;
      out.offsets.push_back(static_cast<int64_t>(pos));
    }
    H5Dvlen_reclaim(mtype.id, mspace.id, H5P_DEFAULT, buf.data());
    return out;
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot read dataset '", dataset, "' (truncated or corrupt?): ", e.getDetailMsg());
  }
}

Ragged<float> H5Reader::read_vlen_float(const std::string& d, int64_t start, int64_t count) const {
  return read_vlen_as<float>(d, start, count, H5T_NATIVE_FLOAT);
}
Ragged<int64_t> H5Reader::read_vlen_int(const std::string& d, int64_t start, int64_t count) const {
  return read_vlen_as<int64_t>(d, start, count, H5T_NATIVE_INT64);
}

std::string this_host() {
  char host[256] = "host";
  ::gethostname(host, sizeof host - 1);
  host[sizeof host - 1] = '\0';
  return host;
}

std::string temporary_name(const std::string& path) {
  return path + ".tmp-" + this_host() + "-" + std::to_string(::getpid());
}

H5AtomicWriter::H5AtomicWriter(const std::string& path)
    : path_(path), tmp_path_(temporary_name(path)) {
  quiet();
  make_parent_dir(path, "file");
  try {
    file_ = H5::H5File(tmp_path_, H5F_ACC_TRUNC);
  } catch (const H5::Exception& e) {
    fail(path, ": cannot create file: ", e.getDetailMsg());
  }
}

H5AtomicWriter::~H5AtomicWriter() {
  if (!committed_) {
    try {
      file_.close();
    } catch (...) {
    }
    std::error_code ec;
    std::filesystem::remove(tmp_path_, ec);
  }
}

H5::DataSet H5AtomicWriter::create(const std::string& dataset, const H5::PredType& type,
                                   const std::vector<int64_t>& shape) {
  std::vector<hsize_t> dims(shape.begin(), shape.end());
  H5::DataSpace space = dims.empty() ? H5::DataSpace(H5S_SCALAR)
                                     : H5::DataSpace(static_cast<int>(dims.size()), dims.data());
  H5::LinkCreatPropList links;
  links.setCreateIntermediateGroup(true);
  return file_.createDataSet(dataset, type, space, H5::DSetCreatPropList::DEFAULT, H5::DSetAccPropList::DEFAULT,
                             links);
}

void H5AtomicWriter::write_float(const std::string& d, const float* data, const std::vector<int64_t>& shape) {
  try {
    create(d, H5::PredType::IEEE_F32LE, shape).write(data, H5::PredType::NATIVE_FLOAT);
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot write '", d, "': ", e.getDetailMsg());
  }
}

void H5AtomicWriter::write_double(const std::string& d, const double* data, const std::vector<int64_t>& shape) {
  try {
    create(d, H5::PredType::IEEE_F64LE, shape).write(data, H5::PredType::NATIVE_DOUBLE);
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot write '", d, "': ", e.getDetailMsg());
  }
}

void H5AtomicWriter::write_int64(const std::string& d, const int64_t* data, const std::vector<int64_t>& shape) {
  try {
    create(d, H5::PredType::STD_I64LE, shape).write(data, H5::PredType::NATIVE_INT64);
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot write '", d, "': ", e.getDetailMsg());
  }
}

void H5AtomicWriter::write_attr(const std::string& name, const std::string& value) {
  try {
    H5::StrType type(H5::PredType::C_S1, H5T_VARIABLE);
    file_.createAttribute(name, type, H5::DataSpace(H5S_SCALAR)).write(type, value);
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot write attribute '", name, "': ", e.getDetailMsg());
  }
}

void H5AtomicWriter::write_attr(const std::string& name, double value) {
  try {
    file_.createAttribute(name, H5::PredType::IEEE_F64LE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_DOUBLE, &value);
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot write attribute '", name, "': ", e.getDetailMsg());
  }
}

void H5AtomicWriter::write_attr_int64(const std::string& name, int64_t value) {
  try {
    file_.createAttribute(name, H5::PredType::STD_I64LE, H5::DataSpace(H5S_SCALAR))
        .write(H5::PredType::NATIVE_INT64, &value);
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot write attribute '", name, "': ", e.getDetailMsg());
  }
}

void H5AtomicWriter::commit() {
  try {
    file_.close();
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot close file: ", e.getDetailMsg());
  }
  std::error_code ec;
  std::filesystem::rename(tmp_path_, path_, ec);
  ELM_CHECK(!ec, path_, ": cannot rename from ", tmp_path_, ": ", ec.message());
  committed_ = true;
}

std::string H5AtomicWriter::release() {
  try {
    file_.close();
  } catch (const H5::Exception& e) {
    fail(path_, ": cannot close file: ", e.getDetailMsg());
  }
  committed_ = true;
  return tmp_path_;
}

}  // namespace elm
