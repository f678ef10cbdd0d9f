// ORC LLJIT: links plugin objects into the process, each into its own
// JITDylib, and unloads them again.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "jit/compiler.h"
#include "jit/diagnostics.h"
#include "util/result.h"

namespace asiarch::jit {

class JitSession;

// A host function that plugin code calls by name: every plugin's JITDylib
// defines `name` as `address`, so it resolves whether or not the process
// exports it.
struct HostSymbol {
  std::string name;
  const void* address = nullptr;
};

// Linked plugin code. Unloads (runs static destructors, frees the code) when
// the last reference goes: anything that points into the code, such as a
// mixer's vtable, must hold a reference.
class LoadedObject {
 public:
  ~LoadedObject();
  LoadedObject(const LoadedObject&) = delete;
  LoadedObject& operator=(const LoadedObject&) = delete;

  // Address of a defined symbol, or nullptr.
  void* lookup(const std::string& name) const;
  const std::string& name() const { return name_; }

  struct State;  // private to session.cpp

 private:
  friend class JitSession;
  LoadedObject() = default;
  std::shared_ptr<JitSession> session_;
  std::unique_ptr<State> state_;
  std::string name_;
};

class JitSession : public std::enable_shared_from_this<JitSession> {
 public:
  // `host_symbols`: what plugins may call in the host beyond the process's
  // exported symbols (the native kernels: jit/kernel_symbols.h).
  static Result<std::shared_ptr<JitSession>> create(std::vector<HostSymbol> host_symbols);
  ~JitSession();

  // Links `object` (compiled from `source` under the name `file`) and runs
  // its static constructors. Returns nullptr and appends link diagnostics
  // (undefined symbols, located in `source` where it names them) on failure.
  std::shared_ptr<LoadedObject> load(const ObjectCode& object, const std::string& file,
                                     const std::string& source, Diagnostics& diagnostics);

  // Adds the JIT's support object (Compiler::support_object) in a JITDylib of its own that
  // every plugin loaded afterwards links against. Its code is linked only when a plugin
  // refers to it; its static constructors are never run (it has none that matter: explicit
  // template instantiations).
  Status add_support(const ObjectCode& object);
  bool has_support() const;

  // Whether ORC still holds the JITDylib of the object called `name`
  // (LoadedObject::name()): lets a caller see that unloading removed the
  // code, not only that the last reference went.
  bool is_loaded(const std::string& name) const;

  struct Impl;  // private to session.cpp

 private:
  friend class LoadedObject;
  JitSession() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace asiarch::jit
