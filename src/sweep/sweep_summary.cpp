#include "sweep/sweep_summary.hpp"

#include <H5Cpp.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <limits>
#include <map>

#include "core/error.hpp"
#include "core/number_text.hpp"
#include "io/hdf5_io.hpp"
#include "sweep/array_expression.hpp"
#include "sweep/sweep_dir.hpp"
#include "train/run_status.hpp"
#include "train/train_state.hpp"
#include "train/trainer.hpp"

namespace fs = std::filesystem;

namespace elm {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

bool is_number(const std::string& s) {
  if (s.empty()) return false;
  char* end = nullptr;
  std::strtod(s.c_str(), &end);
  return end && *end == '\0';
}

void add_name(std::vector<std::string>& names, const std::string& n) {
  if (std::find(names.begin(), names.end(), n) == names.end()) names.push_back(n);
}

}  // namespace

SweepSummary collect_sweep(const std::string& sweep_dir, const SweepJob& job, const std::vector<SweepRun>& runs) {
  SweepSummary s;
  for (const auto& a : job.axes) s.axis_keys.push_back(a.key);
  s.packs = read_packs_file(sweep_dir);
  struct Loaded {
    std::vector<std::pair<std::string, double>> test, valid;
  };
  std::vector<Loaded> loaded(runs.size());
  std::vector<std::string> dirs;
  dirs.reserve(runs.size());
  for (const auto& r : runs) dirs.push_back(run_dir_of(sweep_dir, r));
  const std::vector<RunStateInfo> states = read_run_states(dirs, seconds_since_epoch());
  for (size_t i = 0; i < runs.size(); ++i) {
    const SweepRun& r = runs[i];
    const std::string& dir = dirs[i];
    SweepSummaryRow row;
    row.index = r.index;
    row.run_id = r.id;
    row.axis_values = r.axis_values;
    RunStateInfo state = states[i];
    if (state.state == RunState::done) {
      try {
        const H5Reader h(dir + "/results.h5");
        row.parameter_count = int64_t(h.read_attr_double("parameter_count"));
        row.wall_seconds = h.read_attr_double("wall_seconds");
        row.steps_completed = h.has_attr("steps_completed") ? h.read_attr_double("steps_completed") : kNaN;
        for (const auto& n : h.list("test")) {
          loaded[i].test.emplace_back(n, h.read_double("test/" + n).data.at(0));
          add_name(s.test_names, n);
        }
        if (h.has("valid"))
          for (const auto& n : h.list("valid")) {
            if (n == "step") continue;
            const auto v = h.read_double("valid/" + n).data;
            if (v.empty()) continue;
            loaded[i].valid.emplace_back(n, v.back());
            add_name(s.valid_names, n);
          }
      } catch (const ElmError& e) {
        state.state = RunState::failed;
        state.reason = std::string("unreadable results.h5: ") + e.what();
        loaded[i] = {};
      }
    }
    row.state = state.state;
    row.status = to_string(state.state);
    if (state.state != RunState::done) {  // no numbers from a run that is not done
      row.detail = describe_run_state(state);
      row.parameter_count = -1;
      row.wall_seconds = row.steps_completed = kNaN;
    }
    s.rows.push_back(std::move(row));
  }
  for (size_t i = 0; i < runs.size(); ++i) {
    auto& row = s.rows[i];
    row.test.assign(s.test_names.size(), kNaN);
    row.valid.assign(s.valid_names.size(), kNaN);
    for (const auto& [n, v] : loaded[i].test)
      row.test[size_t(std::find(s.test_names.begin(), s.test_names.end(), n) - s.test_names.begin())] = v;
    for (const auto& [n, v] : loaded[i].valid)
      row.valid[size_t(std::find(s.valid_names.begin(), s.valid_names.end(), n) - s.valid_names.begin())] = v;
  }
  return s;
}

