#pragma once
#include <boost/program_options.hpp>
#include <string>
#include <vector>

namespace elm {

int train_command(const std::vector<std::string>& args);
int sweep_command(const std::vector<std::string>& args);
int eval_command(const std::vector<std::string>& args);
int bench_command(const std::vector<std::string>& args);
int prep_command(const std::vector<std::string>& args);
int status_command(const std::vector<std::string>& args);

// Parses args (without the subcommand) against opts; errors name the option.
// `positional` names the option that takes the first bare argument (e.g. TASK).
boost::program_options::variables_map parse_command_line(const std::vector<std::string>& args,
                                                         const boost::program_options::options_description& opts,
                                                         const char* positional = nullptr);

}  // namespace elm
