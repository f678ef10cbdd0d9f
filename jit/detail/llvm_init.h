#pragma once

namespace asiarch::jit::detail {

// Registers the native target with LLVM, once per process.
void init_llvm();

}  // namespace asiarch::jit::detail
