#include "jit/session.h"

#include <algorithm>
#include <mutex>
#include <vector>

#include <llvm/Demangle/Demangle.h>
#include <llvm/ExecutionEngine/Orc/Core.h>
#include <llvm/ExecutionEngine/Orc/ExecutionUtils.h>
#include <llvm/ExecutionEngine/Orc/LLJIT.h>
#include <llvm/Support/MemoryBuffer.h>

#include "jit/detail/llvm_init.h"

namespace asiarch::jit {

namespace {

// What a plugin registered with __cxa_atexit (static objects with
// destructors); run when the plugin is unloaded instead of at process exit,
// when its code is long gone.
struct AtExitList {
  std::mutex mu;
  std::vector<std::pair<void (*)(void*), void*>> fns;
};

// Plugin code calls this as __cxa_atexit; its __dso_handle is its AtExitList.
extern "C" int asiarch_jit_cxa_atexit(void (*fn)(void*), void* arg, void* dso) {
  auto* list = static_cast<AtExitList*>(dso);
  std::lock_guard<std::mutex> lock(list->mu);
  list->fns.emplace_back(fn, arg);
  return 0;
}

// First line in `text` mentioning the unqualified name of a demangled symbol.
int find_line(const std::string& text, const std::string& demangled, std::string* line_text) {
  std::string name = demangled.substr(0, demangled.find('('));
  if (auto colon = name.rfind("::"); colon != std::string::npos) name = name.substr(colon + 2);
  if (auto space = name.rfind(' '); space != std::string::npos) name = name.substr(space + 1);
  if (name.empty()) return 0;
  int line = 1;
  size_t start = 0;
  while (start <= text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view l(text.data() + start, end - start);
    if (auto pos = l.find(name); pos != std::string_view::npos) {
      *line_text = std::string(l);
      return line;
    }
    start = end + 1;
    ++line;
  }
  return 0;
}

// Defines what every JITDylib of ours needs besides its object: the process's exported symbols,
// its own __dso_handle (its atexit list) and our __cxa_atexit, and the host symbols given.
llvm::Error define_runtime(llvm::orc::LLJIT& jit, llvm::orc::JITDylib& dylib, AtExitList* atexit,
                           const std::vector<HostSymbol>& host_symbols) {
  auto& es = jit.getExecutionSession();
  auto generator = llvm::orc::DynamicLibrarySearchGenerator::GetForCurrentProcess(
      jit.getDataLayout().getGlobalPrefix());
  if (!generator) return generator.takeError();
  dylib.addGenerator(std::move(*generator));
  llvm::orc::SymbolMap own;
  own[es.intern("__dso_handle")] = llvm::JITEvaluatedSymbol(
      llvm::pointerToJITTargetAddress(atexit), llvm::JITSymbolFlags::Exported);
  own[es.intern("__cxa_atexit")] = llvm::JITEvaluatedSymbol(
      llvm::pointerToJITTargetAddress(&asiarch_jit_cxa_atexit),
      llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable);
  for (const HostSymbol& h : host_symbols)
    own[es.intern(h.name)] = llvm::JITEvaluatedSymbol(llvm::pointerToJITTargetAddress(h.address),
                                                      llvm::JITSymbolFlags::Exported | llvm::JITSymbolFlags::Callable);
  return dylib.define(llvm::orc::absoluteSymbols(std::move(own)));
}

}  // namespace

struct JitSession::Impl {
  std::unique_ptr<llvm::orc::LLJIT> jit;
  std::mutex mu;  // one load or unload at a time; errors below belong to it
  std::vector<std::string> missing_symbols;
  std::vector<std::string> errors;
  int counter = 0;
  std::vector<HostSymbol> host_symbols;
  llvm::orc::JITDylib* support = nullptr;
  AtExitList support_atexit;  // never run: the support object's constructors are not called
};

struct LoadedObject::State {
  llvm::orc::JITDylib* dylib = nullptr;
  llvm::orc::ResourceTrackerSP tracker;
  AtExitList atexit;
};

Result<std::shared_ptr<JitSession>> JitSession::create(std::vector<HostSymbol> host_symbols) {
  detail::init_llvm();
  // No ORC platform: it would define __dso_handle in every JITDylib, and we
  // run constructors and atexit handlers ourselves (see compiler.cpp).
  auto jit = llvm::orc::LLJITBuilder()
                 .setPlatformSetUp([](llvm::orc::LLJIT&) { return llvm::Error::success(); })
                 .create();
  if (!jit) return make_error("cannot create the JIT: " + llvm::toString(jit.takeError()));
  std::shared_ptr<JitSession> s(new JitSession());
  s->impl_ = std::make_unique<Impl>();
  s->impl_->jit = std::move(*jit);
  s->impl_->host_symbols = std::move(host_symbols);
  Impl* impl = s->impl_.get();
  // ORC reports link failures here; keep them as diagnostics, not stderr.
  s->impl_->jit->getExecutionSession().setErrorReporter([impl](llvm::Error err) {
    llvm::handleAllErrors(
        std::move(err),
        [impl](const llvm::orc::SymbolsNotFound& e) {
          for (const auto& sym : e.getSymbols()) impl->missing_symbols.push_back((*sym).str());
        },
        [impl](const llvm::ErrorInfoBase& e) { impl->errors.push_back(e.message()); });
  });
  return s;
}

JitSession::~JitSession() = default;

std::shared_ptr<LoadedObject> JitSession::load(const ObjectCode& object, const std::string& file,
                                               const std::string& source, Diagnostics& diagnostics) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  impl_->missing_symbols.clear();
  impl_->errors.clear();
  auto& jit = *impl_->jit;
  auto& es = jit.getExecutionSession();

