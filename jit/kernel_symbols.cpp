#include "jit/kernel_symbols.h"

#include <asiarch/kernels.h>

namespace asiarch::jit {

std::vector<HostSymbol> kernel_symbols() {
#define ASIARCH_KERNEL_HOST_SYMBOL(ret, name, params, args) \
  HostSymbol{ASIARCH_KERNEL_SYMBOL_NAME(name), reinterpret_cast<const void*>(&ops::kernels::ASIARCH_KERNEL_SYMBOL(name))},
  return {ASIARCH_KERNELS(ASIARCH_KERNEL_HOST_SYMBOL)};
#undef ASIARCH_KERNEL_HOST_SYMBOL
}

}  // namespace asiarch::jit
