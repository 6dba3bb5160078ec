// Stop signals (SIGTERM, SIGUSR1): the handler and this rank's record of them, shared by the
// MPI build (par.c) and the serial one (par_serial.c), which differ only in how the ranks
// agree on them (par_stop_agreed).
#include <signal.h>

#include "par/par.h"

// The one piece of process-wide state: a signal handler can reach nothing else. `asked`
// counts the stop signals received, `acted` how many of them the ranks agreed on
// (par_stop_agreed), `last` is the latest one (re-raised by par_signals_restore).
static volatile sig_atomic_t asked = 0, acted = 0, last = 0;

static void on_stop_signal(int sig) {
    last = sig;
    asked++;
}

void par_signals_install(void) {
    struct sigaction sa = {0};
    sa.sa_handler = on_stop_signal;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
}

void par_signals_restore(void) {
    signal(SIGTERM, SIG_DFL);
    signal(SIGUSR1, SIG_DFL);
    // a signal that came after the ranks last agreed was not acted on: act on it now, as if
    // the handler had never been installed (the signal that arrived, not another)
    if (asked != acted) acted = asked, raise(last);
}

int par_stop_requested(void) {
    return asked != acted;
}

int par_stop_take(void) {
    int seen = asked, flag = seen != acted;
    acted = seen;  // a signal arriving from here on is newer than `seen`: still pending
    return flag;
}
