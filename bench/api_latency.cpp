// The daemon's API with a large archive: the latency of each request on an
// archive of 10,000 synthetic experiments against the same request on 100,
// measured in the same run. Target: the paged routes stay flat (ratio near 1);
// the lineage, which is the whole tree by definition, grows with the archive.
//   api_latency [large=10000] [small=100] [repeats=20]
#include <httplib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "bench/synthetic_archive.h"
#include "serve/http_api.h"

namespace fs = std::filesystem;
using namespace asiarch;

namespace {

void fill(const fs::path& dir, int n) {
  if (auto s = bench::fill_synthetic_archive(dir, n); !s) {
    std::fprintf(stderr, "%s\n", s.error().message.c_str());
    std::exit(1);
  }
}

double median_ms(httplib::Client& c, const std::string& path, int repeats) {
  std::vector<double> t;
  for (int i = 0; i < repeats; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    auto r = c.Get(path);
    const auto t1 = std::chrono::steady_clock::now();
    if (!r || r->status != 200) {
      std::fprintf(stderr, "%s: %s\n", path.c_str(), r ? r->body.c_str() : "no answer");
      std::exit(1);
    }
    t.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
  }
  std::sort(t.begin(), t.end());
  return t[t.size() / 2];
}

}  // namespace

int main(int argc, char** argv) {
  const int large = argc > 1 ? std::atoi(argv[1]) : 10000;
  const int small = argc > 2 ? std::atoi(argv[2]) : 100;
  const int repeats = argc > 3 ? std::atoi(argv[3]) : 20;
  const std::vector<std::string> paths = {"/api/status",
                                          "/api/experiments?limit=100",
                                          "/api/experiments?sort=-fitness&limit=50",
                                          "/api/experiments?status=failed&offset=20&limit=20",
                                          "/api/experiments?q=rare%20gate",
                                          "/api/experiments/50",
                                          "/api/experiments/50/history",
                                          "/api/experiments/50/diff",
                                          "/api/lineage"};
  std::map<int, std::map<std::string, double>> ms;
  for (int n : {small, large}) {
    const fs::path dir = fs::temp_directory_path() / ("asiarch-api-latency-" + std::to_string(n));
    const auto t0 = std::chrono::steady_clock::now();
    fill(dir, n);
    std::printf("archive of %d experiments filled in %.1f s\n", n,
                std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
    host::LoopControl control;
    CancelToken stopping;
    host::ApiServer server(dir, control, stopping);
    host::ApiOptions o;
    o.port = 7000 + (n % 1000);
    for (int tries = 0; tries < 50; ++tries, ++o.port)
      if (server.start(o)) break;
    httplib::Client c("127.0.0.1", server.port());
    for (const auto& p : paths) ms[n][p] = median_ms(c, p, repeats);
    stopping.cancel();
    server.stop();
    fs::remove_all(dir);
  }
  std::printf("\n%-52s %10s %10s %8s\n", "request (median of repeats)", "ms @small", "ms @large", "ratio");
  for (const auto& p : paths)
    std::printf("%-52s %10.2f %10.2f %8.2f\n", p.c_str(), ms[small][p], ms[large][p], ms[large][p] / ms[small][p]);
  std::printf("(small = %d, large = %d experiments)\n", small, large);
  return 0;
}
