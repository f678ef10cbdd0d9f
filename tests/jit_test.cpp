// The in-process Clang/ORC path: compile, link, ABI checks, diagnostics,
// fix-its, cache, exceptions, unloading, bad input.
#include <asiarch/plugin.h>

#include <gtest/gtest.h>

#include <mutex>
#include <random>
#include <set>

#include <nlohmann/json.hpp>
#include <vector>

#include "jit/mixer.h"
#include "jit_fixture.h"

using namespace asiarch;
using asiarch::testing::build;
using asiarch::testing::find_diag;
using asiarch::testing::unique_tag;

namespace {
std::mutex g_record_mu;
std::vector<std::string> g_records;
}  // namespace

// Called from plugin code: proves host symbols resolve from the process.
extern "C" __attribute__((visibility("default"))) void asiarch_test_record(const char* what) {
  std::lock_guard<std::mutex> lock(g_record_mu);
  g_records.emplace_back(what);
}

static const char* kValidPlugin = R"(
#include <asiarch/plugin.h>
class Gated : public asiarch::TokenMixer {
 public:
  explicit Gated(const asiarch::MixerConfig& cfg) {
    proj_ = register_module("proj", torch::nn::Linear(cfg.d_model, 2 * cfg.d_model));
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    auto parts = proj_(x).chunk(2, -1);
    // causal running mean as the "mixing"
    auto steps = torch::arange(1, x.size(1) + 1, x.options()).view({1, -1, 1});
    return parts[0].cumsum(1) / steps * torch::sigmoid(parts[1]);
  }
 private:
  torch::nn::Linear proj_{nullptr};
};
ASIARCH_REGISTER_MIXER(Gated, "gated_mean")
)";

TEST(Jit, ValidPluginRunsForwardAndBackwardThroughTheAbi) {
  auto b = build("valid.cpp", unique_tag() + kValidPlugin);
  ASSERT_TRUE(b.ok()) << jit::to_text(b.diagnostics);
  EXPECT_STREQ(b.entry->name, "gated_mean");
  EXPECT_STREQ(b.entry->class_name, "Gated");
  EXPECT_EQ(b.entry->abi_version, kAbiVersion);

  MixerConfig cfg;
  cfg.d_model = 32;
  auto mixer = jit::instantiate(b, cfg);
  auto x = torch::randn({3, 10, 32}, torch::requires_grad());
  auto y = mixer->forward(x);
  ASSERT_EQ(y.sizes(), x.sizes());
  y.pow(2).sum().backward();
  ASSERT_TRUE(x.grad().defined());
  EXPECT_TRUE(torch::isfinite(x.grad()).all().item<bool>());
  int64_t params = 0;
  for (const auto& p : mixer->parameters()) {
    ASSERT_TRUE(p.grad().defined());
    EXPECT_GT(p.grad().abs().sum().item<float>(), 0.f);
    params += p.numel();
  }
  EXPECT_EQ(params, 32 * 64 + 64);
  // The running mean at position 0 is the first projection itself.
  auto expected0 = torch::sigmoid(mixer->named_parameters()["proj.weight"].narrow(0, 32, 32).matmul(x[0][0]) +
                                  mixer->named_parameters()["proj.bias"].narrow(0, 32, 32)) *
                   (mixer->named_parameters()["proj.weight"].narrow(0, 0, 32).matmul(x[0][0]) +
                    mixer->named_parameters()["proj.bias"].narrow(0, 0, 32));
  EXPECT_TRUE(torch::allclose(y[0][0], expected0, 1e-5, 1e-5));
}

TEST(Jit, BrokenPluginDiagnosticsCarryLinesAndColumns) {
  const std::string src = R"(#include <asiarch/plugin.h>
class M : public asiarch::TokenMixer {
 public:
  explicit M(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    int y = undefined_name + 1;
    return x.unknown_method();
  }
};
ASIARCH_REGISTER_MIXER(M, "m")
)";
  auto b = build("broken.cpp", src);
  ASSERT_FALSE(b.ok());
  ASSERT_TRUE(b.diagnostics.has_errors());
  auto* d1 = find_diag(b.diagnostics, "undeclared identifier 'undefined_name'");
  ASSERT_NE(d1, nullptr) << jit::to_text(b.diagnostics);
  EXPECT_EQ(d1->file, "broken.cpp");
  EXPECT_EQ(d1->line, 6);
  EXPECT_EQ(d1->column, 13);
  EXPECT_EQ(d1->severity, jit::Severity::error);
  EXPECT_EQ(d1->source_line, "    int y = undefined_name + 1;");
  auto* d2 = find_diag(b.diagnostics, "no member named 'unknown_method'");
  ASSERT_NE(d2, nullptr) << jit::to_text(b.diagnostics);
  EXPECT_EQ(d2->line, 7);
  EXPECT_EQ(d2->column, 14);
  // Text form is clang-style.
  EXPECT_NE(jit::to_text(*d1).find("broken.cpp:6:13: error: use of undeclared identifier"), std::string::npos);
}

