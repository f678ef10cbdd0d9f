// Writes a synthetic archive (bench/synthetic_archive.h) into a workdir, for the
// dashboard's browser test and load-time benchmark.
//   seed_archive WORKDIR N
#include <cstdio>
#include <cstdlib>

#include "bench/synthetic_archive.h"

int main(int argc, char** argv) {
  if (argc != 3 || std::atoi(argv[2]) < 4) {
    std::fprintf(stderr, "usage: seed_archive WORKDIR N (N >= 4: the first four are the baselines)\n");
    return 2;
  }
  if (auto s = asiarch::bench::fill_synthetic_archive(argv[1], std::atoi(argv[2])); !s) {
    std::fprintf(stderr, "seed_archive: %s\n", s.error().message.c_str());
    return 1;
  }
  return 0;
}
