// Names the whole program shares, each said once: the reference design and the held-out task set.
// No LibTorch, so the torch-free libraries (results/, serve/) use them too.
#pragma once

#include <string_view>

namespace asiarch::lab {

// The design every candidate is measured against: fitness and the verdicts, the parameter budget,
// the quality monitor's curves. Its plugin is plugins/baselines/<name>.cpp and it is archived as a
// baseline under this name.
inline constexpr const char* kReferenceDesign = "delta_net";

// The suffix that names a preset's held-out task set ("explore/held-out").
inline constexpr const char* kHeldOutSuffix = "/held-out";

// How a training run that diverged (its loss became NaN or infinite) begins its stop reason. Such a
// run is scored as the worst its task allows wherever it is scored, and counted wherever its figures
// appear: the last state before divergence is not a measurement like the others.
inline constexpr std::string_view kDivergedPrefix = "loss became";

inline bool diverged(std::string_view stop_reason) {
  return stop_reason.substr(0, kDivergedPrefix.size()) == kDivergedPrefix;
}

// How a training run the quality monitor stopped early begins its stop reason: its loss was clearly
// behind the reference's at the same step (lab/train.h). The experiment is recorded as stopped
// early with the figures it had, never scored: a partial metric is not a measurement.
inline constexpr std::string_view kStoppedEarlyPrefix = "stopped early:";

inline bool stopped_early(std::string_view stop_reason) {
  return stop_reason.substr(0, kStoppedEarlyPrefix.size()) == kStoppedEarlyPrefix;
}

// How a training run the monitor stopped for its time begins its stop reason: it ran past
// monitor.time_factor times the baseline's whole training time. Like a diverged run it is not
// tested and keeps the worst metric its task allows: a metric from part of the budget would be
// read as the design's.
inline constexpr std::string_view kTooSlowPrefix = "too slow:";

inline bool too_slow(std::string_view stop_reason) {
  return stop_reason.substr(0, kTooSlowPrefix.size()) == kTooSlowPrefix;
}

// Whether `preset` names a held-out task set.
inline bool is_held_out(std::string_view preset) {
  const std::string_view suffix = kHeldOutSuffix;
  return preset.size() > suffix.size() && preset.substr(preset.size() - suffix.size()) == suffix;
}

}  // namespace asiarch::lab