TEST(Jit, NotesAreAttachedToTheirError) {
  const std::string src = R"(#include <asiarch/plugin.h>
int twice(int a);
int twice(float a, float b);
class M : public asiarch::TokenMixer {
 public:
  explicit M(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override { twice("no"); return x; }
};
ASIARCH_REGISTER_MIXER(M, "m")
)";
  auto b = build("notes.cpp", src);
  auto* d = find_diag(b.diagnostics, "no matching function for call to 'twice'");
  ASSERT_NE(d, nullptr) << jit::to_text(b.diagnostics);
  ASSERT_EQ(d->notes.size(), 2u);
  EXPECT_EQ(d->notes[0].severity, jit::Severity::note);
  EXPECT_EQ(d->notes[0].line, 2);
  EXPECT_EQ(d->notes[1].line, 3);
}

TEST(Jit, MissingSemicolonHasAFixIt) {
  const std::string src = R"(#include <asiarch/plugin.h>
class M : public asiarch::TokenMixer {
 public:
  explicit M(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    auto y = x * 2
    return y;
  }
};
ASIARCH_REGISTER_MIXER(M, "m")
)";
  auto b = build("semi.cpp", src);
  auto* d = find_diag(b.diagnostics, "expected ';'");
  ASSERT_NE(d, nullptr) << jit::to_text(b.diagnostics);
  ASSERT_EQ(d->fixits.size(), 1u);
  EXPECT_EQ(d->fixits[0].replacement, ";");
  EXPECT_EQ(d->fixits[0].line, 6);
  EXPECT_EQ(d->fixits[0].column, 19);  // right after "x * 2"
  EXPECT_EQ(d->fixits[0].end_column, d->fixits[0].column);
}

TEST(Jit, MisspeltTorchFunctionHasAFixIt) {
  const std::string src = R"(#include <asiarch/plugin.h>
class M : public asiarch::TokenMixer {
 public:
  explicit M(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    return torch::zeroes_like(x);
  }
};
ASIARCH_REGISTER_MIXER(M, "m")
)";
  auto b = build("typo.cpp", src);
  auto* d = find_diag(b.diagnostics, "did you mean 'zeros_like'");
  ASSERT_NE(d, nullptr) << jit::to_text(b.diagnostics);
  EXPECT_EQ(d->line, 6);
  EXPECT_EQ(d->column, 19);
  ASSERT_EQ(d->fixits.size(), 1u);
  EXPECT_EQ(d->fixits[0].replacement, "zeros_like");
  EXPECT_EQ(d->fixits[0].line, 6);
  EXPECT_EQ(d->fixits[0].column, 19);
  EXPECT_EQ(d->fixits[0].end_column, 19 + static_cast<int>(std::string("zeroes_like").size()));
}

TEST(Jit, UndefinedSymbolIsALinkDiagnostic) {
  const std::string src = unique_tag() + R"(#include <asiarch/plugin.h>
float asiarch_missing_helper(float);
class M : public asiarch::TokenMixer {
 public:
  explicit M(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override {
    return x * asiarch_missing_helper(2.0f);
  }
};
ASIARCH_REGISTER_MIXER(M, "m")
)";
  auto b = build("undef.cpp", src);
  ASSERT_FALSE(b.ok());
  auto* d = find_diag(b.diagnostics, "undefined symbol: asiarch_missing_helper(float)");
  ASSERT_NE(d, nullptr) << jit::to_text(b.diagnostics);
  EXPECT_EQ(d->stage, jit::Stage::link);
  EXPECT_EQ(d->severity, jit::Severity::error);
  EXPECT_EQ(d->file, "undef.cpp");
  EXPECT_EQ(d->line, 3);  // the first line that names it (its declaration)
  EXPECT_NE(d->message.find("_Z22asiarch_missing_helperf"), std::string::npos);
}

