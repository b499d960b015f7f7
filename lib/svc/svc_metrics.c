/*
 * svc_metrics.c — the metrics registry (see svc_metrics.h). Each family owns
 * a mutex and a growable array of series; a series stores its label values
 * joined with '\0' separators so that lookup is one memcmp per series.
 */
#include "svc_metrics.h"

#include "strbuf.h"

#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum { K_COUNTER, K_GAUGE, K_HISTOGRAM };

const double svc_metrics_latency_buckets[] = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                              0.1,   0.25,   0.5,   1,    2.5,   5, 10};
const size_t svc_metrics_latency_nbuckets = sizeof svc_metrics_latency_buckets / sizeof(double);
const double svc_metrics_size_buckets[] = {1024, 4096, 16384, 65536, 262144, 1048576, 4194304,
                                           16777216, 67108864};
const size_t svc_metrics_size_nbuckets = sizeof svc_metrics_size_buckets / sizeof(double);

typedef struct series {
  char *key;      /* label values joined by '\0' */
  size_t keylen;
  double value;   /* counter/gauge value; histogram sum */
  double count;   /* histogram: number of observations */
  double *bucket; /* histogram: per-bucket (non-cumulative) counts */
} series;

struct svc_metric {
  int kind;
  char *name, *help;
  char **labels;
  size_t nlabels;
  double *buckets;
  size_t nbuckets;
  pthread_mutex_t mu;
  series *s;
  size_t ns, cap;
  struct svc_metric *next;
};

struct svc_metrics {
  svc_metric *first, *last;
};

svc_metrics *svc_metrics_new(void) { return calloc(1, sizeof(svc_metrics)); }

static void family_free(svc_metric *f) {
  for (size_t i = 0; i < f->ns; i++) {
    free(f->s[i].key);
    free(f->s[i].bucket);
  }
  free(f->s);
  for (size_t i = 0; i < f->nlabels; i++) free(f->labels[i]);
  free(f->labels);
  free(f->buckets);
  free(f->name);
  free(f->help);
  pthread_mutex_destroy(&f->mu);
  free(f);
}

void svc_metrics_free(svc_metrics *m) {
  if (!m) return;
  for (svc_metric *f = m->first, *nx; f; f = nx) {
    nx = f->next;
    family_free(f);
  }
  free(m);
}

static svc_metric *family_new(svc_metrics *m, int kind, const char *name, const char *help, const char *labels,
                              const double *buckets, size_t nb) {
  for (svc_metric *f = m->first; f; f = f->next)
    if (strcmp(f->name, name) == 0) return NULL;
  svc_metric *f = calloc(1, sizeof *f);
  if (!f) return NULL;
  f->kind = kind;
  f->name = strdup(name);
  f->help = strdup(help ? help : "");
  pthread_mutex_init(&f->mu, NULL);
  if (!f->name || !f->help) goto fail;
  if (labels && *labels) {
    size_t cnt = 1;
    for (const char *p = labels; *p; p++) cnt += *p == ',';
    f->labels = calloc(cnt, sizeof(char *));
    if (!f->labels) goto fail;
    const char *p = labels;
    for (size_t i = 0; i < cnt; i++) {
      const char *e = strchr(p, ',');
      size_t l = e ? (size_t)(e - p) : strlen(p);
      f->labels[i] = strndup(p, l);
      if (!f->labels[i]) goto fail;
      f->nlabels++;
      p = e ? e + 1 : p + l;
    }
  }
  if (kind == K_HISTOGRAM) {
    f->buckets = malloc((nb ? nb : 1) * sizeof(double));
    if (!f->buckets) goto fail;
    memcpy(f->buckets, buckets, nb * sizeof(double));
    f->nbuckets = nb;
  }
  if (m->last) m->last->next = f;
  else m->first = f;
  m->last = f;
  return f;
fail:
  family_free(f);
  return NULL;
}

svc_metric *svc_metrics_counter(svc_metrics *m, const char *name, const char *help, const char *labels) {
  return family_new(m, K_COUNTER, name, help, labels, NULL, 0);
}
svc_metric *svc_metrics_gauge(svc_metrics *m, const char *name, const char *help, const char *labels) {
  return family_new(m, K_GAUGE, name, help, labels, NULL, 0);
}
svc_metric *svc_metrics_histogram(svc_metrics *m, const char *name, const char *help, const char *labels,
                                  const double *buckets, size_t nbuckets) {
  return family_new(m, K_HISTOGRAM, name, help, labels, buckets, nbuckets);
}

