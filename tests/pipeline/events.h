/*
 * events.h — what the tests of lib/pipeline's rules read back from the
 * in-process bus (mem://): every event waiting, decoded, checked to be keyed
 * by its app, and committed.
 */
#ifndef PGOPIPE_TESTS_PIPELINE_EVENTS_H
#define PGOPIPE_TESTS_PIPELINE_EVENTS_H

#include "bus.h"
#include "../common/check.h"

/* Drains the mem topic; returns the number of events, last one in *last. */
static inline int drain(bus_reader *rd, bus_event *last) {
  int n = 0;
  bus_msg *m;
  char err[256];
  while (bus_poll(rd, 50, &m, err, sizeof err) == 1) {
    CHECK_EQ(bus_event_decode(m->payload, m->len, last, err, sizeof err), 0);
    CHECK_STR(m->key, last->app);
    CHECK_EQ(bus_commit(rd, m, err, sizeof err), 0);
    bus_msg_free(m);
    n++;
  }
  return n;
}

#endif
