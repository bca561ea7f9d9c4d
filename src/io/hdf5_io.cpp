#include "io/hdf5_io.hpp"

#include <unistd.h>

#include "core/error.hpp"

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

H5AtomicWriter::H5AtomicWriter(const std::string& path)
    : path_(path), tmp_path_(path + ".tmp-" + std::to_string(::getpid())) {
  quiet();
  auto parent = std::filesystem::path(path).parent_path();
  if (!parent.empty()) std::filesystem::create_directories(parent);
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

}  // namespace elm
