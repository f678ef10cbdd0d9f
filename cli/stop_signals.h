// SIGINT and SIGTERM cancel a long command (`run`, `daemon`); SIGHUP asks the
// daemon to reload its configuration. A signal handler reaches only static
// storage: the tokens live in this file, and only the commands that own the
// process install the handlers.
#pragma once

#include <csignal>

#include "util/cancel.h"

namespace asiarch::host {

// The token SIGINT/SIGTERM set.
const CancelToken& stop_token();
// How many SIGHUPs have come (with `catch_hangup`).
int hangups();

// Installs the handlers for its lifetime, restoring the old ones after.
class StopSignals {
 public:
  explicit StopSignals(bool catch_hangup = false);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {}, old_term_ {}, old_hup_ {};
  bool hup_ = false;
};

}  // namespace asiarch::host