// The PCH declares LibTorch's module templates extern (<asiarch/torch_templates.h>), so a plugin
// no longer instantiates their virtual members; one that refers to them (Conv1d's typeinfo, as
// DeltaNet's short convolutions do, or a member called through its address) links against the
// support object instead, and runs as one compiled without the PCH does.
TEST(Jit, APluginReferringToAnExternTorchTemplateLinksAgainstTheSupportObject) {
  const std::string src = unique_tag() + R"(#include <asiarch/plugin.h>
class M : public asiarch::TokenMixer {
 public:
  explicit M(const asiarch::MixerConfig& cfg)
      : conv_(register_module("conv", torch::nn::Conv1d(torch::nn::Conv1dOptions(cfg.d_model, cfg.d_model, 1)))) {
    // Through its address, so that it cannot be inlined: the plugin needs the definition itself.
    auto volatile reset = &torch::nn::ConvNdImpl<1, torch::nn::Conv1dImpl>::reset_parameters;
    ((*conv_).*reset)();
  }
  torch::Tensor forward(const torch::Tensor& x) override { return conv_->forward(x.transpose(1, 2)).transpose(1, 2); }
 private:
  torch::nn::Conv1d conv_;
};
ASIARCH_REGISTER_MIXER(M, "resets")
)";
  auto with = build("resets.cpp", src, {/*use_pch=*/true, /*use_cache=*/false});
  ASSERT_TRUE(with.ok()) << jit::to_text(with.diagnostics);
  EXPECT_TRUE(asiarch::testing::jit_env().session->has_support());
  auto without = build("resets_nopch.cpp", src, {/*use_pch=*/false, /*use_cache=*/false});
  ASSERT_TRUE(without.ok()) << jit::to_text(without.diagnostics);
  MixerConfig cfg;
  cfg.d_model = 16;
  torch::manual_seed(5);
  auto a = jit::instantiate(with, cfg);
  torch::manual_seed(5);
  auto b = jit::instantiate(without, cfg);
  auto x = torch::randn({2, 5, 16});
  auto ya = a->forward(x), yb = b->forward(x);
  EXPECT_EQ(ya.sizes(), x.sizes());
  EXPECT_TRUE(torch::equal(ya, yb));  // the support object's reset_parameters is the same code
}

static std::string hand_written_entry(const std::string& version, const std::string& fingerprint) {
  return unique_tag() + R"(#include <asiarch/plugin.h>
class M : public asiarch::TokenMixer {
 public:
  explicit M(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override { return x; }
};
extern "C" const asiarch::MixerEntry* asiarch_mixer_entry_M() {
  static const asiarch::MixerEntry e{)" +
         version + ", " + fingerprint + R"(, "m", "M",
      [](const asiarch::MixerConfig& c) -> asiarch::TokenMixer* { return new M(c); },
      [](asiarch::TokenMixer* m) { delete m; }};
  return &e;
}
)";
}

TEST(Jit, AbiVersionMismatchIsRefused) {
  auto b = build("old_abi.cpp", hand_written_entry("999", "ASIARCH_FINGERPRINT"));
  ASSERT_FALSE(b.ok());
  auto* d = find_diag(b.diagnostics,
                      "ABI version mismatch: plugin has version 999, host expects " + std::to_string(kAbiVersion));
  ASSERT_NE(d, nullptr) << jit::to_text(b.diagnostics);
  EXPECT_EQ(d->stage, jit::Stage::abi);
  EXPECT_EQ(d->file, "old_abi.cpp");
}

TEST(Jit, FingerprintMismatchIsRefused) {
  auto b = build("other_toolchain.cpp",
                 hand_written_entry("ASIARCH_ABI_VERSION", "\"clang 15.0.7; torch 1.12.0; cxx11abi 0; headers x\""));
  ASSERT_FALSE(b.ok());
  auto* d = find_diag(b.diagnostics, "toolchain fingerprint mismatch");
  ASSERT_NE(d, nullptr) << jit::to_text(b.diagnostics);
  EXPECT_NE(d->message.find("clang 15.0.7"), std::string::npos);
  EXPECT_NE(d->message.find(asiarch::testing::jit_env().compiler->toolchain().fingerprint()), std::string::npos);
}

