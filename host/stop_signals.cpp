#include "host/stop_signals.h"

namespace asiarch::host {
namespace {

CancelToken g_cancel;
extern "C" void on_stop_signal(int sig) { g_cancel.cancel(sig); }

}  // namespace

const CancelToken& stop_token() { return g_cancel; }

StopSignals::StopSignals(bool ignore_hangup) : hup_(ignore_hangup) {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
  if (hup_) {
    struct sigaction ign {};
    ign.sa_handler = SIG_IGN;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGHUP, &ign, &old_hup_);
  }
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
  if (hup_) sigaction(SIGHUP, &old_hup_, nullptr);
}

}  // namespace asiarch::host
