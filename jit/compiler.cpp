#include "jit/compiler.h"

#include <algorithm>
#include <chrono>
#include <unistd.h>
#include <mutex>

#include <clang/Basic/Diagnostic.h>
#include <clang/Basic/DiagnosticIDs.h>
#include <clang/Basic/DiagnosticOptions.h>
#include <clang/Basic/SourceManager.h>
#include <clang/CodeGen/CodeGenAction.h>
#include <clang/Driver/Compilation.h>
#include <clang/Driver/Driver.h>
#include <clang/Driver/Tool.h>
#include <clang/Frontend/CompilerInstance.h>
#include <clang/Frontend/CompilerInvocation.h>
#include <clang/Frontend/FrontendActions.h>
#include <clang/Lex/PreprocessorOptions.h>
#include <clang/Lex/Lexer.h>
#include <llvm/ExecutionEngine/Orc/CompileUtils.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/JITTargetMachineBuilder.h>
#include <llvm/IR/IRBuilder.h>
#include <llvm/IR/LLVMContext.h>
#include <llvm/IR/Module.h>
#include <llvm/Object/ObjectFile.h>
#include <llvm/Support/MemoryBuffer.h>
#include <llvm/Support/TargetSelect.h>
#include <llvm/TargetParser/Host.h>

#include <asiarch/abi.h>
#include "jit/detail/llvm_init.h"
#include "jit/detail/object_cache.h"
#include "util/files.h"
#include "util/hash.h"

namespace asiarch::jit {
namespace {

using Clock = std::chrono::steady_clock;

Severity to_severity(clang::DiagnosticsEngine::Level level) {
  switch (level) {
    case clang::DiagnosticsEngine::Note: return Severity::note;
    case clang::DiagnosticsEngine::Remark: return Severity::remark;
    case clang::DiagnosticsEngine::Warning: return Severity::warning;
    case clang::DiagnosticsEngine::Fatal: return Severity::fatal;
    default: return Severity::error;
  }
}

// Collects clang's diagnostics as structured values, capping their number.
class Collector : public clang::DiagnosticConsumer {
 public:
  explicit Collector(int cap) : cap_(cap) {}

  void BeginSourceFile(const clang::LangOptions& lang, const clang::Preprocessor*) override {
    lang_ = &lang;
  }
  void EndSourceFile() override { lang_ = nullptr; }

  void HandleDiagnostic(clang::DiagnosticsEngine::Level level,
                        const clang::Diagnostic& info) override {
    clang::DiagnosticConsumer::HandleDiagnostic(level, info);
    if (level == clang::DiagnosticsEngine::Ignored) return;
    Diagnostic d;
    d.severity = to_severity(level);
    d.stage = Stage::compile;
    llvm::SmallString<256> text;
    info.FormatDiagnostic(text);
    d.message = text.str().str();
    if (auto opt = clang::DiagnosticIDs::getWarningOptionForDiag(info.getID()); !opt.empty())
      d.option = "-W" + opt.str();
    if (info.hasSourceManager() && info.getLocation().isValid()) {
      const clang::SourceManager& sm = info.getSourceManager();
      locate(sm, sm.getExpansionLoc(info.getLocation()), d);
      for (const clang::FixItHint& hint : info.getFixItHints()) add_fixit(sm, hint, d);
    }
    if (d.severity == Severity::note) {
      if (last_kept_) out_.items.back().notes.push_back(std::move(d));
      return;
    }
    if (static_cast<int>(out_.items.size()) >= cap_) {
      ++out_.dropped;
      last_kept_ = false;
      return;
    }
    out_.items.push_back(std::move(d));
    last_kept_ = true;
  }

  Diagnostics take() { return std::move(out_); }

 private:
  static void locate(const clang::SourceManager& sm, clang::SourceLocation loc, Diagnostic& d) {
    clang::PresumedLoc p = sm.getPresumedLoc(loc);
    if (p.isInvalid()) return;
    d.file = p.getFilename();
    d.line = static_cast<int>(p.getLine());
    d.column = static_cast<int>(p.getColumn());
    bool invalid = false;
    const clang::FileID fid = sm.getFileID(loc);
    llvm::StringRef buffer = sm.getBufferData(fid, &invalid);
    if (invalid) return;
    const unsigned offset = sm.getFileOffset(loc);
    size_t begin = buffer.rfind('\n', offset == 0 ? 0 : offset - 1);
    begin = (begin == llvm::StringRef::npos || offset == 0) ? 0 : begin + 1;
    if (offset > 0 && buffer[offset - 1] == '\n') begin = offset;
    size_t end = buffer.find('\n', offset);
    if (end == llvm::StringRef::npos) end = buffer.size();
    d.source_line = buffer.slice(begin, end).rtrim('\r').str();
  }

