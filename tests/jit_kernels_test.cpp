// The host's native kernels as plugins reach them: every kernel that
// <asiarch/kernels.h> lists, and only through the JIT session's table.
#include <asiarch/kernels.h>

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "jit/kernel_symbols.h"
#include "jit_fixture.h"

using namespace asiarch;
using asiarch::testing::find_diag;

// Each kernel's address through its C name, as plugin code sees it and as
// this program does.
#define ASIARCH_TEST_KERNEL_ADDRESS(ret, name, params, args) \
  reinterpret_cast<const void*>(&asiarch::ops::kernels::ASIARCH_KERNEL_SYMBOL(name)),
#define ASIARCH_TEST_KERNEL_NAME(ret, name, params, args) ASIARCH_KERNEL_SYMBOL_NAME(name),

static const char* kKernelAddressesPlugin = R"(#include <asiarch/ops.h>
#include <asiarch/plugin.h>
#define ASIARCH_TEST_KERNEL_ADDRESS(ret, name, params, args) \
  reinterpret_cast<const void*>(&asiarch::ops::kernels::ASIARCH_KERNEL_SYMBOL(name)),
extern "C" const void* const asiarch_test_kernel_addresses[] = {ASIARCH_KERNELS(ASIARCH_TEST_KERNEL_ADDRESS)};
class M : public asiarch::TokenMixer {
 public:
  explicit M(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override { return x; }
};
ASIARCH_REGISTER_MIXER(M, "m")
)";

TEST(JitKernels, EveryListedKernelResolvesToTheHostsDefinition) {
  const std::vector<const void*> host = {ASIARCH_KERNELS(ASIARCH_TEST_KERNEL_ADDRESS)};
  const std::vector<std::string> names = {ASIARCH_KERNELS(ASIARCH_TEST_KERNEL_NAME)};
  const auto table = jit::kernel_symbols();
  ASSERT_EQ(table.size(), host.size());
  for (size_t i = 0; i < table.size(); ++i) {
    EXPECT_EQ(table[i].name, names[i]);
    EXPECT_EQ(table[i].address, host[i]) << names[i];
  }
  auto b = asiarch::testing::build("kernel_addresses.cpp", kKernelAddressesPlugin);
  ASSERT_TRUE(b.ok()) << jit::to_text(b.diagnostics);
  auto* jitted = static_cast<const void* const*>(b.code->lookup("asiarch_test_kernel_addresses"));
  ASSERT_NE(jitted, nullptr);
  for (size_t i = 0; i < host.size(); ++i) EXPECT_EQ(jitted[i], host[i]) << names[i];
}

// This program exports its symbols, yet a session without the table cannot
// link the kernels: the table is the only way to them, in every program.
TEST(JitKernels, AreNotResolvedFromTheProcessExports) {
  auto session = jit::JitSession::create({});
  ASSERT_TRUE(session) << session.error().message;
  auto& env = asiarch::testing::jit_env();
  auto b = jit::build_plugin(*env.compiler, **session, nullptr, "kernel_addresses.cpp", kKernelAddressesPlugin);
  ASSERT_FALSE(b.ok());
  const auto* d = find_diag(b.diagnostics, "undefined symbol: asiarch_kernel_");
  ASSERT_NE(d, nullptr) << jit::to_text(b.diagnostics);
  EXPECT_EQ(d->stage, jit::Stage::link);
}