TEST(Jit, HostFingerprintMatchesTheHeaderMacro) {
  // The macro as the JIT's clang spells it must equal the host's string.
  auto b = build("fp.cpp", unique_tag() + kValidPlugin);
  ASSERT_TRUE(b.ok()) << jit::to_text(b.diagnostics);
  const std::string fp = b.entry->fingerprint;
  EXPECT_EQ(fp, asiarch::testing::jit_env().compiler->toolchain().fingerprint());
  EXPECT_EQ(fp.rfind("clang 16.", 0), 0u) << fp;
  EXPECT_NE(fp.find("torch 1.13"), std::string::npos) << fp;
}

TEST(Jit, SecondCompileIsACacheHit) {
  const std::string src = unique_tag() + kValidPlugin;
  auto& compiler = *asiarch::testing::jit_env().compiler;
  auto first = compiler.compile({"cached.cpp", src});
  ASSERT_TRUE(first.object) << jit::to_text(first.diagnostics);
  EXPECT_FALSE(first.cache_hit);
  auto second = compiler.compile({"cached.cpp", src});
  ASSERT_TRUE(second.object);
  EXPECT_TRUE(second.cache_hit);
  EXPECT_EQ(first.cache_key, second.cache_key);
  EXPECT_EQ(first.object->bytes, second.object->bytes);
  EXPECT_EQ(second.object->entry_symbols, std::vector<std::string>{"asiarch_mixer_entry_Gated"});
  // A fresh compiler (as in another process) finds it on disk too.
  jit::Compiler other(compiler.toolchain());
  EXPECT_TRUE(other.compile({"cached.cpp", src}).cache_hit);
  // A different source misses.
  EXPECT_FALSE(compiler.compile({"cached.cpp", src + "// changed\n"}).cache_hit);
  // A cached object still loads and runs.
  auto b = build("cached.cpp", src);
  ASSERT_TRUE(b.ok());
  EXPECT_TRUE(b.cache_hit);
  EXPECT_EQ(jit::instantiate(b, {})->forward(torch::ones({1, 4, 64})).sizes(), (std::vector<int64_t>{1, 4, 64}));
}

TEST(Jit, CompileWithoutPchGivesTheSameMixer) {
  // One source, both compiled now (no cache), so the PCH is the only difference.
  const std::string src = unique_tag() + kValidPlugin;
  auto with = build("pch.cpp", src, {/*use_pch=*/true, /*use_cache=*/false});
  ASSERT_TRUE(with.ok()) << jit::to_text(with.diagnostics);
  auto without = build("nopch.cpp", src, {/*use_pch=*/false, /*use_cache=*/false});
  ASSERT_TRUE(without.ok()) << jit::to_text(without.diagnostics);
  EXPECT_FALSE(with.cache_hit);
  EXPECT_FALSE(without.cache_hit);
  EXPECT_STREQ(without.entry->name, "gated_mean");

  MixerConfig cfg;
  cfg.d_model = 32;
  // The plugin's Linear draws its initial weights from torch's generator.
  torch::manual_seed(21);
  auto a = jit::instantiate(with, cfg);
  torch::manual_seed(21);
  auto b = jit::instantiate(without, cfg);
  auto pa = a->named_parameters(), pb = b->named_parameters();
  ASSERT_EQ(pa.size(), pb.size());
  for (const auto& p : pa) EXPECT_TRUE(torch::equal(p.value(), pb[p.key()])) << p.key();

  torch::manual_seed(22);
  auto x = torch::randn({2, 9, 32});
  auto ya = a->forward(x), yb = b->forward(x);
  ASSERT_EQ(ya.sizes(), x.sizes());
  EXPECT_GT(ya.abs().max().item<float>(), 0.f);  // not trivially equal
  // Same code, same weights, same input: the same bits.
  EXPECT_TRUE(torch::equal(ya, yb)) << "max difference " << (ya - yb).abs().max().item<float>();
}