  void add_fixit(const clang::SourceManager& sm, const clang::FixItHint& hint, Diagnostic& d) const {
    if (hint.RemoveRange.isInvalid()) return;
    clang::SourceLocation b = sm.getExpansionLoc(hint.RemoveRange.getBegin());
    clang::SourceLocation e = sm.getExpansionLoc(hint.RemoveRange.getEnd());
    if (hint.RemoveRange.isTokenRange() && lang_)
      e = e.getLocWithOffset(static_cast<int>(clang::Lexer::MeasureTokenLength(e, sm, *lang_)));
    clang::PresumedLoc pb = sm.getPresumedLoc(b), pe = sm.getPresumedLoc(e);
    if (pb.isInvalid() || pe.isInvalid()) return;
    d.fixits.push_back(FixIt{static_cast<int>(pb.getLine()), static_cast<int>(pb.getColumn()),
                             static_cast<int>(pe.getLine()), static_cast<int>(pe.getColumn()),
                             hint.CodeToInsert});
  }

  int cap_;
  const clang::LangOptions* lang_ = nullptr;
  bool last_kept_ = false;
  Diagnostics out_;
};

// Turns driver arguments into a cc1 invocation, the way `clang++` would.
bool make_invocation(const Toolchain& tc, const std::vector<std::string>& args,
                     clang::DiagnosticsEngine& diags, clang::CompilerInvocation& inv) {
  std::vector<const char*> argv{tc.clang_path().c_str()};
  for (const std::string& a : args) argv.push_back(a.c_str());
  clang::driver::Driver driver(tc.clang_path(), llvm::sys::getDefaultTargetTriple(), diags);
  driver.setCheckInputsExist(false);
  std::unique_ptr<clang::driver::Compilation> c(driver.BuildCompilation(argv));
  if (!c || diags.hasErrorOccurred()) return false;
  const clang::driver::JobList& jobs = c->getJobs();
  if (jobs.size() != 1 || !llvm::isa<clang::driver::Command>(*jobs.begin())) {
    return false;
  }
  const auto& cmd = llvm::cast<clang::driver::Command>(*jobs.begin());
  return clang::CompilerInvocation::CreateFromArgs(inv, cmd.getArguments(), diags,
                                                   tc.clang_path().c_str());
}

// Static constructors become one exported function, asiarch_jit_init, that
// JitSession calls after linking; destructors likewise asiarch_jit_fini. This
// keeps initialisation working for cached objects, which bypass ORC's IR-level
// platform support.
void lower_ctors_dtors(llvm::Module& m) {
  auto lower = [&m](bool ctors, const char* name) {
    std::vector<llvm::orc::CtorDtorIterator::Element> list;
    auto range = ctors ? llvm::orc::getConstructors(m) : llvm::orc::getDestructors(m);
    for (const llvm::orc::CtorDtorIterator::Element& cd : range) list.push_back(cd);
    std::stable_sort(list.begin(), list.end(),
                     [](const auto& a, const auto& b) { return a.Priority < b.Priority; });
    if (!ctors) std::reverse(list.begin(), list.end());
    auto& ctx = m.getContext();
    auto* fn = llvm::Function::Create(llvm::FunctionType::get(llvm::Type::getVoidTy(ctx), false),
                                      llvm::GlobalValue::ExternalLinkage, name, m);
    llvm::IRBuilder<> b(llvm::BasicBlock::Create(ctx, "entry", fn));
    for (const llvm::orc::CtorDtorIterator::Element& cd : list) {
      if (!cd.Func) continue;
      b.CreateCall(llvm::FunctionCallee(cd.Func->getFunctionType(), cd.Func));
    }
    b.CreateRetVoid();
    if (auto* gv = m.getNamedGlobal(ctors ? "llvm.global_ctors" : "llvm.global_dtors"))
      gv->eraseFromParent();
  };
  lower(true, "asiarch_jit_init");
  lower(false, "asiarch_jit_fini");
  // JitSession defines __dso_handle far from JIT memory; clang declares it
  // hidden (reached PC-relative, 32-bit). Reach it through the GOT instead.
  if (auto* dso = m.getNamedGlobal("__dso_handle"); dso && dso->isDeclaration()) {
    dso->setVisibility(llvm::GlobalValue::DefaultVisibility);
    dso->setDSOLocal(false);
  }
}

llvm::Expected<std::string> emit_object(llvm::Module& m, int opt_level) {
  auto jtmb = llvm::orc::JITTargetMachineBuilder::detectHost();
  if (!jtmb) return jtmb.takeError();
  // PIC + small code model: calls and data in LibTorch may lie more than
  // 2 GiB away from JIT memory, so they must go through the GOT/PLT.
  jtmb->setRelocationModel(llvm::Reloc::PIC_);
  jtmb->setCodeModel(llvm::CodeModel::Small);
  jtmb->setCodeGenOptLevel(opt_level == 0   ? llvm::CodeGenOpt::None
                           : opt_level == 1 ? llvm::CodeGenOpt::Less
                                            : llvm::CodeGenOpt::Default);
  auto tm = jtmb->createTargetMachine();
  if (!tm) return tm.takeError();
  llvm::orc::SimpleCompiler compile(**tm);
  auto buffer = compile(m);
  if (!buffer) return buffer.takeError();
  return (*buffer)->getBuffer().str();
}

// Reads the registration symbols out of the object's symbol table.
llvm::Error scan_symbols(ObjectCode& obj) {
  auto file = llvm::object::ObjectFile::createObjectFile(
      llvm::MemoryBufferRef(obj.bytes, "plugin.o"));
  if (!file) return file.takeError();
  for (const llvm::object::SymbolRef& sym : (*file)->symbols()) {
    auto flags = sym.getFlags();
    auto name = sym.getName();
    if (!flags || !name) {
      llvm::consumeError(flags.takeError());
      llvm::consumeError(name.takeError());
      continue;
    }
    if ((*flags & llvm::object::SymbolRef::SF_Undefined) || !(*flags & llvm::object::SymbolRef::SF_Global))
      continue;
    if (name->startswith(ASIARCH_ENTRY_PREFIX)) obj.entry_symbols.push_back(name->str());
    if (*name == ASIARCH_CUDA_SOURCE_SYMBOL) obj.has_cuda_source = true;
    if (*name == ASIARCH_QUADRATIC_SYMBOL) obj.declares_quadratic = true;
  }
  return llvm::Error::success();
}

bool pch_is_current(const Toolchain& tc) {
  std::error_code ec;
  auto pch_time = std::filesystem::last_write_time(tc.pch_path(), ec);
  if (ec) return false;
  // The embedded headers are rewritten only when they change.
  auto newer = [&](const std::filesystem::path& p) {
    auto t = std::filesystem::last_write_time(p, ec);
    return ec || t > pch_time;
  };
  if (newer(tc.pch_header())) return false;
  for (const auto& entry : std::filesystem::recursive_directory_iterator(tc.include_dir(), ec))
    if (entry.is_regular_file() && newer(entry.path())) return false;
  return !ec;
}

}  // namespace

std::string object_cache_key(const Toolchain& toolchain, const std::string& file, const std::string& text) {
  std::string key_material = toolchain.fingerprint() + '\0' + file + '\0' + text;
  for (const std::string& a : toolchain.common_args()) key_material += '\0' + a;
  return sha256_hex(key_material).substr(0, 32);
}

std::optional<Diagnostics> cached_object_diagnostics(const std::filesystem::path& dir, const std::string& key) {
  auto hit = detail::cache_lookup(dir, key);
  if (!hit) return std::nullopt;
  return std::move(hit->diagnostics);
}

Compiler::Compiler(Toolchain toolchain) : toolchain_(std::move(toolchain)) { detail::init_llvm(); }

Status Compiler::ensure_pch() {
  if (pch_is_current(toolchain_)) return Ok{};
  const auto tmp = toolchain_.pch_path().string() + ".tmp." + std::to_string(::getpid());
  std::vector<std::string> args = toolchain_.common_args();
  for (const std::string& a : {std::string("-fpch-instantiate-templates"), std::string("-x"),
                               std::string("c++-header"), toolchain_.pch_header().string(),
                               std::string("-o"), tmp})
    args.push_back(a);
  Collector collector(toolchain_.options().max_diagnostics);
  clang::CompilerInstance ci;
  ci.createDiagnostics(&collector, /*ShouldOwnClient=*/false);
  bool made = make_invocation(toolchain_, args, ci.getDiagnostics(), ci.getInvocation());
  ci.getDiagnosticOpts().ShowCarets = false;  // else clang prints "N errors generated" to stderr
  if (!made || !ci.ExecuteAction(*std::make_unique<clang::GeneratePCHAction>())) {
    std::filesystem::remove(tmp);
    return make_error("building the precompiled header failed:\n" + to_text(collector.take()));
  }
  std::error_code ec;
  std::filesystem::rename(tmp, toolchain_.pch_path(), ec);
  if (ec) return make_error(toolchain_.pch_path().string() + ": " + ec.message());
  return Ok{};
}

CompileResult Compiler::support_object(bool compile_if_missing) {
  const CompileRequest request{"asiarch_torch_templates.cpp",
                               "// Defines what the precompiled header declares extern.\n"
                               "#define ASIARCH_DEFINE_TEMPLATE_(...) template class __VA_ARGS__;\n"
                               "ASIARCH_TORCH_TEMPLATES(ASIARCH_DEFINE_TEMPLATE_)\n",
                               true, true};
  if (compile_if_missing) return compile(request);
  CompileResult result;
  result.cache_key = object_cache_key(toolchain_, request.file, request.text);
  for (const auto& dir : {toolchain_.object_dir(), toolchain_.shared_object_dir()})
    if (auto hit = detail::cache_lookup(dir, result.cache_key)) {
      result.object = std::move(hit->object);
      result.cache_hit = true;
      break;
    }
  return result;
}

CompileResult Compiler::compile(const CompileRequest& request) {
  const auto start = Clock::now();
  CompileResult result;
  auto finish = [&]() -> CompileResult {
    result.seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return std::move(result);
  };
  result.cache_key = object_cache_key(toolchain_, request.file, request.text);
  if (request.use_cache) {
    auto hit = detail::cache_lookup(toolchain_.object_dir(), result.cache_key);
    if (!hit && toolchain_.shared_object_dir() != toolchain_.object_dir())
      hit = detail::cache_lookup(toolchain_.shared_object_dir(), result.cache_key);
    if (hit) {
      result.object = std::move(hit->object);
      result.diagnostics = std::move(hit->diagnostics);
      result.cache_hit = true;
      return finish();
    }
  }

  std::vector<std::string> args = toolchain_.common_args();
  if (request.use_pch) {
    if (auto st = ensure_pch(); !st) {
      result.diagnostics.add(make_diagnostic(Stage::compile, Severity::fatal, request.file,
                                             st.error().message));
      return finish();
    }
    args.push_back("-include-pch");
    args.push_back(toolchain_.pch_path().string());
  }
  for (const char* a : {"-c", "-x", "c++"}) args.emplace_back(a);
  args.push_back(request.file);
  args.emplace_back("-o");
  args.emplace_back("/dev/null");

  Collector collector(toolchain_.options().max_diagnostics);
  auto context = std::make_unique<llvm::LLVMContext>();
  std::unique_ptr<llvm::Module> module;
  {
    clang::CompilerInstance ci;
    ci.createDiagnostics(&collector, /*ShouldOwnClient=*/false);
    if (make_invocation(toolchain_, args, ci.getDiagnostics(), ci.getInvocation())) {
      ci.getDiagnosticOpts().ShowCarets = false;  // else clang prints "N errors generated"
      // Compile the text we were given, whatever is (or is not) on disk.
      ci.getPreprocessorOpts().addRemappedFile(
          request.file, llvm::MemoryBuffer::getMemBufferCopy(request.text, request.file).release());
      clang::EmitLLVMOnlyAction action(context.get());
      if (ci.ExecuteAction(action)) module = action.takeModule();
    }
  }
  result.diagnostics = collector.take();
  if (!module || result.diagnostics.has_errors()) {
    if (!result.diagnostics.has_errors())
      result.diagnostics.add(make_diagnostic(Stage::compile, Severity::error, request.file,
                                             "compilation failed without a diagnostic"));
    return finish();
  }

  lower_ctors_dtors(*module);
  auto bytes = emit_object(*module, toolchain_.options().opt_level);
  if (!bytes) {
    result.diagnostics.add(make_diagnostic(Stage::compile, Severity::error, request.file,
                                           "code generation failed: " + llvm::toString(bytes.takeError())));
    return finish();
  }
  ObjectCode obj;
  obj.bytes = std::move(*bytes);
  if (auto err = scan_symbols(obj)) {
    result.diagnostics.add(make_diagnostic(Stage::compile, Severity::error, request.file,
                                           "cannot read the emitted object: " + llvm::toString(std::move(err))));
    return finish();
  }
  if (request.use_cache)
    detail::cache_store(toolchain_.object_dir(), result.cache_key, obj, result.diagnostics);
  result.object = std::move(obj);
  return finish();
}

}  // namespace asiarch::jit
