// What launch/bench/tools/nfq-delay.swift uses: libnetfilter_queue (nfq_*), libnfnetlink's socket buffer
// size (nfnl_rcvbufsiz), the verdict constant NF_ACCEPT, and signalfd. The library's header needs
// the integer types declared before it.
#include <stdint.h>
#include <sys/types.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

// ppoll (the wait with a timeout finer than poll's milliseconds) is a GNU extension that Swift's
// Glibc module does not declare.
#include <poll.h>
#include <signal.h>
#include <time.h>
#include <sys/signalfd.h>
int ppoll(struct pollfd *fds, nfds_t nfds, const struct timespec *timeout, const sigset_t *sigmask);
