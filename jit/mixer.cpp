#include "jit/mixer.h"

#include <stdexcept>

#include <asiarch/plugin.h>

namespace asiarch::jit {

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
