// Training throughput of each baseline on the GPU against the CPU: the same preset, task, batch
// and steps, in one run (issue 27's GPU check, scripts/gpu-check.sh). Where LibTorch cannot use a
// GPU it measures the CPU alone and says why the GPU was not measured.
//   device_throughput [preset=explore] [task=in_context_recall] [steps=40]
#include <asiarch/plugin.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "jit/mixer.h"
#include "lab/device.h"
#include "lab/presets.h"
#include "lab/threads.h"
#include "lab/train.h"
#include "worker/jit_context.h"

using namespace asiarch;

int main(int argc, char** argv) {
  const std::string preset_name = argc > 1 ? argv[1] : "explore";
  const std::string task_name = argc > 2 ? argv[2] : "in_context_recall";
  const int64_t steps = argc > 3 ? std::atoll(argv[3]) : 40;
  auto preset = lab::load_preset(preset_name);
  if (!preset) {
    std::fprintf(stderr, "%s\n", preset.error().message.c_str());
    return 1;
  }
  const nlohmann::json* settings = nullptr;
  for (const auto& [name, s] : preset->tasks)
    if (name == task_name) settings = &s;
  if (!settings) {
    std::fprintf(stderr, "preset %s has no task %s\n", preset_name.c_str(), task_name.c_str());
    return 1;
  }
  lab::keep_freed_memory();
  lab::set_compute_threads(preset->train.threads);
  auto task = lab::make_task(task_name, *settings, 0);
  if (!task) {
    std::fprintf(stderr, "%s\n", task.error().message.c_str());
    return 1;
  }
  auto jit = host::make_jit_context("");
  if (!jit) {
    std::fprintf(stderr, "%s\n", jit.error().message.c_str());
    return 1;
  }
  const std::string why_no_gpu = lab::gpu_unusable();
  std::vector<torch::Device> devices = {torch::kCPU};
  if (why_no_gpu.empty()) devices.emplace_back(torch::kCUDA, 0);
  lab::TrainConfig tc = lab::train_config_for(*preset, *settings);
  tc.steps = steps;
  lab::ModelConfig mc = preset->model;
  mc.vocab = task->vocab;
  mc.decode_length = task->decode_from_last ? task->seq_len : 0;

  std::vector<std::filesystem::path> files;
  for (const auto& e : std::filesystem::directory_iterator(host::default_baselines_dir()))
    if (e.path().extension() == ".cpp") files.push_back(e.path());
  std::sort(files.begin(), files.end());
  std::printf("%s, %s (seq %lld), batch %lld, %lld steps, %d CPU threads; LibTorch %s\n", preset_name.c_str(),
              task_name.c_str(), static_cast<long long>(task->seq_len), static_cast<long long>(tc.batch_size),
              static_cast<long long>(steps), tc.threads, lab::torch_build().version.c_str());
  std::printf("%-20s %14s %14s %9s\n", "baseline", "CPU tokens/s", "GPU tokens/s", "GPU/CPU");
  for (const auto& f : files) {
    auto b = jit->build_file(f.string());
    if (!b.ok()) {
      std::fprintf(stderr, "%s: %s", f.c_str(), jit::to_text(b.diagnostics).c_str());
      return 1;
    }
    auto factory = [&](const MixerConfig& c) { return jit::instantiate(b, c); };
    std::vector<double> tps;
    for (const auto& device : devices) {
      // A few steps first (the allocator, the kernels' first launch), then the measured run.
      lab::LanguageModel warm(mc, factory);
      warm->to(device);
      lab::TrainConfig w = tc;
      w.steps = 3;
      (void)lab::train(warm, *task, w);
      lab::LanguageModel model(mc, factory);
      model->to(device);
      const auto r = lab::train(model, *task, tc);
      tps.push_back(r.completed() ? r.tokens_per_second : 0);
    }
    if (tps.size() == 2)
      std::printf("%-20s %14.0f %14.0f %8.2fx\n", f.stem().c_str(), tps[0], tps[1], tps[0] > 0 ? tps[1] / tps[0] : 0);
    else
      std::printf("%-20s %14.0f %14s %9s\n", f.stem().c_str(), tps[0], "-", "-");
  }
  if (!why_no_gpu.empty()) std::printf("GPU not measured: %s\n", why_no_gpu.c_str());
  return 0;
}
