// synpref: one binary, subcommands registered from cmd_*.cpp (see command.h).
//
// main() is the one place that turns parse errors and Status values into messages and exit codes
// (the table in command.h). Before CLI11 parses, the command line is checked for unknown commands
// and flags, so a typo gets "did you mean ...?" instead of CLI11's report of a missing required
// option.
#include <algorithm>
#include <cctype>
#include <cstdio>
#include <optional>
#include <string_view>

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

int exit_code(StatusCode code) {
  switch (code) {
    case StatusCode::ok:
      return kExitOk;
    case StatusCode::invalid_argument:
      return kExitUsage;
    case StatusCode::not_found:
      return kExitNotFound;
    case StatusCode::io_error:
      return kExitIoError;
    case StatusCode::data_error:
      return kExitDataError;
    case StatusCode::unsupported:
      return kExitUnsupported;
    case StatusCode::internal:
      return kExitInternal;
    case StatusCode::interrupted:
      return kExitInterrupted;
  }
  return kExitInternal;
}

}  // namespace synpref::cli

namespace {

using namespace synpref;

size_t edit_distance(std::string_view a, std::string_view b) {
  // Optimal string alignment (Damerau-Levenshtein without repeated edits of a substring): one
  // insertion, deletion, substitution or swap of neighbours costs 1.
  std::vector<std::vector<size_t>> d(a.size() + 1, std::vector<size_t>(b.size() + 1));
  for (size_t i = 0; i <= a.size(); ++i) d[i][0] = i;
  for (size_t j = 0; j <= b.size(); ++j) d[0][j] = j;
  for (size_t i = 1; i <= a.size(); ++i) {
    for (size_t j = 1; j <= b.size(); ++j) {
      size_t cost = a[i - 1] == b[j - 1] ? 0 : 1;
      d[i][j] = std::min({d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1])
        d[i][j] = std::min(d[i][j], d[i - 2][j - 2] + 1);
    }
  }
  return d[a.size()][b.size()];
}

std::string closest_name(std::string_view word, const std::vector<std::string>& candidates) {
  std::string best;
  size_t best_distance = std::max<size_t>(2, word.size() / 3) + 1;  // farther is not a typo
  for (const auto& c : candidates) {
    size_t dist = edit_distance(word, c);
    if (dist < best_distance) {
      best_distance = dist;
      best = c;
    }
  }
  return best;
}

std::string command_path(const CLI::App* app) {
  std::string path;
  for (; app; app = app->get_parent()) path = app->get_name() + (path.empty() ? "" : " " + path);
  return path;
}

std::vector<CLI::App*> subcommands_of(CLI::App* app) {
  return app->get_subcommands([](CLI::App*) { return true; });
}

// The flags (--long and -s forms) usable at `app`: its own and its parents'.
std::vector<std::string> flags_of(CLI::App* app) {
  std::vector<std::string> names;
  for (CLI::App* a = app; a; a = a->get_parent()) {
    for (const CLI::Option* opt : a->get_options()) {
      for (const auto& n : opt->get_lnames()) names.push_back("--" + n);
      for (const auto& n : opt->get_snames()) names.push_back("-" + n);
    }
  }
  return names;
}

const CLI::Option* find_flag(CLI::App* app, const std::string& name) {
  for (CLI::App* a = app; a; a = a->get_parent())
    if (const CLI::Option* opt = a->get_option_no_throw(name)) return opt;
  return nullptr;
}

bool looks_like_number(std::string_view arg) {
  return arg.size() > 1 && arg[0] == '-' && ((arg[1] >= '0' && arg[1] <= '9') || arg[1] == '.');
}

// The first unknown command or flag on the command line, as a usage message with the closest known
// name; nullopt when every command and flag is known (CLI11 then reports anything else).
std::optional<std::string> find_unknown(CLI::App& root, int argc, char** argv) {
  CLI::App* app = &root;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--") break;
    if (arg.size() > 1 && arg[0] == '-' && !looks_like_number(arg)) {
      const bool is_long = arg.rfind("--", 0) == 0;
      const size_t eq = arg.find('=');
      const std::string name = is_long ? arg.substr(0, eq) : arg.substr(0, 2);
      const CLI::Option* opt = find_flag(app, name);
      if (!opt) {
        std::string msg = "unknown flag " + name + " for '" + command_path(app) + "'";
        std::string near = closest_name(name, flags_of(app));
        if (!near.empty()) msg += "; did you mean " + near + "?";
        return msg;
      }
      const bool value_attached = is_long ? eq != std::string::npos : arg.size() > 2;
      if (opt->get_items_expected_min() > 0 && !value_attached) ++i;  // skip the option's value
      continue;
    }
    CLI::App* sub = nullptr;
    for (CLI::App* candidate : subcommands_of(app))
      if (candidate->check_name(arg)) sub = candidate;
    if (sub) {
      app = sub;
      continue;
    }
    if (app->get_require_subcommand_min() > 0) {
      std::vector<std::string> names;
      for (CLI::App* candidate : subcommands_of(app)) names.push_back(candidate->get_name());
      std::string msg = "unknown command '" + arg + "'" +
                        (app->get_parent() ? " for '" + command_path(app) + "'" : std::string());
      std::string near = closest_name(arg, names);
      if (!near.empty()) msg += "; did you mean " + near + "?";
      return msg;
    }
  }
  return std::nullopt;
}

