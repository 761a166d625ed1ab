// synpref/common/regular_file.h: model and tokenizer files must be regular files.
#pragma once

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <string>

#include "synpref/common/status.h"

namespace synpref {

// Ok when `path` (after following symlinks) is a regular file. Opening a FIFO for reading blocks
// until a writer appears, and a device or directory is never a checkpoint or tokenizer: check
// before opening. Errors name the file: not_found when absent, invalid_argument for other kinds.
inline Status require_regular_file(const std::string& path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) != 0) {
    if (errno == ENOENT) return not_found(path + ": no such file");
    return io_error(path + ": cannot stat: " + std::strerror(errno));
  }
  if (S_ISREG(st.st_mode)) return Status::ok();
  const char* kind = S_ISFIFO(st.st_mode)                         ? "a FIFO"
                     : S_ISDIR(st.st_mode)                        ? "a directory"
                     : S_ISCHR(st.st_mode) || S_ISBLK(st.st_mode) ? "a device"
                     : S_ISSOCK(st.st_mode)                       ? "a socket"
                                                                  : "a special file";
  return invalid_argument(path + ": is " + std::string(kind) + ", not a regular file");
}

}  // namespace synpref