TEST(Jit, ExceptionsInPluginCodeReachTheHost) {
  const std::string src = unique_tag() + R"(#include <asiarch/plugin.h>
#include <stdexcept>
class Thrower : public asiarch::TokenMixer {
 public:
  explicit Thrower(const asiarch::MixerConfig& cfg) {
    if (cfg.num_heads == 3) throw std::runtime_error("three heads are not supported");
  }
  torch::Tensor forward(const torch::Tensor& x) override {
    TORCH_CHECK(x.size(1) < 8, "sequence of length ", x.size(1), " is too long for this mixer");
    return x;
  }
};
ASIARCH_REGISTER_MIXER(Thrower, "thrower")
)";
  auto b = build("thrower.cpp", src);
  ASSERT_TRUE(b.ok()) << jit::to_text(b.diagnostics);
  MixerConfig bad;
  bad.num_heads = 3;
  try {
    jit::instantiate(b, bad);
    FAIL() << "constructor should throw";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "three heads are not supported");
  }
  auto mixer = jit::instantiate(b, {});
  try {
    mixer->forward(torch::zeros({1, 16, 64}));
    FAIL() << "forward should throw";
  } catch (const c10::Error& e) {
    EXPECT_NE(std::string(e.what()).find("sequence of length 16 is too long"), std::string::npos);
  }
  EXPECT_EQ(mixer->forward(torch::zeros({1, 4, 64})).size(1), 4);
}

TEST(Jit, StaticConstructorsRunOnLoadAndDestructorsOnUnload) {
  const std::string src = unique_tag() + R"(#include <asiarch/plugin.h>
extern "C" void asiarch_test_record(const char*);
struct Tracer {
  Tracer() { asiarch_test_record("ctor"); }
  ~Tracer() { asiarch_test_record("dtor"); }
};
static Tracer tracer;
class M : public asiarch::TokenMixer {
 public:
  explicit M(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override { return x; }
};
ASIARCH_REGISTER_MIXER(M, "m")
)";
  {
    std::lock_guard<std::mutex> lock(g_record_mu);
    g_records.clear();
  }
  std::shared_ptr<TokenMixer> mixer;
  std::string name;
  {
    auto b = build("tracer.cpp", src);
    ASSERT_TRUE(b.ok()) << jit::to_text(b.diagnostics);
    name = b.code->name();
    mixer = jit::instantiate(b, {});
    std::lock_guard<std::mutex> lock(g_record_mu);
    EXPECT_EQ(g_records, std::vector<std::string>{"ctor"});
  }
  // The build is gone but the mixer keeps the code loaded.
  EXPECT_EQ(mixer->forward(torch::ones({1, 2, 64})).size(1), 2);
  {
    std::lock_guard<std::mutex> lock(g_record_mu);
    EXPECT_EQ(g_records, std::vector<std::string>{"ctor"});
  }
  ASSERT_TRUE(asiarch::testing::jit_env().session->is_loaded(name));
  mixer.reset();  // last reference: unload
  EXPECT_FALSE(asiarch::testing::jit_env().session->is_loaded(name));
  std::lock_guard<std::mutex> lock(g_record_mu);
  EXPECT_EQ(g_records, (std::vector<std::string>{"ctor", "dtor"}));
}

TEST(Jit, ManyLoadsAndUnloads) {
  auto& session = *asiarch::testing::jit_env().session;
  const std::string src = unique_tag() + kValidPlugin;
  std::set<std::string> names;
  for (int i = 0; i < 20; ++i) {
    std::string name;
    std::weak_ptr<jit::LoadedObject> code;
    {
      auto b = build("reload.cpp", src);
      ASSERT_TRUE(b.ok()) << jit::to_text(b.diagnostics);
      name = b.code->name();
      code = b.code;
      auto m = jit::instantiate(b, {});
      ASSERT_TRUE(session.is_loaded(name));
      b = jit::PluginBuild{};
      // The mixer alone keeps its code loaded and callable.
      ASSERT_TRUE(session.is_loaded(name)) << name;
      ASSERT_EQ(m->forward(torch::ones({1, 3, 64})).size(1), 3);
    }
    // No reference is left anywhere, and the JIT has dropped the code.
    EXPECT_TRUE(code.expired()) << name;
    EXPECT_FALSE(session.is_loaded(name)) << name;
    names.insert(name);
  }
  EXPECT_EQ(names.size(), 20u);  // every load linked a fresh copy
}

// ---- bad input ----

TEST(JitBadInput, MissingFile) {
  auto& env = asiarch::testing::jit_env();
  auto b = jit::build_plugin_file(*env.compiler, *env.session, nullptr, "/nonexistent/mixer.cpp");
  ASSERT_FALSE(b.ok());
  ASSERT_EQ(b.diagnostics.items.size(), 1u);
  EXPECT_EQ(b.diagnostics.items[0].stage, jit::Stage::io);
  EXPECT_NE(b.diagnostics.items[0].message.find("/nonexistent/mixer.cpp"), std::string::npos);
  EXPECT_NE(b.diagnostics.items[0].message.find("No such file"), std::string::npos);
}