// --json and -q/--quiet work before or after the command, and show in every command's --help.
void add_global_flags(CLI::App& app, bool is_root) {
  auto& options = cli::global_options();
  app.add_flag("--json", options.json, "Print a machine-readable JSON summary on stdout");
  app.add_flag("-q,--quiet", options.quiet, "No progress bar");
  if (!is_root) app.footer("Exit codes: see 'synpref --help'.");
  for (CLI::App* sub : subcommands_of(&app)) add_global_flags(*sub, false);
}

std::string exit_code_help() {
  std::string text = "Exit codes:\n";
  for (const auto& e : cli::kExitCodes) {
    char line[160];
    std::snprintf(line, sizeof(line), "  %3d  %s\n", e.code, e.meaning);
    text += line;
  }
  return text;
}

// Library errors name option fields; the CLI names the flag that sets them.
std::string with_flag_names(std::string message) {
  for (const auto& [field, flag] : cli::kFieldFlags) {
    size_t at = message.find(field);
    if (at == std::string::npos) continue;
    const size_t end = at + std::string_view(field).size();
    const bool word_start =
        at == 0 || !(std::isalnum(static_cast<unsigned char>(message[at - 1])) || message[at - 1] == '_');
    const bool word_end = end == message.size() ||
                          !(std::isalnum(static_cast<unsigned char>(message[end])) || message[end] == '_');
    if (word_start && word_end) message += std::string(" (set with ") + flag + ")";
  }
  return message;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"synpref: reward models (score, train, eval, curate) in C++", "synpref"};
  app.require_subcommand(1);
  app.set_version_flag("--version", "synpref 0.1.0");
  auto regs = cli::registrars();
  std::stable_sort(regs.begin(), regs.end(), [](auto& a, auto& b) { return a.order < b.order; });
  for (auto& reg : regs) reg.add(app);
  add_global_flags(app, /*is_root=*/true);
  app.footer(exit_code_help());

  if (auto unknown = find_unknown(app, argc, argv)) {
    std::fprintf(stderr,
                 "synpref: error: %s\nRun 'synpref --help' (or 'synpref COMMAND --help') for usage.\n",
                 unknown->c_str());
    return cli::kExitUsage;
  }
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::fprintf(stderr,
                 "synpref: error: %s\nRun 'synpref --help' (or 'synpref COMMAND --help') for usage.\n",
                 e.what());
    return cli::kExitUsage;
  }
  auto& action = cli::pending_action();
  if (!action) {
    std::fputs(app.help().c_str(), stderr);
    return cli::kExitUsage;
  }
  Status status = action();
  if (!status.is_ok()) {
    std::fprintf(stderr, "synpref: error: %s\n", with_flag_names(status.message()).c_str());
    return cli::exit_code(status.code());
  }
  return cli::kExitOk;
}
