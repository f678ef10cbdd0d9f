// Runs plugins through real sandboxed workers for the containment tests: one
// prepared cache for the suite, a job on smoke's compression task, and the
// cause of what went wrong.
#pragma once

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <string>

#include "tests/padded_mixer.h"
#include "worker/worker_job.h"

namespace asiarch::testing {

// C++ statements, for a hostile plugin's source, that write the std::string `m` on the worker's
// channel (fd 3) as one JSON frame, as worker/worker_channel.h frames it.
inline const char* kWriteFrameOnChannel = R"cpp(
    const unsigned n = m.size();
    const unsigned char h[5] = {static_cast<unsigned char>(n), static_cast<unsigned char>(n >> 8),
                                static_cast<unsigned char>(n >> 16), static_cast<unsigned char>(n >> 24), 'J'};
    (void)!write(3, h, 5);
    (void)!write(3, m.data(), m.size());)cpp";

class WorkerFixture : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    root_ = new std::filesystem::path(std::filesystem::temp_directory_path() /
                                      ("asiarch-worker-test-" + std::to_string(::getpid())));
    std::filesystem::create_directories(*root_);
    auto p = host::prepare_cache(job(""), *root_ / "prepare", settings());
    ASSERT_TRUE(p) << p.error().message;
    reference_parameters_ = p->reference_parameters;
  }
  static void TearDownTestSuite() {
    std::filesystem::remove_all(*root_);
    delete root_;
  }
  static host::WorkerJob job(const std::string& options) {
    host::WorkerJob j;
    j.name = "plugin.cpp";
    j.preset = "smoke";
    j.tasks = {"compression"};
    j.mixer_options = options;
    j.kind = host::JobKind::evaluate;
    j.baselines_dir = ASIARCH_SOURCE_DIR "/plugins/baselines";
    j.cache_dir = ASIARCH_TEST_CACHE;
    j.reference_parameters = reference_parameters_;
    return j;
  }
  static host::WorkerSettings settings(double wall = 120) {
    host::WorkerSettings s;
    s.executable = ASIARCH_BINARY;
    s.limits.wall_seconds = wall;
    s.limits.address_space_mb = 8192;
    return s;
  }
  // The reason the first gate failed, or the worker's failure.
  static std::string cause(const host::WorkerOutcome& o) {
    if (!o.failure.empty()) return o.failure;
    if (o.result.compile && !o.result.compile->ok)
      return "build failed: " + (o.result.compile->diagnostics.items.empty() ? std::string()
                                                                            : o.result.compile->diagnostics.items[0].message);
    if (!o.result.report) return "no report: " + o.result.error + " " + o.log_tail;
    for (const auto& g : o.result.report->gates)
      if (!g.passed) return g.reason;
    return "all gates passed";
  }
  static host::WorkerOutcome run(const std::string& source, const std::string& options,
                                 const host::WorkerSettings& s = settings()) {
    static int n = 0;
    auto o = host::run_job(job(options), source, *root_ / ("job" + std::to_string(++n)), s);
    EXPECT_TRUE(o) << (o ? "" : o.error().message);
    return o ? std::move(*o) : host::WorkerOutcome{};
  }
  static inline std::filesystem::path* root_ = nullptr;
  static inline int64_t reference_parameters_ = 0;
};

}  // namespace asiarch::testing
