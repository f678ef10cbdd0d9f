// The test programs' main. Tests train and run gates, so it makes the
// process-wide compute set-up a program that trains makes at its start
// (lab/threads.h); the library code under test never does.
#include <gtest/gtest.h>

#include "lab/threads.h"

int main(int argc, char** argv) {
  asiarch::lab::keep_freed_memory();
  // The presets' count (lab/presets.json), so tests train as the lab does.
  asiarch::lab::set_compute_threads(2);
  ::testing::InitGoogleTest(&argc, argv);
  return RUN_ALL_TESTS();
}