  std::shared_ptr<LoadedObject> lo(new LoadedObject());
  lo->state_ = std::make_unique<LoadedObject::State>();
  lo->name_ = "plugin." + std::to_string(impl_->counter++);
  auto link_error = [&](std::string message) {
    if (!message.empty())
      diagnostics.add(make_diagnostic(Stage::link, Severity::error, file, std::move(message)));
    return nullptr;
  };

  auto dylib = es.createJITDylib(lo->name_);
  if (!dylib) return link_error(llvm::toString(dylib.takeError()));
  lo->state_->dylib = &*dylib;
  if (auto err = define_runtime(jit, *dylib, &lo->state_->atexit, impl_->host_symbols))
    return link_error(llvm::toString(std::move(err)));

  if (impl_->support) dylib->addToLinkOrder(*impl_->support);
  lo->state_->tracker = dylib->createResourceTracker();
  auto buffer = llvm::MemoryBuffer::getMemBufferCopy(object.bytes, file);
  auto fail = [&](std::string message) -> std::shared_ptr<LoadedObject> {
    if (lo->state_->tracker) llvm::consumeError(lo->state_->tracker->remove());
    llvm::consumeError(es.removeJITDylib(*lo->state_->dylib));
    lo->state_->dylib = nullptr;
    return link_error(std::move(message));
  };
  if (auto err = jit.addObjectFile(lo->state_->tracker, std::move(buffer)))
    return fail(llvm::toString(std::move(err)));

  // Looking up the init function materialises (links) the whole object.
  auto init = jit.lookup(*lo->state_->dylib, "asiarch_jit_init");
  if (!init) {
    llvm::handleAllErrors(
        init.takeError(),
        [&](const llvm::orc::SymbolsNotFound& e) {
          for (const auto& sym : e.getSymbols()) impl_->missing_symbols.push_back((*sym).str());
        },
        [&](const llvm::ErrorInfoBase& e) { impl_->errors.push_back(e.message()); });
    std::sort(impl_->missing_symbols.begin(), impl_->missing_symbols.end());
    impl_->missing_symbols.erase(
        std::unique(impl_->missing_symbols.begin(), impl_->missing_symbols.end()),
        impl_->missing_symbols.end());
    if (impl_->missing_symbols.empty()) {
      std::string all;
      for (const auto& e : impl_->errors) all += (all.empty() ? "" : "; ") + e;
      return fail("linking failed: " + all);
    }
    for (const std::string& sym : impl_->missing_symbols) {
      if (sym == "asiarch_jit_init") continue;
      std::string demangled = llvm::demangle(sym);
      Diagnostic d = make_diagnostic(Stage::link, Severity::error, file,
                                     "undefined symbol: " + demangled +
                                         (demangled != sym ? " (" + sym + ")" : ""));
      d.line = find_line(source, demangled, &d.source_line);
      if (d.line > 0) d.column = 1;
      diagnostics.add(std::move(d));
    }
    return fail("");
  }
  lo->session_ = shared_from_this();
  init->toPtr<void (*)()>()();
  return lo;
}

bool JitSession::has_support() const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->support != nullptr;
}

Status JitSession::add_support(const ObjectCode& object) {
  std::lock_guard<std::mutex> lock(impl_->mu);
  if (impl_->support) return Ok{};
  auto& jit = *impl_->jit;
  auto& es = jit.getExecutionSession();
  auto dylib = es.createJITDylib("asiarch.support");
  if (!dylib) return make_error("the JIT's support object: " + llvm::toString(dylib.takeError()));
  if (auto err = define_runtime(jit, *dylib, &impl_->support_atexit, {}))
    return make_error("the JIT's support object: " + llvm::toString(std::move(err)));
  // Its own init and fini never answer a plugin's lookup: the plugin's are found first, in its
  // own JITDylib.
  if (auto err = jit.addObjectFile(*dylib, llvm::MemoryBuffer::getMemBufferCopy(object.bytes, "asiarch_torch_templates.o")))
    return make_error("the JIT's support object: " + llvm::toString(std::move(err)));
  impl_->support = &*dylib;
  return Ok{};
}

bool JitSession::is_loaded(const std::string& name) const {
  std::lock_guard<std::mutex> lock(impl_->mu);
  return impl_->jit->getExecutionSession().getJITDylibByName(name) != nullptr;
}

void* LoadedObject::lookup(const std::string& name) const {
  if (!state_ || !state_->dylib || !session_) return nullptr;
  std::lock_guard<std::mutex> lock(session_->impl_->mu);
  auto addr = session_->impl_->jit->lookup(*state_->dylib, name);
  if (!addr) {
    llvm::consumeError(addr.takeError());
    return nullptr;
  }
  return addr->toPtr<void*>();
}

LoadedObject::~LoadedObject() {
  if (!state_ || !state_->dylib || !session_) return;
  auto* impl = session_->impl_.get();
  {
    std::vector<std::pair<void (*)(void*), void*>> fns;
    {
      std::lock_guard<std::mutex> lock(state_->atexit.mu);
      fns.swap(state_->atexit.fns);
    }
    for (auto it = fns.rbegin(); it != fns.rend(); ++it) it->first(it->second);
  }
  if (void* fini = lookup("asiarch_jit_fini")) reinterpret_cast<void (*)()>(fini)();
  std::lock_guard<std::mutex> lock(impl->mu);
  auto& es = impl->jit->getExecutionSession();
  llvm::consumeError(state_->tracker->remove());
  llvm::consumeError(es.removeJITDylib(*state_->dylib));
}

}  // namespace asiarch::jit
