// SIGINT and SIGTERM cancel a long command (`run`, `daemon`); SIGHUP is held
// for the daemon. A signal handler reaches only static storage: the token
// lives in this file, and only the commands that own the process install it.
#pragma once

#include <csignal>

#include "util/cancel.h"

namespace asiarch::host {

// The token the handlers set.
const CancelToken& stop_token();

// Installs the handlers for its lifetime, restoring the old ones after.
class StopSignals {
 public:
  explicit StopSignals(bool ignore_hangup = false);
  ~StopSignals();
  StopSignals(const StopSignals&) = delete;
  StopSignals& operator=(const StopSignals&) = delete;

 private:
  struct sigaction old_int_ {}, old_term_ {}, old_hup_ {};
  bool hup_ = false;
};

}  // namespace asiarch::host