TEST(JitBadInput, EmptyFile) {
  auto b = build("empty.cpp", "\n  \n");
  ASSERT_FALSE(b.ok());
  ASSERT_EQ(b.diagnostics.items.size(), 1u);
  EXPECT_NE(b.diagnostics.items[0].message.find("file is empty"), std::string::npos);
  EXPECT_EQ(b.diagnostics.items[0].file, "empty.cpp");
}

TEST(JitBadInput, BinaryGarbage) {
  std::mt19937 rng(7);
  std::string garbage(4096, '\0');
  for (char& c : garbage) c = static_cast<char>(rng() & 0xff);
  auto b = build("garbage.cpp", garbage);
  ASSERT_FALSE(b.ok());
  ASSERT_EQ(b.diagnostics.items.size(), 1u);
  EXPECT_NE(b.diagnostics.items[0].message.find("looks binary"), std::string::npos);
  EXPECT_GT(b.diagnostics.items[0].line, 0);
}

TEST(JitBadInput, ThousandsOfErrorsAreCapped) {
  std::string src = "#include <asiarch/plugin.h>\n";
  for (int i = 0; i < 3000; ++i) src += "int v" + std::to_string(i) + " = missing" + std::to_string(i) + ";\n";
  auto b = build("many.cpp", src);
  ASSERT_FALSE(b.ok());
  const int cap = asiarch::testing::jit_env().compiler->toolchain().options().max_diagnostics;
  EXPECT_EQ(static_cast<int>(b.diagnostics.items.size()), cap);
  EXPECT_EQ(static_cast<int>(b.diagnostics.items.size()) + b.diagnostics.dropped, 3000);
  EXPECT_NE(jit::to_text(b.diagnostics).find("(2900 more diagnostics not shown)"), std::string::npos);
  EXPECT_EQ(b.diagnostics.items.back().line, cap + 1);
}

TEST(JitBadInput, RegistersNothing) {
  auto b = build("nothing.cpp", unique_tag() + "#include <asiarch/plugin.h>\nint helper() { return 1; }\n");
  ASSERT_FALSE(b.ok());
  auto* d = find_diag(b.diagnostics, "registers no mixer");
  ASSERT_NE(d, nullptr) << jit::to_text(b.diagnostics);
  EXPECT_EQ(d->stage, jit::Stage::abi);
  EXPECT_EQ(d->file, "nothing.cpp");
}

TEST(JitBadInput, RegistersTwoMixers) {
  const std::string src = unique_tag() + R"(#include <asiarch/plugin.h>
class A : public asiarch::TokenMixer {
 public:
  explicit A(const asiarch::MixerConfig&) {}
  torch::Tensor forward(const torch::Tensor& x) override { return x; }
};
class B : public A { using A::A; };
ASIARCH_REGISTER_MIXER(A, "a")
ASIARCH_REGISTER_MIXER(B, "b")
)";
  auto b = build("two.cpp", src);
  ASSERT_FALSE(b.ok());
  auto* d = find_diag(b.diagnostics, "registers 2 mixers (A, B)");
  ASSERT_NE(d, nullptr) << jit::to_text(b.diagnostics);
}

TEST(Diagnostics, JsonRoundTrip) {
  jit::Diagnostics ds;
  jit::Diagnostic d = jit::make_diagnostic(jit::Stage::compile, jit::Severity::error, "f.cpp", "bad thing");
  d.line = 3;
  d.column = 7;
  d.source_line = "  int x = y;";
  d.fixits.push_back({3, 7, 3, 8, "z"});
  d.notes.push_back(jit::make_diagnostic(jit::Stage::compile, jit::Severity::note, "f.cpp", "see here"));
  ds.add(d);
  ds.dropped = 4;
  nlohmann::json j = ds;
  auto back = j.get<jit::Diagnostics>();
  EXPECT_EQ(nlohmann::json(back), j);
  EXPECT_EQ(back.items[0].fixits[0].replacement, "z");
  EXPECT_EQ(back.items[0].notes[0].message, "see here");
  EXPECT_EQ(back.dropped, 4);
  EXPECT_EQ(jit::to_text(back.items[0]),
            "f.cpp:3:7: error: bad thing\n  int x = y;\n      ^\nfix-it: replace 3:7-3:8 with \"z\"\n"
            "f.cpp: note: see here\n");
}
