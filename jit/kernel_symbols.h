// The host's native kernels as JIT symbols: every kernel <asiarch/kernels.h>
// lists, under its C name, at its address in this program.
#pragma once

#include <vector>

#include "jit/session.h"

namespace asiarch::jit {

// Pass to JitSession::create. Taking the addresses also keeps the kernels
// linked into any program that can create a session this way.
std::vector<HostSymbol> kernel_symbols();

}  // namespace asiarch::jit
