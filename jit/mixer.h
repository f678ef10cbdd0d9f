// Constructing a mixer from a built plugin (the one torch-facing piece of jit/).
#pragma once

#include <memory>

#include <asiarch/abi.h>

#include "jit/plugin_build.h"

namespace asiarch::jit {

// Calls the plugin's factory. The returned mixer keeps the plugin's code (and
// its CUDA module) loaded for as long as it lives. Throws what the plugin's
// constructor throws; requires build.ok().
std::shared_ptr<TokenMixer> instantiate(const PluginBuild& build, MixerConfig config);

}  // namespace asiarch::jit
