#include "jit/detail/llvm_init.h"

#include <mutex>

#include <llvm/Support/TargetSelect.h>

namespace asiarch::jit::detail {

void init_llvm() {
  static std::once_flag once;
  std::call_once(once, [] {
    llvm::InitializeNativeTarget();
    llvm::InitializeNativeTargetAsmPrinter();
    llvm::InitializeNativeTargetAsmParser();
  });
}

}  // namespace asiarch::jit::detail