namespace {

// A column of the table: name, and whether it is text or an integer.
struct Column {
  std::string name;
  bool text = false;
  bool integer = false;
  size_t width = 0;  // fixed string length (text) in HDF5
};

std::vector<Column> table_columns(const SweepSummary& s) {
  std::vector<Column> cols = {{"index", false, true}, {"run_id", true}, {"status", true}};
  for (size_t k = 0; k < s.axis_keys.size(); ++k) {
    bool numeric = true;
    for (const auto& r : s.rows) numeric = numeric && is_number(r.axis_values[k]);
    cols.push_back({s.axis_keys[k], !numeric});
  }
  cols.push_back({"parameter_count", false, true});
  cols.push_back({"wall_seconds"});
  cols.push_back({"steps_completed"});
  for (const auto& n : s.test_names) cols.push_back({"test_" + n});
  for (const auto& n : s.valid_names) cols.push_back({"valid_" + n});
  return cols;
}

// Row values as text (CSV) or numbers.
std::string cell_text(const SweepSummary& s, const SweepSummaryRow& r, size_t c) {
  const size_t na = s.axis_keys.size(), nt = s.test_names.size();
  auto num = [](double v) { return std::isnan(v) ? std::string() : format_double(v); };
  if (c == 0) return std::to_string(r.index);
  if (c == 1) return r.run_id;
  if (c == 2) return r.status;
  if (c < 3 + na) return r.axis_values[c - 3];
  c -= 3 + na;
  if (c == 0) return std::to_string(r.parameter_count);
  if (c == 1) return num(r.wall_seconds);
  if (c == 2) return num(r.steps_completed);
  c -= 3;
  if (c < nt) return num(r.test[c]);
  return num(r.valid[c - nt]);
}

// A number column's value (axis values are text, parsed; the integer
// columns' values are exact in a double).
double cell_number(const SweepSummary& s, const SweepSummaryRow& r, size_t c) {
  const size_t na = s.axis_keys.size(), nt = s.test_names.size();
  if (c == 0) return double(r.index);
  if (c >= 3 && c < 3 + na) {
    const std::string& t = r.axis_values[c - 3];
    return t.empty() ? kNaN : std::strtod(t.c_str(), nullptr);
  }
  c -= 3 + na;
  if (c == 0) return double(r.parameter_count);
  if (c == 1) return r.wall_seconds;
  if (c == 2) return r.steps_completed;
  c -= 3;
  return c < nt ? r.test[c] : r.valid[c - nt];
}

void write_summary_h5(const SweepSummary& s, const std::string& path) {
  auto cols = table_columns(s);
  size_t offset = 0;
  std::vector<size_t> offsets;
  for (size_t c = 0; c < cols.size(); ++c) {
    if (cols[c].text) {
      size_t w = 1;
      for (const auto& r : s.rows) w = std::max(w, cell_text(s, r, c).size());
      cols[c].width = w;
    }
    offsets.push_back(offset);
    offset += cols[c].text ? cols[c].width : 8;
  }
  const size_t row_bytes = std::max<size_t>(offset, 1);
  H5::CompType type(row_bytes);
  std::vector<H5::StrType> str_types;
  str_types.reserve(cols.size());
  for (size_t c = 0; c < cols.size(); ++c) {
    if (cols[c].text) {
      str_types.emplace_back(H5::PredType::C_S1, cols[c].width);
      str_types.back().setStrpad(H5T_STR_NULLPAD);
      type.insertMember(cols[c].name, offsets[c], str_types.back());
    } else {
      type.insertMember(cols[c].name, offsets[c],
                        cols[c].integer ? H5::PredType::NATIVE_INT64 : H5::PredType::NATIVE_DOUBLE);
    }
  }
  std::vector<char> buf(row_bytes * std::max<size_t>(s.rows.size(), 1), 0);
  for (size_t i = 0; i < s.rows.size(); ++i) {
    char* row = buf.data() + i * row_bytes;
    for (size_t c = 0; c < cols.size(); ++c) {
      if (cols[c].text) {
        const std::string t = cell_text(s, s.rows[i], c);
        std::memcpy(row + offsets[c], t.data(), std::min(t.size(), cols[c].width));
      } else if (cols[c].integer) {
        const auto v = static_cast<int64_t>(cell_number(s, s.rows[i], c));
        std::memcpy(row + offsets[c], &v, 8);
      } else {
        const double v = cell_number(s, s.rows[i], c);
        std::memcpy(row + offsets[c], &v, 8);
      }
    }
  }
  H5AtomicWriter w(path);
  const hsize_t dims[1] = {hsize_t(s.rows.size())};
  H5::DataSpace space(1, dims);
  H5::DataSet ds = w.file().createDataSet("runs", type, space);
  if (!s.rows.empty()) ds.write(buf.data(), type);
  w.write_attr("format", "elmrun-sweep-summary-1");
  w.commit();
}

}  // namespace

