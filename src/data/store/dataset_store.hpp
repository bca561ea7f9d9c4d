#pragma once
// The dataset store: one HDF5 file per split holding every sample in its
// compact form, as named ragged fields. A field is two datasets,
//   fields/<name>/values   (1-D, the samples' values concatenated; chunked, deflated)
//   fields/<name>/offsets  (int64 [N + 1]; sample i is values[offsets[i], offsets[i+1]))
// plus `labels` (int64 [N], -1 where a task has none) and attributes describing
// the split (StoreInfo). One sample is read with two small hyperslab reads, never
// by loading the file. Field names used by the tasks:
//   tokens                 uint8/uint16 token ids (LRA, synthetic ListOps)
//   tokens_b               the second document of a Retrieval pair
//   event_time, event_channel   spike events (NeuronIO: ms step and channel 0..1277;
//                          SHD: raw time in seconds as float32 and unit 0..699)
//   soma, output_spike_ms  NeuronIO targets (mV per ms; output spike times in ms)
#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace elm {

enum class FieldType { UInt8, UInt16, Int32, Int64, Float32 };

struct StoreInfo {
  std::string task;          // e.g. "listops", "shd", "neuronio"
  std::string split;         // train | valid | test
  std::string source;        // where the data came from (raw path, generator + seed)
  std::string input_kind;    // tokens | events | dense
  int64_t channels = 0;      // vocabulary size or input channels
  int64_t num_classes = 0;   // 0 when the task is not classification
  int64_t max_length = 0;    // longest sample (steps or tokens)
  int64_t num_samples = 0;   // filled in by the writer
  std::map<std::string, std::string> extra;  // task-specific attributes (string values)
};

// Writes a split under a temporary name; commit() renames it into place (or
// hands it to the StoreCommitGroup in force), so an interrupted conversion
// leaves nothing under the final name. end_sample() throws
// ConversionInterrupted (conversion_stop.hpp) once a stop signal is pending;
// the destructor of an uncommitted writer removes its temporary file.
class StoreWriter {
 public:
  StoreWriter(const std::string& path, const StoreInfo& info, const std::map<std::string, FieldType>& fields);
  ~StoreWriter();
  StoreWriter(const StoreWriter&) = delete;
  StoreWriter& operator=(const StoreWriter&) = delete;

  // One sample = one typed append per declared field (possibly empty), then
  // end_sample(). Values are range-checked against the field's stored type
  // (a token 70000 into a UInt16 field is an error naming the sample).
  void append_u8(const std::string& field, std::span<const uint8_t> values);
  void append_u16(const std::string& field, std::span<const uint16_t> values);
  void append_i32(const std::string& field, std::span<const int32_t> values);
  void append_f32(const std::string& field, std::span<const float> values);
  // After the typed appends of one sample's fields:
  void end_sample(int64_t label);

  int64_t num_samples() const;
  void commit();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Installs the splits of one conversion together. While a group exists,
// StoreWriter::commit() completes its file under the temporary name and hands
// it to the group instead of renaming it; commit() here renames them all into
// place, in the order they were committed, and ends the group. A group
// destroyed without commit() removes the files it holds. So a conversion that
// fails or is interrupted after some splits were complete (NeuronIO and the
// generators commit one split after another) replaces no file of an earlier
// store. `elmrun prep` runs every task inside one. One group at a time.
class StoreCommitGroup {
 public:
  StoreCommitGroup();
  ~StoreCommitGroup();
  StoreCommitGroup(const StoreCommitGroup&) = delete;
  StoreCommitGroup& operator=(const StoreCommitGroup&) = delete;

  std::vector<std::string> commit();  // the installed paths

 private:
  friend class StoreWriter;
  std::vector<std::pair<std::string, std::string>> files_;  // (temporary, final), not yet installed
};

// For tests of interrupted conversions only (`elmrun prep` sets it from
// $ELM_TEST_PREP_PAUSE_AT_SAMPLE): the n-th end_sample() of the process,
// counted over all writers from 1, waits until a stop signal is pending and
// then throws as any stop does, so that a test can signal a conversion at a
// known point instead of racing it. 0 (the default): never.
void pause_store_writes_for_tests(int64_t n);

class StoreReader {
 public:
  explicit StoreReader(const std::string& path);  // validates layout; errors name file and object
  ~StoreReader();
  StoreReader(StoreReader&&) noexcept;
  StoreReader& operator=(StoreReader&&) noexcept;

  const StoreInfo& info() const;
  const std::string& path() const;
  int64_t num_samples() const;
  bool has_field(const std::string& name) const;
  int64_t label(int64_t i) const;
  const std::vector<int64_t>& labels() const;  // loaded once (small)
  // Reads sample i of a field converted to the requested type.
  std::vector<int32_t> read_i32(const std::string& field, int64_t i) const;
  std::vector<float> read_f32(const std::string& field, int64_t i) const;
  // Values [begin, begin + count) of sample i: one hyperslab read. A range
  // outside the sample is an ElmError naming the file, field and sample.
  std::vector<int32_t> read_i32_range(const std::string& field, int64_t i, int64_t begin, int64_t count) const;
  std::vector<float> read_f32_range(const std::string& field, int64_t i, int64_t begin, int64_t count) const;
  int64_t length(const std::string& field, int64_t i) const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace elm
