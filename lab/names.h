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

// Whether `preset` names a held-out task set.
inline bool is_held_out(std::string_view preset) {
  const std::string_view suffix = kHeldOutSuffix;
  return preset.size() > suffix.size() && preset.substr(preset.size() - suffix.size()) == suffix;
}

}  // namespace asiarch::lab
