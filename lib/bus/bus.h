/*
 * bus.h — the event bus: how the upload service tells workers what to merge.
 *
 * Two parts:
 *  - the envelope of the contract (JSON: id, timestamp, type, payload),
 *    encoded and decoded with jansson;
 *  - writers and readers behind opaque handles, one backend per file
 *    (kafka.c, nats.c, mem.c), chosen by URL:
 *      writer kafka://TOPIC            reader kafka://GROUP?topic=TOPIC
 *      writer nats://SUBJECT           reader nats://SUBJECT?durable=NAME
 *                                      (NATS JetStream; see nats.c)
 *      writer mem://TOPIC              reader mem://TOPIC   (same process only)
 *    Kafka brokers come from KAFKA_BROKERS; any other query parameter is
 *    handed to librdkafka as a configuration property, untouched, after
 *    our defaults (so the URL can override them): writers enable.idempotence
 *    =true, acks=all, linger.ms=0, message.timeout.ms=30000 (the bound on a
 *    publish); readers enable.auto.commit=false, enable.auto.offset.store=
 *    false, auto.offset.reset=earliest, fetch.wait.max.ms=50,
 *    session.timeout.ms=10000. Ours, not librdkafka's: check.timeout.ms
 *    (default 5000), the bound on the broker check at open and in *_check.
 *    mem:// takes max.messages (default 100000): how many uncommitted
 *    messages a topic may hold before publish returns BUS_ERETRY.
 *    Names and values in URLs are percent-decoded.
 *
 * Delivery is at-least-once: a writer's publish returns only after the
 * broker acknowledged (idempotent producer, acks=all); a reader commits a
 * message only when the caller says it is done (bus_commit), so a crash
 * redelivers what was not committed.
 *
 * App names are the contract's (layout_app_valid); timestamps are RFC 3339
 * (chrono.h). Errors: 0 or a negative BUS_E* code, message in err.
 */
#ifndef PGOPIPE_BUS_H
#define PGOPIPE_BUS_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "corelog.h"
#include "layout.h"

