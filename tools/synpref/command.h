// tools/synpref/command.h: how a subcommand joins the `synpref` binary.
//
// Each cmd_<area>.cpp defines a registrar and registers it with SYNPREF_COMMAND; main.cpp builds
// the CLI11 app from all registrars in `order`. A command's callback returns a Status; main.cpp is
// the one place that turns a Status into an exit code and an error message.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::cli {

// Set by a command's CLI11 callback; main() reports it.
using Action = std::function<Status()>;

struct GlobalOptions {
  bool json = false;   // machine-readable summaries on stdout
  bool quiet = false;  // no progress bar
};
GlobalOptions& global_options();

// Runs `action` after parsing. Use inside a registrar: sub->callback(run_later(...)).
void set_action(Action action);

struct Registrar {
  int order;
  std::function<void(CLI::App&)> add;
};
std::vector<Registrar>& registrars();

struct AutoRegister {
  AutoRegister(int order, std::function<void(CLI::App&)> add) {
    registrars().push_back({order, std::move(add)});
  }
};

}  // namespace synpref::cli

#define SYNPREF_CONCAT_INNER(a, b) a##b
#define SYNPREF_CONCAT(a, b) SYNPREF_CONCAT_INNER(a, b)
#define SYNPREF_COMMAND(order, fn) \
  static ::synpref::cli::AutoRegister SYNPREF_CONCAT(synpref_register_, __LINE__)(order, fn)
