#include "jit/mixer.h"

#include <stdexcept>

#include <asiarch/plugin.h>

namespace asiarch::jit {

namespace {
// Plugins call the host's native kernels by symbol; this reference keeps the
// linker from dropping them from any program that can instantiate plugins.
[[maybe_unused]] volatile auto keep_unit_lower_solve = &ops::kernels::unit_lower_solve;
[[maybe_unused]] volatile auto keep_delta_rule_forward = &ops::kernels::delta_rule_chunk_forward;
[[maybe_unused]] volatile auto keep_delta_rule_backward = &ops::kernels::delta_rule_chunk_backward;
[[maybe_unused]] volatile auto keep_rms_norm_forward = &ops::kernels::rms_norm_forward;
[[maybe_unused]] volatile auto keep_rms_norm_backward = &ops::kernels::rms_norm_backward;
[[maybe_unused]] volatile auto keep_l2_normalize_forward = &ops::kernels::l2_normalize_forward;
[[maybe_unused]] volatile auto keep_l2_normalize_backward = &ops::kernels::l2_normalize_backward;
[[maybe_unused]] volatile auto keep_swiglu_forward = &ops::kernels::swiglu_forward;
[[maybe_unused]] volatile auto keep_swiglu_backward = &ops::kernels::swiglu_backward;
[[maybe_unused]] volatile auto keep_short_conv_forward = &ops::kernels::short_conv_forward;
[[maybe_unused]] volatile auto keep_short_conv_backward = &ops::kernels::short_conv_backward;
}  // namespace

std::shared_ptr<TokenMixer> instantiate(const PluginBuild& build, MixerConfig config) {
  if (!build.ok()) throw std::logic_error(build.file + ": cannot instantiate a plugin that did not build");
  std::shared_ptr<CudaModule> cuda = build.cuda ? build.cuda->module : nullptr;
  if (cuda) config.cuda = cuda->table();
  const MixerEntry* entry = build.entry;
  TokenMixer* raw = entry->create(config);
  // The deleter runs the plugin's destructor, then lets the code go.
  return std::shared_ptr<TokenMixer>(raw, [entry, code = build.code, cuda](TokenMixer* m) {
    entry->destroy(m);
  });
}

}  // namespace asiarch::jit