/* Builds the joined key from the label values in ap into buf (grown as
 * needed; caller frees *buf). */
static int make_key(const svc_metric *f, va_list ap, char **buf, size_t *len) {
  size_t cap = 64, l = 0;
  char *b = malloc(cap);
  if (!b) return -1;
  for (size_t i = 0; i < f->nlabels; i++) {
    const char *v = va_arg(ap, const char *);
    size_t vl;
    if (!v) v = "";
    vl = strlen(v);
    if (l + vl + 1 > cap) {
      while (l + vl + 1 > cap) cap *= 2;
      char *nb = realloc(b, cap);
      if (!nb) { free(b); return -1; }
      b = nb;
    }
    memcpy(b + l, v, vl);
    l += vl;
    b[l++] = '\0';
  }
  *buf = b;
  *len = l;
  return 0;
}

/* Finds or creates the series for key; called with f->mu held. Takes
 * ownership of key. Returns NULL on allocation failure. */
static series *get_series(svc_metric *f, char *key, size_t keylen) {
  for (size_t i = 0; i < f->ns; i++)
    if (f->s[i].keylen == keylen && memcmp(f->s[i].key, key, keylen) == 0) {
      free(key);
      return &f->s[i];
    }
  if (f->ns == f->cap) {
    size_t nc = f->cap ? f->cap * 2 : 8;
    series *ns = realloc(f->s, nc * sizeof *ns);
    if (!ns) { free(key); return NULL; }
    f->s = ns;
    f->cap = nc;
  }
  series *s = &f->s[f->ns];
  memset(s, 0, sizeof *s);
  s->key = key;
  s->keylen = keylen;
  if (f->kind == K_HISTOGRAM) {
    s->bucket = calloc(f->nbuckets + 1, sizeof(double));
    if (!s->bucket) { free(key); return NULL; }
  }
  f->ns++;
  return s;
}

static void update(svc_metric *f, int op, double v, va_list ap) {
  char *key;
  size_t keylen;
  if (make_key(f, ap, &key, &keylen) != 0) return;
  pthread_mutex_lock(&f->mu);
  series *s = get_series(f, key, keylen);
  if (s) {
    if (op == 0) s->value += v;
    else if (op == 1) s->value = v;
    else {
      size_t b = 0;
      while (b < f->nbuckets && v > f->buckets[b]) b++;
      s->bucket[b] += 1;
      s->count += 1;
      s->value += v;
    }
  }
  pthread_mutex_unlock(&f->mu);
}

void svc_metric_add(svc_metric *c, double v, ...) {
  va_list ap;
  if (!c) return;
  va_start(ap, v);
  update(c, c->kind == K_HISTOGRAM ? 2 : 0, v, ap);
  va_end(ap);
}

void svc_metric_set(svc_metric *g, double v, ...) {
  va_list ap;
  if (!g) return;
  va_start(ap, v);
  update(g, g->kind == K_HISTOGRAM ? 2 : 1, v, ap);
  va_end(ap);
}

void svc_metric_observe(svc_metric *h, double v, ...) {
  va_list ap;
  if (!h) return;
  va_start(ap, v);
  update(h, h->kind == K_HISTOGRAM ? 2 : 0, v, ap);
  va_end(ap);
}

double svc_metric_value(svc_metric *c, ...) {
  va_list ap;
  char *key;
  size_t keylen;
  double r = 0;
  if (!c) return 0;
  va_start(ap, c);
  int rc = make_key(c, ap, &key, &keylen);
  va_end(ap);
  if (rc != 0) return 0;
  pthread_mutex_lock(&c->mu);
  for (size_t i = 0; i < c->ns; i++)
    if (c->s[i].keylen == keylen && memcmp(c->s[i].key, key, keylen) == 0)
      r = c->kind == K_HISTOGRAM ? c->s[i].count : c->s[i].value;
  pthread_mutex_unlock(&c->mu);
  free(key);
  return r;
}

/* ---- rendering ---- */

