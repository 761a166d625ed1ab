// synpref: one binary, subcommands registered from cmd_*.cpp (see command.h).
#include <algorithm>
#include <cstdio>

#include "command.h"

namespace synpref::cli {

GlobalOptions& global_options() {
  static GlobalOptions options;
  return options;
}

std::vector<Registrar>& registrars() {
  static std::vector<Registrar> list;
  return list;
}

namespace {
Action& pending_action() {
  static Action action;
  return action;
}
}  // namespace

void set_action(Action action) {
  pending_action() = std::move(action);
}

}  // namespace synpref::cli

int main(int argc, char** argv) {
  using namespace synpref;
  CLI::App app{"synpref: reward models (score, train, eval, curate) in C++", "synpref"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "synpref 0.1.0");
  auto& options = cli::global_options();
  app.add_flag("--json", options.json, "Print a machine-readable JSON summary on stdout");
  app.add_flag("-q,--quiet", options.quiet, "No progress bar");
  auto regs = cli::registrars();
  std::stable_sort(regs.begin(), regs.end(), [](auto& a, auto& b) { return a.order < b.order; });
  for (auto& reg : regs) reg.add(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  auto& action = cli::pending_action();
  if (!action) {
    std::fputs(app.help().c_str(), stderr);
    return 2;
  }
  Status status = action();
  if (!status.is_ok()) {
    std::fprintf(stderr, "synpref: error: %s\n", status.message().c_str());
    return static_cast<int>(status.code());
  }
  return 0;
}
