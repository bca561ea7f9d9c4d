#include "cli/commands.hpp"
namespace elm {
int train_command(const std::vector<std::string>&) { return 0; }
int eval_command(const std::vector<std::string>&) { return 0; }
}
