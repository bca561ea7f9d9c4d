#pragma once
// Thin, error-checked access to HDF5 files: every failure becomes an ElmError
// naming the file and the object, never an HDF5 stack dump.
#include <H5Cpp.h>

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

namespace elm {

template <class T>
struct Array {
  std::vector<T> data;
  std::vector<int64_t> shape;
  int64_t size() const { return static_cast<int64_t>(data.size()); }
};

// Rows of a variable-length (ragged) dataset: row i is
// values[offsets[i], offsets[i + 1]).
template <class T>
struct Ragged {
  std::vector<T> values;
  std::vector<int64_t> offsets{0};
  int64_t rows() const { return static_cast<int64_t>(offsets.size()) - 1; }
};

class H5Reader {
 public:
  explicit H5Reader(const std::string& path);
  const std::string& path() const { return path_; }
  H5::H5File& file() { return file_; }

  bool has(const std::string& object) const;
  bool has_attr(const std::string& name) const;
  std::vector<int64_t> shape(const std::string& dataset) const;
  // Converts from the stored type (any integer or float type, bool enums).
  Array<float> read_float(const std::string& dataset) const;
  Array<double> read_double(const std::string& dataset) const;
  Array<int64_t> read_int(const std::string& dataset) const;
  std::string read_attr_string(const std::string& name) const;
  double read_attr_double(const std::string& name) const;
  std::vector<std::string> list(const std::string& group) const;
  // Rows [start, start + count) of a 1-D variable-length dataset of numbers
  // (h5py's vlen arrays), converted by HDF5 from the stored base type (any
  // integer or float width, float16 included). Errors name file and dataset.
  Ragged<float> read_vlen_float(const std::string& dataset, int64_t start, int64_t count) const;
  Ragged<int64_t> read_vlen_int(const std::string& dataset, int64_t start, int64_t count) const;

 private:
  template <class T>
  Array<T> read_as(const std::string& dataset, const H5::PredType& mem_type) const;
  template <class T>
  Ragged<T> read_vlen_as(const std::string& dataset, int64_t start, int64_t count, hid_t mem_base) const;
  std::string path_;
  H5::H5File file_;
};

// `<path>.tmp-<host>-<pid>`: unique across the nodes of a job that share a
// directory (PIDs repeat between nodes).
std::string temporary_name(const std::string& path);
// This machine's host name (what temporary names, run locks and status files record).
std::string this_host();

// Writes to `<path>.tmp-<host>-<pid>` and renames onto `path` on commit(), so readers
// never see a half-written file and a failure leaves the old file in place.
class H5AtomicWriter {
 public:
  explicit H5AtomicWriter(const std::string& path);
  ~H5AtomicWriter();
  H5AtomicWriter(const H5AtomicWriter&) = delete;
  H5AtomicWriter& operator=(const H5AtomicWriter&) = delete;

  H5::H5File& file() { return file_; }
  void write_float(const std::string& dataset, const float* data, const std::vector<int64_t>& shape);
  void write_double(const std::string& dataset, const double* data, const std::vector<int64_t>& shape);
  void write_int64(const std::string& dataset, const int64_t* data, const std::vector<int64_t>& shape);
  void write_attr(const std::string& name, const std::string& value);
  void write_attr(const std::string& name, double value);
  void write_attr_int64(const std::string& name, int64_t value);
  void commit();
  // Closes the file but leaves it under its temporary name, which is
  // returned, instead of renaming it: the caller owns the file from then on
  // (renames it onto the path or removes it). For callers that install
  // several files together (StoreCommitGroup).
  std::string release();

 private:
  H5::DataSet create(const std::string& dataset, const H5::PredType& type, const std::vector<int64_t>& shape);
  std::string path_, tmp_path_;
  H5::H5File file_;
  bool committed_ = false;
};

}  // namespace elm
