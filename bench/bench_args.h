// What the benchmarks' command lines share: the value after an option, or exit 2 naming it.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string>

namespace cadre::bench {

// argv[i] is an option that takes a value: returns argv[i + 1] and steps i past it. Without one,
// prints "PROGRAM: OPTION needs a value" and exits with code 2 (bad input).
inline std::string option_value(int argc, char** argv, int& i, const char* program) {
  if (i + 1 >= argc) {
    std::fprintf(stderr, "%s: %s needs a value\n", program, argv[i]);
    std::exit(2);
  }
  return argv[++i];
}

}  // namespace cadre::bench