void write_sweep_summary(const SweepSummary& s, const std::string& sweep_dir) {
  const auto cols = table_columns(s);
  std::string csv;
  for (size_t c = 0; c < cols.size(); ++c) csv += (c ? "," : "") + cols[c].name;
  csv += "\n";
  for (const auto& r : s.rows) {
    for (size_t c = 0; c < cols.size(); ++c) {
      std::string t = cell_text(s, r, c);
      if (t.find_first_of(",\"") != std::string::npos) t = "\"" + t + "\"";
      csv += (c ? "," : "") + t;
    }
    csv += "\n";
  }
  write_text_atomic((fs::path(sweep_dir) / "summary.csv").string(), csv);
  write_summary_h5(s, (fs::path(sweep_dir) / "summary.h5").string());
}

std::string summary_table_text(const SweepSummary& s) {
  // The columns a reader scans: grid values, status, size, test metrics, time.
  std::vector<std::string> head = {"index", "run_id", "status"};
  for (const auto& k : s.axis_keys) head.push_back(k);
  head.push_back("params");
  for (const auto& n : s.test_names)
    if (n != "samples") head.push_back("test_" + n);
  head.push_back("wall_s");
  std::vector<std::vector<std::string>> rows;
  for (const auto& r : s.rows) {
    std::vector<std::string> row = {std::to_string(r.index), r.run_id.substr(0, 8), r.status};
    for (const auto& v : r.axis_values) row.push_back(v);
    row.push_back(r.parameter_count >= 0 ? std::to_string(r.parameter_count) : "-");
    for (size_t k = 0; k < s.test_names.size(); ++k) {
      if (s.test_names[k] == "samples") continue;
      if (std::isnan(r.test[k])) row.push_back("-");
      else row.push_back(measured_text(r.test[k]));
    }
    row.push_back(r.status == "done" ? measured_text(r.wall_seconds) : "-");
    rows.push_back(row);
  }
  std::vector<size_t> w(head.size());
  for (size_t c = 0; c < head.size(); ++c) {
    w[c] = head[c].size();
    for (const auto& row : rows) w[c] = std::max(w[c], row[c].size());
  }
  std::string out;
  auto line = [&](const std::vector<std::string>& cells) {
    for (size_t c = 0; c < cells.size(); ++c) {
      out += cells[c];
      if (c + 1 < cells.size()) out += std::string(w[c] - cells[c].size() + 2, ' ');
    }
    out += "\n";
  };
  line(head);
  for (const auto& row : rows) line(row);
  std::vector<RunState> states;
  std::vector<int64_t> indices;
  for (const auto& r : s.rows) {
    if (r.state != RunState::done && r.state != RunState::not_started)
      out += "run " + std::to_string(r.index) + " (" + r.run_id + "): " + r.detail + "\n";
    states.push_back(r.state);
    indices.push_back(r.index);
  }
  out += run_totals_text(states, &indices, &s.packs);
  return out;
}

std::string run_totals_text(const std::vector<RunState>& states, const std::vector<int64_t>* indices,
                            const std::vector<std::vector<int64_t>>* packs) {
  std::map<RunState, int64_t> count;
  for (RunState st : states) ++count[st];
  std::string out = std::to_string(states.size()) + (states.size() == 1 ? " run" : " runs");
  std::string sep = ": ";
  for (RunState st : kRunStates)
    if (count[st] > 0) {
      out += sep + std::to_string(count[st]) + " " + to_string(st);
      sep = ", ";
    }
  out += "\n";
  if (!indices) return out;
  std::vector<int64_t> remains;
  for (size_t i = 0; i < states.size(); ++i)
    if (run_state_remains(states[i])) remains.push_back((*indices)[i]);
  const std::string running =
      count[RunState::running] > 0 ? " (" + std::to_string(count[RunState::running]) + " running)" : "";
  if (remains.empty()) return out + "nothing remains" + running + "\n";
  const std::string what =
      "remains " + std::to_string(remains.size()) + (remains.size() == 1 ? " run" : " runs") + running;
  const bool packed = packs && std::any_of(packs->begin(), packs->end(), [](const auto& p) { return p.size() > 1; });
  if (!packed) return out + what + ": --array=" + array_expression(remains) + "\n";
  std::vector<int64_t> pack_indices;
  for (size_t p = 0; p < packs->size(); ++p)
    if (std::any_of((*packs)[p].begin(), (*packs)[p].end(),
                    [&](int64_t i) { return std::find(remains.begin(), remains.end(), i) != remains.end(); }))
      pack_indices.push_back(int64_t(p));
  return out + what + " in " + std::to_string(pack_indices.size()) + " pack(s): --array=" +
         array_expression(pack_indices) + " (packs.tsv)\n";
}

}  // namespace elm
