#include "dist/gpu_assignment.hpp"

#include <charconv>
#include <string_view>

#include "core/error.hpp"

namespace elm {

namespace {

// Entries of a comma-separated CUDA_VISIBLE_DEVICES value ("" when unset).
int listed_devices(const std::string& env) {
  if (env.empty()) return 0;
  int n = 1;
  for (char c : env) n += c == ',';
  return n;
}

std::string describe_env(const std::string& env) { return env.empty() ? "unset" : "'" + env + "'"; }

int parse_int(std::string_view text, const char* what) {
  int v = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  ELM_CHECK(ec == std::errc() && end == text.data() + text.size() && v >= 0, what, " is not a count: '", text,
            "'");
  return v;
}

}  // namespace

int gpu_for_rank(int local_rank, int local_ranks, int visible_devices, const std::string& cuda_visible_devices_env) {
  ELM_CHECK(local_ranks > 0 && local_rank >= 0 && local_rank < local_ranks, "GPU assignment: local rank ",
            local_rank, " of ", local_ranks, " ranks on this node is out of range");
  const std::string where = detail::concat("local rank ", local_rank, " of ", local_ranks, " on this node sees ",
                                           visible_devices, " CUDA device(s), CUDA_VISIBLE_DEVICES ",
                                           describe_env(cuda_visible_devices_env));
  ELM_CHECK(visible_devices > 0, "no CUDA device for this rank: ", where);
  if (local_ranks <= visible_devices) return local_rank;
  // One device listed for this process: the launcher bound a GPU to each rank
  // (the runtime calls it 0). Unset or a longer list with one device left means
  // the ranks of this node would all land on the same GPU.
  if (visible_devices == 1 && listed_devices(cuda_visible_devices_env) == 1) return 0;
  fail("more ranks on this node than GPUs: ", where,
       "; start at most one rank per GPU, or bind one GPU to each rank (srun --gpus-per-task=1 / --gpu-bind)");
}

int slurm_tasks_on_node(const std::string& tasks_per_node, int node_id) {
  ELM_CHECK(node_id >= 0, "SLURM_NODEID is negative: ", node_id);
  std::string_view rest = tasks_per_node;
  int node = 0;
  while (!rest.empty()) {
    const size_t comma = rest.find(',');
    const std::string_view item = rest.substr(0, comma);
    rest = comma == std::string_view::npos ? std::string_view() : rest.substr(comma + 1);
    int count = 0, repeat = 1;
    const size_t paren = item.find("(x");
    if (paren == std::string_view::npos) {
      count = parse_int(item, "SLURM_TASKS_PER_NODE entry");
    } else {
      ELM_CHECK(item.back() == ')', "SLURM_TASKS_PER_NODE entry is malformed: '", item, "'");
      count = parse_int(item.substr(0, paren), "SLURM_TASKS_PER_NODE entry");
      repeat = parse_int(item.substr(paren + 2, item.size() - paren - 3), "SLURM_TASKS_PER_NODE repeat");
    }
    if (node_id < node + repeat) return count;
    node += repeat;
  }
  fail("SLURM_TASKS_PER_NODE '", tasks_per_node, "' lists ", node, " nodes, SLURM_NODEID is ", node_id);
}

std::optional<NodeRanks> node_ranks_from_env(const EnvLookup& lookup) {
  const char* o_rank = lookup("OMPI_COMM_WORLD_LOCAL_RANK");
  const char* o_size = lookup("OMPI_COMM_WORLD_LOCAL_SIZE");
  if (o_rank && o_size)
    return NodeRanks{parse_int(o_rank, "OMPI_COMM_WORLD_LOCAL_RANK"), parse_int(o_size, "OMPI_COMM_WORLD_LOCAL_SIZE")};
  const char* s_rank = lookup("SLURM_LOCALID");
  const char* s_tasks = lookup("SLURM_TASKS_PER_NODE");
  const char* s_node = lookup("SLURM_NODEID");
  if (s_rank && s_tasks && s_node)
    return NodeRanks{parse_int(s_rank, "SLURM_LOCALID"),
                     slurm_tasks_on_node(s_tasks, parse_int(s_node, "SLURM_NODEID"))};
  return std::nullopt;
}

}  // namespace elm
