// Linux lets a sleep overshoot by the thread's timer slack (50 us by
// default), which turns the backoff's short sleeps into ~60 us each. The
// executor's own loops ask for 1 us; the guard restores the caller's value
// (a worker rank's loop runs on the application's main thread).
#pragma once

#include <sys/prctl.h>

namespace rankpool::detail {

class short_timer_slack {
 public:
  short_timer_slack() : previous_(prctl(PR_GET_TIMERSLACK, 0, 0, 0, 0)) {
    prctl(PR_SET_TIMERSLACK, 1000UL, 0, 0, 0);  // nanoseconds
  }
  short_timer_slack(const short_timer_slack&) = delete;
  short_timer_slack& operator=(const short_timer_slack&) = delete;
  ~short_timer_slack() {
    if (previous_ > 0) prctl(PR_SET_TIMERSLACK, static_cast<unsigned long>(previous_), 0, 0, 0);
  }

 private:
  long previous_;
};

}  // namespace rankpool::detail
