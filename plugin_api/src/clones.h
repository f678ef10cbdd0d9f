// Private to plugin_api/src: how the native kernels get AVX2/FMA code on
// machines that have it and still run on those that do not. GCC dispatches
// "arch=x86-64-v3" on CPU features ("arch=haswell" would check the CPU model
// and miss AMD parts). Callees of a clone are not inlined across its target
// options unless they are always_inline, so helpers use ASIARCH_INLINE and
// hot loops avoid std:: calls.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define ASIARCH_CLONES __attribute__((target_clones("arch=x86-64-v3", "default")))
#else
#define ASIARCH_CLONES
#endif
#define ASIARCH_INLINE inline __attribute__((always_inline))
