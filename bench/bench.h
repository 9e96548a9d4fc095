/* What the bench programs share: the clock, the best of rounds, and how a
 * bench stops on an error.  Each program defines BENCH_NAME (its name, for
 * its error messages) before including this file, and its own ROUNDS: how
 * many rounds filter out a shared machine's noise depends on how long one
 * round is. */
#ifndef LIBWATCH_BENCH_H
#define LIBWATCH_BENCH_H

#include <watch.h>

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

/* Seconds on a clock that never goes back: only differences mean anything. */
static inline double
now(void)
{
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Each figure is the best of its rounds: noise only ever adds time. */
static inline double
best(double a, double b)
{
  return a < b ? a : b;
}

/* A bench whose setup failed has nothing to measure: says what failed, with
 * libwatch's error and Python's, and exits. */
static inline void
die(const char *what, int rc)
{
  fprintf(stderr, "%s: %s: %s\n", BENCH_NAME, what, watch_strerror(rc));
  if (PyErr_Occurred())
    PyErr_Print();
  exit(1);
}

#endif