/* Shortest decimal form that reads back as the same double. */
static void fmt_num(char *num, size_t n, double v) {
  if (isnan(v)) snprintf(num, n, "NaN");
  else if (isinf(v)) snprintf(num, n, v > 0 ? "+Inf" : "-Inf");
  else if (v == (double)(long long)v && fabs(v) < 1e15) snprintf(num, n, "%lld", (long long)v);
  else
    for (int prec = 1; prec <= 17; prec++) {
      snprintf(num, n, "%.*g", prec, v);
      if (strtod(num, NULL) == v) break;
    }
}

static void sb_num(strbuf *s, double v) {
  char num[64];
  fmt_num(num, sizeof num, v);
  strbuf_str(s, num);
}

/* Label values escape backslash, double quote and newline; help text escapes
 * backslash and newline (exposition format rules). */
static void sb_escaped(strbuf *s, const char *p, int quote) {
  for (; *p; p++) {
    if (*p == '\\') strbuf_add(s, "\\\\", 2);
    else if (*p == '\n') strbuf_add(s, "\\n", 2);
    else if (quote && *p == '"') strbuf_add(s, "\\\"", 2);
    else strbuf_add(s, p, 1);
  }
}

/* Writes {a="x",b="y"[,le="..."]} (nothing when there are no labels). */
static void sb_labels(strbuf *s, const svc_metric *f, const series *se, const char *le) {
  if (f->nlabels == 0 && !le) return;
  strbuf_add(s, "{", 1);
  const char *v = se->key;
  for (size_t i = 0; i < f->nlabels; i++) {
    if (i) strbuf_add(s, ",", 1);
    strbuf_str(s, f->labels[i]);
    strbuf_add(s, "=\"", 2);
    sb_escaped(s, v, 1);
    strbuf_add(s, "\"", 1);
    v += strlen(v) + 1;
  }
  if (le) {
    if (f->nlabels) strbuf_add(s, ",", 1);
    strbuf_str(s, "le=\"");
    strbuf_str(s, le);
    strbuf_add(s, "\"", 1);
  }
  strbuf_add(s, "}", 1);
}

char *svc_metrics_render(svc_metrics *m) {
  strbuf s = {0};
  strbuf_add(&s, "", 0);
  for (svc_metric *f = m->first; f; f = f->next) {
    static const char *types[] = {"counter", "gauge", "histogram"};
    strbuf_str(&s, "# HELP ");
    strbuf_str(&s, f->name);
    strbuf_add(&s, " ", 1);
    sb_escaped(&s, f->help, 0);
    strbuf_str(&s, "\n# TYPE ");
    strbuf_str(&s, f->name);
    strbuf_add(&s, " ", 1);
    strbuf_str(&s, types[f->kind]);
    strbuf_add(&s, "\n", 1);
    pthread_mutex_lock(&f->mu);
    for (size_t i = 0; i < f->ns; i++) {
      series *se = &f->s[i];
      if (f->kind != K_HISTOGRAM) {
        strbuf_str(&s, f->name);
        sb_labels(&s, f, se, NULL);
        strbuf_add(&s, " ", 1);
        sb_num(&s, se->value);
        strbuf_add(&s, "\n", 1);
        continue;
      }
      double cum = 0;
      char le[64];
      for (size_t b = 0; b <= f->nbuckets; b++) {
        cum += se->bucket[b];
        if (b < f->nbuckets) fmt_num(le, sizeof le, f->buckets[b]);
        else snprintf(le, sizeof le, "+Inf");
        strbuf_str(&s, f->name);
        strbuf_str(&s, "_bucket");
        sb_labels(&s, f, se, le);
        strbuf_add(&s, " ", 1);
        sb_num(&s, cum);
        strbuf_add(&s, "\n", 1);
      }
      strbuf_str(&s, f->name);
      strbuf_str(&s, "_sum");
      sb_labels(&s, f, se, NULL);
      strbuf_add(&s, " ", 1);
      sb_num(&s, se->value);
      strbuf_add(&s, "\n", 1);
      strbuf_str(&s, f->name);
      strbuf_str(&s, "_count");
      sb_labels(&s, f, se, NULL);
      strbuf_add(&s, " ", 1);
      sb_num(&s, se->count);
      strbuf_add(&s, "\n", 1);
    }
    pthread_mutex_unlock(&f->mu);
  }
  if (s.oom) {
    free(s.p);
    return NULL;
  }
  return s.p;
}