#ifdef __cplusplus
extern "C" {
#endif

enum {
  BUS_OK = 0,
  BUS_EIO = -1,       /* permanent failure */
  BUS_EINVAL = -2,    /* bad URL, bad envelope */
  BUS_ERETRY = -3,    /* transient: broker unreachable, timed out */
  BUS_ENOMEM = -4,
  BUS_ECLOSED = -5    /* the bus was closed / is shutting down */
};

const char *bus_strerror(int code);

/*
 * Where the bus's log lines go (librdkafka's own messages and errors, as
 * records "kafka: DETAIL" with fields facility and client). The logger is
 * copied; NULL (the default) drops them. Process-wide: call it once at
 * start-up, before any reader or writer is opened.
 */
void bus_set_logger(const core_logger *lg);

/* ---- Envelope ---- */

#define BUS_TYPE_UPLOADED "profile.uploaded"
#define BUS_TYPE_MERGED   "profile.merged"
#define BUS_TYPE_DELETED  "profile.deleted"

/* Capacities of the optional payload fields (bytes, without the NUL). */
#define BUS_NAME_MAX 255
#define BUS_INSTANCE_MAX 511
#define BUS_LABELS_MAX 4095

typedef struct bus_event {
  char id[37];          /* UUIDv4, lower-case */
  char timestamp[32];   /* RFC 3339 UTC, milliseconds: 2026-11-21T12:16:34.964Z */
  char type[48];        /* one of BUS_TYPE_*, or another string (kept as read) */
  char app[64];         /* payload.app ("" if absent) */
  char profile_key[1025]; /* payload.profileKey ("" if absent) */
  char merged_key[1025];  /* payload.mergedKey ("" if absent) */
  /*
   * Optional payload fields ("" / 0 = absent; autopgo's events carry none):
   * the upload's metadata on profile.uploaded (all of them), the kind of
   * the base written on profile.merged (kind only). Other types carry none.
   */
  char kind[16];        /* payload.kind: a kind name of layout_kind_name ("cpu", "heap", ...) */
  char mode[16];        /* payload.mode: "delta" or "cumulative" */
  char source[16];      /* payload.source: [a-z0-9_-]{1,15} ("api", "scraper", "pyroscope", ...) */
  char name[BUS_NAME_MAX + 1];         /* payload.name: the original service name */
  char instance[BUS_INSTANCE_MAX + 1]; /* payload.instance: the instance identity */
  char labels[BUS_LABELS_MAX + 1];     /* payload.labels: a JSON object whose values are strings or
                                          arrays of strings, as compact JSON text (jansson's
                                          JSON_COMPACT form, which decode writes) */
  int64_t time_ns;      /* payload.time: the upload's time, ns since the epoch */
} bus_event;

/* Fills id (fresh UUIDv4), timestamp (now) and type/app; keys are cleared. */
int bus_event_init(bus_event *ev, const char *type, const char *app);

/* Encodes to JSON; *json is malloc'd (caller frees), NUL-terminated. Only the
 * payload fields meaningful for the type are written; an optional field set
 * on a type that does not carry it, or one that breaks its rule above, is
 * BUS_EINVAL naming it. decode(encode(e)) == e for every event encode
 * accepts whose labels are in the compact form. */
int bus_event_encode(const bus_event *ev, char **json, size_t *len, char *err, size_t errlen);

/*
 * Decodes and checks an envelope: valid JSON object, string id / timestamp /
 * type, object payload; for the three known types the payload fields they
 * need (app valid, keys present). Anything else is BUS_EINVAL with a message
 * ("event: missing \"type\""). Never crashes on any input.
 */
int bus_event_decode(const void *json, size_t len, bus_event *ev, char *err, size_t errlen);

/*
 * Sets ev's optional payload fields from a payload object (members kind,
 * mode, source, name, labels, instance, time; what ev->type does not carry
 * and other members are ignored), with decode's checks: a field of the
 * wrong JSON type, an unknown kind or mode, a source outside
 * [a-z0-9_-]{1,15}, text with a NUL or over its capacity is BUS_EINVAL
 * ("event profile.uploaded: \"payload.labels\" is longer than 4095 bytes").
 * Empty strings and a time of 0 leave the field absent. The fields are
 * cleared first (also on error).
 */
int bus_event_set_meta(bus_event *ev, const json_t *payload, char *err, size_t errlen);

/* The optional payload fields ev carries, as a new JSON object (caller
 * json_decref's it); NULL when out of memory or a field breaks its rule. */
json_t *bus_event_meta(const bus_event *ev);

/* ---- Writers ---- */

typedef struct bus_writer bus_writer;

/* Opens a writer. Kafka: connects and checks the brokers are reachable
 * within a bounded time (BUS_ERETRY with a clear message otherwise). */
int bus_writer_open(const char *url, bus_writer **out, char *err, size_t errlen);

/*
 * Publishes one message with key (the app name) and blocks until it is
 * acknowledged or failed (bounded by the delivery timeout). Thread-safe.
 */
int bus_publish(bus_writer *w, const char *key, const void *msg, size_t len,
                char *err, size_t errlen);

/* Publishes an envelope (encode + bus_publish with key = ev->app). */
int bus_publish_event(bus_writer *w, const bus_event *ev, char *err, size_t errlen);

/* Health: are the brokers reachable now? */
int bus_writer_check(bus_writer *w, char *err, size_t errlen);

/* Flushes outstanding messages (bounded: 10 s for kafka) and frees the
 * writer. No other call on w may be running or follow. NULL is a no-op. */
void bus_writer_close(bus_writer *w);

/* ---- Readers ---- */

typedef struct bus_reader bus_reader;

typedef struct bus_msg {
  const char *key;     /* NUL-terminated copy of the message key ("" if none) */
  const void *payload;
  size_t len;
  int32_t partition;   /* 0 for mem:// */
  int64_t offset;      /* position within the partition, increasing */
} bus_msg;

/* Opens a reader in a consumer group (kafka) or on an in-process topic (mem). */
int bus_reader_open(const char *url, bus_reader **out, char *err, size_t errlen);

/*
 * Waits up to timeout_ms for the next message. Returns 1 and sets *msg
 * (valid until bus_msg_free), 0 on timeout, or a negative code.
 * Messages of one partition arrive in offset order.
 */
int bus_poll(bus_reader *r, int timeout_ms, bus_msg **msg, char *err, size_t errlen);
void bus_msg_free(bus_msg *msg);

/*
 * Marks msg and everything before it in its partition as done and commits
 * that synchronously (offset + 1). Only call after the message was handled.
 * If the partition was revoked meanwhile, returns BUS_ERETRY (the message
 * will be redelivered to the partition's new owner).
 */
int bus_commit(bus_reader *r, const bus_msg *msg, char *err, size_t errlen);

/* Health: is the group coordinator / broker reachable? */
int bus_reader_check(bus_reader *r, char *err, size_t errlen);

/* Leaves the group (committing nothing more) and frees the reader. No other
 * call on r may be running or follow; messages already delivered stay valid
 * until bus_msg_free (but can no longer be committed). NULL is a no-op. */
void bus_reader_close(bus_reader *r);

#ifdef __cplusplus
}
#endif
#endif
