// synpref/common/check.h: always-on invariant checks. A failed check is a bug in synpref, not
// bad input: it prints file:line and the condition, then aborts (also in release builds).
#pragma once

#include <cstdio>
#include <cstdlib>

#define SP_CHECK(cond)                                                                                  \
  do {                                                                                                  \
    if (!(cond)) {                                                                                      \
      std::fprintf(stderr, "synpref: internal check failed at %s:%d: %s\n", __FILE__, __LINE__, #cond); \
      std::abort();                                                                                     \
    }                                                                                                   \
  } while (0)

#define SP_CHECK_MSG(cond, msg)                                                                             \
  do {                                                                                                      \
    if (!(cond)) {                                                                                          \
      std::fprintf(stderr, "synpref: internal check failed at %s:%d: %s (%s)\n", __FILE__, __LINE__, #cond, \
                   (msg));                                                                                  \
      std::abort();                                                                                         \
    }                                                                                                       \
  } while (0)
