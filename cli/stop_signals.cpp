#include "cli/stop_signals.h"

#include <atomic>

namespace asiarch::host {
namespace {

CancelToken g_cancel;
std::atomic<int> g_hangups{0};
extern "C" void on_stop_signal(int sig) { g_cancel.cancel(sig); }
extern "C" void on_hangup(int) { g_hangups.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

const CancelToken& stop_token() { return g_cancel; }
int hangups() { return g_hangups.load(std::memory_order_relaxed); }

StopSignals::StopSignals(bool catch_hangup) : hup_(catch_hangup) {
  struct sigaction sa {};
  sa.sa_handler = on_stop_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, &old_int_);
  sigaction(SIGTERM, &sa, &old_term_);
  if (hup_) {
    struct sigaction hup {};
    hup.sa_handler = on_hangup;
    sigemptyset(&hup.sa_mask);
    sigaction(SIGHUP, &hup, &old_hup_);
  }
}

StopSignals::~StopSignals() {
  sigaction(SIGINT, &old_int_, nullptr);
  sigaction(SIGTERM, &old_term_, nullptr);
  if (hup_) sigaction(SIGHUP, &old_hup_, nullptr);
}

}  // namespace asiarch::host
