// tools/synpref/command.h: how a subcommand joins the `synpref` binary.
//
// Each cmd_<area>.cpp defines a registrar and registers it with SYNPREF_COMMAND; main.cpp builds
// the CLI11 app from all registrars in `order`. A command's callback returns a Status; main.cpp is
// the one place that turns a Status into an exit code and an error message.
#pragma once

#include <CLI/CLI.hpp>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "synpref/common/status.h"

namespace synpref::cli {

// Exit codes of `synpref`: this table is the one definition. main() maps Status codes to them
// (exit_code), `synpref --help` prints the table, README.md repeats it.
inline constexpr int kExitOk = 0;
inline constexpr int kExitUsage = 2;  // also invalid_argument Status values (a bad option value)
inline constexpr int kExitNotFound = 3;
inline constexpr int kExitIoError = 4;
inline constexpr int kExitDataError = 5;
inline constexpr int kExitUnsupported = 6;
inline constexpr int kExitInternal = 7;
inline constexpr int kExitInterrupted = 130;  // SIGINT's default action: the shell reports 128 + 2

struct ExitCodeInfo {
  int code;
  const char* meaning;
};
inline constexpr ExitCodeInfo kExitCodes[] = {
    {kExitOk, "success"},
    {kExitUsage, "usage error: unknown command or flag, missing or invalid option value"},
    {kExitNotFound, "not found: a file, field or tensor"},
    {kExitIoError, "I/O error: a read or write failed"},
    {kExitDataError, "data error: malformed input, or nothing usable in it"},
    {kExitUnsupported, "unsupported: valid input using a feature synpref does not implement"},
    {kExitInternal, "internal error (a bug; please report it)"},
    {kExitInterrupted, "interrupted (Ctrl-C, or SIGTERM: train saves a checkpoint first)"},
};
int exit_code(StatusCode code);

// Library option fields named in error messages -> the flag that sets them (main() appends
// "(set with --flag)" to an error naming the field).
inline constexpr std::pair<const char*, const char*> kFieldFlags[] = {
    {"n_threads", "--threads"},
};

// Set by a command's CLI11 callback; main() reports it.
using Action = std::function<Status()>;

// --json and -q/--quiet: accepted before or after any command (main() adds them to every command).
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
