// `synpref env`: prints what this build links and detects, for bug reports.
#include <simdjson.h>
#include <zlib.h>
#include <zstd.h>

#include <cstdio>
#include <thread>

#define SYNPREF_STR_INNER(x) #x
#define SYNPREF_STR(x) SYNPREF_STR_INNER(x)

#include "command.h"

namespace {
void add_env(CLI::App& app) {
  auto* cmd = app.add_subcommand("env", "Print build and machine facts (for bug reports)");
  cmd->callback([] {
    synpref::cli::set_action([]() -> synpref::Status {
      std::printf("synpref 0.1.0\nsimdjson %s (implementation %s)\nzlib %s\nzstd %s\nthreads %u\n",
                  SYNPREF_STR(SIMDJSON_VERSION), simdjson::get_active_implementation()->name().c_str(),
                  zlibVersion(), ZSTD_versionString(), std::thread::hardware_concurrency());
      return synpref::Status::ok();
    });
  });
}
SYNPREF_COMMAND(900, add_env);
}  // namespace
