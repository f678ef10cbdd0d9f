// Training throughput of the C++ trainer against the same model in Python
// PyTorch eager (Debian python3-torch, same LibTorch version), on the same
// task, batch and thread count, in one run. Target: C++ >= 1.3x.
#include <asiarch/plugin.h>

#include <array>
#include <cstdio>
#include <cstdlib>
#include <optional>

#include <nlohmann/json.hpp>
#include <torch/csrc/autograd/profiler_legacy.h>

#include "worker/jit_context.h"
#include "jit/mixer.h"
#include "lab/threads.h"
#include "lab/train.h"

using namespace asiarch;

int main(int argc, char** argv) {
  const int64_t steps = argc > 1 ? std::atoll(argv[1]) : 60;
  const int threads = argc > 2 ? std::atoi(argv[2]) : 2;
  const char* python = std::getenv("ASIARCH_PYTHON") ? std::getenv("ASIARCH_PYTHON") : "/usr/bin/python3";
  // Set once here, as every program that trains does (lab/threads.h).
  lab::keep_freed_memory();
  lab::set_compute_threads(threads);
  auto jit = host::make_jit_context("");
  if (!jit) return 1;
  auto b = jit->build_file(host::default_baselines_dir() + "/delta_net.cpp");
  if (!b.ok()) {
    std::fprintf(stderr, "%s", jit::to_text(b.diagnostics).c_str());
    return 1;
  }
  auto task = lab::make_task("in_context_recall", {{"seq_len", 64}, {"train_examples", 2048}, {"test_examples", 8}}, 0);
  lab::ModelConfig mc;
  mc.vocab = task->vocab;
  mc.d_model = 64;
  mc.num_layers = 2;
  mc.num_heads = 2;
  lab::TrainConfig tc;
  tc.steps = steps;
  tc.batch_size = 32;
  tc.lr = 3e-3;
  tc.threads = threads;

  lab::LanguageModel model(mc, [&](const MixerConfig& c) { return jit::instantiate(b, c); });
  lab::train_and_evaluate(model, *task, {.steps = 5, .batch_size = 32, .threads = threads});  // warm-up
  lab::LanguageModel fresh(mc, [&](const MixerConfig& c) { return jit::instantiate(b, c); });
  auto cpp = lab::train_and_evaluate(fresh, *task, tc);
  if (const char* trace = std::getenv("ASIARCH_PROFILE")) {  // a Chrome trace of 10 more steps, for diagnosis
    torch::autograd::profiler::RecordProfile guard(trace);
    lab::train_and_evaluate(fresh, *task, {.steps = 10, .batch_size = 32, .threads = threads});
  }

  nlohmann::json args = {{"threads", threads}, {"d_model", 64}, {"num_heads", 2}, {"num_layers", 2},
                         {"vocab", task->vocab}, {"lr", 3e-3}, {"steps", steps}, {"batch_size", 32}};
  for (const auto& e : task->train) {
    args["inputs"].push_back(e.input);
    args["targets"].push_back(e.target);
  }
  const std::string args_path = "/tmp/asiarch-train-throughput.json";
  FILE* f = std::fopen(args_path.c_str(), "w");
  std::fputs(args.dump().c_str(), f);
  std::fclose(f);
  // The Python reference three times: as PyTorch runs by default, with its BLAS
  // single-threaded like this program's (lab::set_compute_threads), and with
  // this program's allocator setting as well (lab::keep_freed_memory), so the
  // gain from the trainer and the gain from configuration show apart.
  auto python_tps = [&](const std::string& env) -> std::optional<nlohmann::json> {
    const std::string cmd = env + std::string(python) + " " ASIARCH_SOURCE_DIR "/bench/train_throughput.py " + args_path;
    FILE* p = ::popen(cmd.c_str(), "r");
    std::string out;
    std::array<char, 4096> buf;
    while (size_t n = std::fread(buf.data(), 1, buf.size(), p)) out.append(buf.data(), n);
    if (::pclose(p) != 0 || out.find('{') == std::string::npos) {
      std::fprintf(stderr, "the Python reference failed (needs Debian python3-torch): %s\n", out.c_str());
      return std::nullopt;
    }
    return nlohmann::json::parse(out.substr(out.rfind('{')));
  };
  auto py = python_tps("");
  auto py1 = python_tps("OPENBLAS_NUM_THREADS=1 ");
  // And with the allocator setting too (lab::keep_freed_memory): the same setup in all.
  auto py2 = python_tps(std::string("OPENBLAS_NUM_THREADS=1 ") + lab::kKeepFreedMemoryEnv + " ");
  if (!py || !py1 || !py2) return 1;
  const double py_tps = (*py)["tokens_per_second"], py1_tps = (*py1)["tokens_per_second"],
               py2_tps = (*py2)["tokens_per_second"];
  std::printf("DeltaNet LM (d_model 64, 2 layers, 2 heads), in_context_recall seq 64, batch 32, %lld steps, %d threads\n",
              static_cast<long long>(steps), threads);
  std::printf("  C++ trainer (JIT plugin):                   %8.0f tokens/s  (final loss %.3f)\n", cpp.tokens_per_second,
              cpp.final_loss);
  std::printf("  PyTorch eager (Python), as by default:      %8.0f tokens/s  (final loss %.3f)\n", py_tps,
              (*py)["final_loss"].get<double>());
  std::printf("  PyTorch eager, OPENBLAS_NUM_THREADS=1:      %8.0f tokens/s  (final loss %.3f)\n", py1_tps,
              (*py1)["final_loss"].get<double>());
  std::printf("  PyTorch eager, same BLAS and allocator:     %8.0f tokens/s  (final loss %.3f)\n", py2_tps,
              (*py2)["final_loss"].get<double>());
  std::printf("  ratio C++ / Python default:                 %8.2fx  (target >= 1.3x)\n", cpp.tokens_per_second / py_tps);
  std::printf("  ratio C++ / Python with the same BLAS setup: %7.2fx\n", cpp.tokens_per_second / py1_tps);
  std::printf("  ratio C++ / Python, same BLAS and allocator: %7.2fx  (target >= 1.3x)\n", cpp.tokens_per_second / py2_tps);
  return 0;
}
