/*
 * svc_http_watch.c — connection tracking and the request-timeout watchdog.
 *
 * libmicrohttpd's connection timeout restarts with every byte received, so
 * a client trickling its headers one byte at a time would hold a
 * connection (and in thread mode a thread) forever. A watchdog thread keeps
 * a deadline per connection (from the connection notifier): armed when the
 * connection opens and after each request (the idle timeout plus the
 * request timeout: time to start the next request and send it), tightened
 * to the request timeout once its request line is in, disarmed while the
 * handler runs and the answer goes out (svc_http.c arms it at those
 * points). A connection past its deadline is shut down (shutdown(2) on its
 * socket); libmicrohttpd then sees the end of the stream and closes it.
 */
#include "svc_http_internal.h"

#include "svc_log.h"

#include "chrono.h"

#include <stdlib.h>
#include <sys/socket.h>

static conn_watch *watch_of(struct MHD_Connection *conn) {
  const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
  return ci ? ci->socket_context : NULL;
}

void svc_watch_arm(svc_http *h, struct MHD_Connection *conn, int64_t ms, int tighten) {
  conn_watch *w = watch_of(conn);
  if (!w) return;
  int64_t d = ms < 0 ? INT64_MAX : chrono_mono_ns() + ms * 1000000;
  pthread_mutex_lock(&h->wd_mu);
  if (!tighten || d < w->deadline_ns) w->deadline_ns = d;
  pthread_mutex_unlock(&h->wd_mu);
}

int64_t svc_watch_next_request_ms(const svc_http *h) {
  return (int64_t)h->cfg.idle_timeout_s * 1000 + h->cfg.request_timeout_ms;
}

void svc_watch_on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                             enum MHD_ConnectionNotificationCode code) {
  svc_http *h = cls;
  if (code == MHD_CONNECTION_NOTIFY_STARTED) {
    conn_watch *w = calloc(1, sizeof *w);
    const union MHD_ConnectionInfo *ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    if (!w || !ci) {
      free(w);
      return;
    }
    w->fd = ci->connect_fd;
    w->deadline_ns = chrono_mono_ns() + svc_watch_next_request_ms(h) * 1000000;
    pthread_mutex_lock(&h->wd_mu);
    w->next = h->conns;
    if (h->conns) h->conns->prev = w;
    h->conns = w;
    pthread_mutex_unlock(&h->wd_mu);
    *socket_context = w;
    return;
  }
  conn_watch *w = *socket_context;
  if (!w) return;
  pthread_mutex_lock(&h->wd_mu);
  if (w->prev) w->prev->next = w->next;
  else h->conns = w->next;
  if (w->next) w->next->prev = w->prev;
  pthread_mutex_unlock(&h->wd_mu);
  *socket_context = NULL;
  free(w);
}

/* Shuts down connections past their deadline, several times a second. */
static void *watchdog(void *arg) {
  svc_http *h = arg;
  int64_t tick_ms = h->cfg.request_timeout_ms / 8;
  if (tick_ms > 250) tick_ms = 250;
  if (tick_ms < 10) tick_ms = 10;
  pthread_mutex_lock(&h->wd_mu);
  while (!h->wd_stop) {
    int64_t now = chrono_mono_ns();
    for (conn_watch *w = h->conns; w; w = w->next) {
      if (w->shut || now < w->deadline_ns) continue;
      w->shut = 1;
      shutdown(w->fd, SHUT_RDWR);
      SVC_WARN("request not received within the request timeout; connection closed",
               SVC_INT("request_timeout_ms", h->cfg.request_timeout_ms));
    }
    struct timespec ts = svc_realtime_in(tick_ms * 1000000);
    pthread_cond_timedwait(&h->wd_cv, &h->wd_mu, &ts);
  }
  pthread_mutex_unlock(&h->wd_mu);
  return NULL;
}

void svc_watch_stop(svc_http *h) {
  if (!h->wd_running) return;
  pthread_mutex_lock(&h->wd_mu);
  h->wd_stop = 1;
  pthread_cond_broadcast(&h->wd_cv);
  pthread_mutex_unlock(&h->wd_mu);
  pthread_join(h->wd, NULL);
  h->wd_running = 0;
}

int svc_watch_start(svc_http *h) {
  h->wd_stop = 0;
  if (pthread_create(&h->wd, NULL, watchdog, h) != 0) return -1;
  h->wd_running = 1;
  return 0;
}
