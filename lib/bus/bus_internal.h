/*
 * bus_internal.h — what a bus backend implements, and the helpers bus.c
 * gives backends. Not for callers of bus.h.
 *
 * The shape follows a storage-backend table: a backend is a name (the URL
 * scheme) plus a table of typed operations; callers hold the opaque
 * bus_writer / bus_reader and never learn which backend they talk to.
 * Every backend struct embeds `struct bus_writer` / `struct bus_reader` as
 * its FIRST member, so bus.c can dispatch through ->be and the backend can
 * cast back. Adding a backend (nats.c was) is one new file plus one line in
 * bus.c's table.
 *
 * bus.c does the work common to all backends before calling an operation:
 * URL parsing, argument checks (non-NULL handles, key length), and clearing
 * err. Operations return 0 or a negative BUS_E* code and, on failure, always
 * fill err (errbuf_set) with a message naming the backend and topic/group.
 */
#ifndef PGOPIPE_BUS_INTERNAL_H
#define PGOPIPE_BUS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "bus.h"

/* A parsed bus URL: SCHEME://NAME?k=v&k=v. Keys and values are
 * percent-decoded; order is kept. All strings are owned by the struct. */
typedef struct bus_param {
  char *key;
  char *value;
  int used; /* set by a backend that consumed it (e.g. "topic") */
} bus_param;

typedef struct bus_url {
  char *scheme; /* "kafka", "mem" */
  char *name;   /* topic (writer) or group (kafka reader) */
  bus_param *params;
  size_t nparams;
} bus_url;

/* Returns the value of param key (marking it used) or NULL. */
const char *bus_url_param(bus_url *u, const char *key);

/*
 * Parses a param as a non-negative integer in [min, max]. Returns 0 and sets
 * *out (left unchanged if the param is absent), or BUS_EINVAL naming it.
 */
int bus_url_param_int(bus_url *u, const char *key, long min, long max, long *out,
                      char *err, size_t errlen);

struct bus_backend;

struct bus_writer {
  const struct bus_backend *be;
};

struct bus_reader {
  const struct bus_backend *be;
  uint64_t id; /* random, set by bus.c after open: which reader a message
                * came from (an address could be reused after close) */
};

/*
 * A message as handed out by bus_poll: one allocation holding the public
 * part, the key and a copy of the payload, so it outlives the reader and
 * bus_msg_free is a plain free(). `owner` and `gen` let a backend check in
 * commit that the message is its own (by reader id) and still from the current assignment
 * of its partition.
 */
typedef struct bus_msg_full {
  bus_msg pub;
  uint64_t owner; /* the id of the reader that delivered it */
  uint64_t gen;
} bus_msg_full;

/* Allocates a bus_msg_full with copies of key (NULL → "") and payload.
 * NULL on allocation failure. Freed with bus_msg_free. */
bus_msg_full *bus_msg_new(const struct bus_reader *owner, const void *key, size_t keylen,
                          const void *payload, size_t len, int32_t partition,
                          int64_t offset, uint64_t gen);

/* ---- the operations ---- */

/*
 * Opens a writer for u (u->name is the topic; unused params are an error the
 * backend reports). On success *out is a backend struct whose first member is
 * struct bus_writer with ->be set. u stays owned by the caller; the backend
 * copies what it keeps.
 */
typedef int bus_writer_open_fn(bus_url *u, struct bus_writer **out, char *err, size_t errlen);

/*
 * Publishes len bytes of msg under key (NUL-terminated, may be "") and
 * returns only once the message is durable per the backend's promise or
 * has failed. Must be safe to call from several threads at once on one
 * writer. Bounded in time: a backend that waits on a network says how long.
 */
typedef int bus_publish_fn(struct bus_writer *w, const char *key, const void *msg, size_t len,
                           char *err, size_t errlen);

/* Health check of the writer's transport, bounded in time. */
typedef int bus_writer_check_fn(struct bus_writer *w, char *err, size_t errlen);

/* Delivers or fails what is outstanding (bounded) and frees w. No other
 * call on w may be running or follow. */
typedef void bus_writer_close_fn(struct bus_writer *w);

/* Opens a reader for u (kafka: u->name is the group, param topic required;
 * mem: u->name is the topic). Same ownership rules as writer_open. */
typedef int bus_reader_open_fn(bus_url *u, struct bus_reader **out, char *err, size_t errlen);

/*
 * Waits up to timeout_ms (0 = do not wait) for the next message. Returns 1
 * and a bus_msg_full from bus_msg_new in *msg, 0 on timeout, or a negative
 * code. Messages of a partition come in offset order. Called from one
 * thread at a time.
 */
typedef int bus_poll_fn(struct bus_reader *r, int timeout_ms, bus_msg_full **msg,
                        char *err, size_t errlen);

/*
 * Commits msg->offset + 1 for msg's partition, synchronously. msg came from
 * this reader (bus.c checks the owner id). If the partition is no longer assigned
 * to this reader, or was revoked and reassigned since msg was polled
 * (gen differs), returns BUS_ERETRY and commits nothing. May be called from
 * another thread than the poller.
 */
typedef int bus_commit_fn(struct bus_reader *r, const bus_msg_full *msg, char *err, size_t errlen);

/* Health check of the reader's transport, bounded in time. */
typedef int bus_reader_check_fn(struct bus_reader *r, char *err, size_t errlen);

/* Leaves the group without committing anything more and frees r. */
typedef void bus_reader_close_fn(struct bus_reader *r);

typedef struct bus_backend {
  const char *scheme; /* URL scheme, "kafka" */
  bus_writer_open_fn *writer_open;
  bus_publish_fn *publish;
  bus_writer_check_fn *writer_check;
  bus_writer_close_fn *writer_close;
  bus_reader_open_fn *reader_open;
  bus_poll_fn *poll;
  bus_commit_fn *commit;
  bus_reader_check_fn *reader_check;
  bus_reader_close_fn *reader_close;
} bus_backend;

extern const bus_backend bus_backend_kafka;
extern const bus_backend bus_backend_nats;
extern const bus_backend bus_backend_mem;

/* The logger installed with bus_set_logger (never NULL; fn NULL = silent). */
const core_logger *bus_logger(void);

/* Topic names as Kafka allows them: [A-Za-z0-9._-]{1,249}. */
int bus_valid_topic(const char *s);

#endif
