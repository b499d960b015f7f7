/*
 * pptool.c — a developer and test tool over the engine: decodes, merges,
 * prunes and writes profiles, prints a full dump of the in-memory model
 * (IDs, tables and samples in order, in the same text layout as the Go
 * reference dumper used while developing), and times each stage.
 *
 *   pptool dump IN
 *   pptool merge [-o OUT] IN...            (dump of the merge result)
 *   pptool prune DROP KEEP|- [-o OUT] IN... (merge, prune+compact, dump)
 *   pptool bench OUT IN...                 (decode/merge/encode timings)
 *   pptool append IN OUT COMMENT           (pp_append_comment: IN's bytes plus a comment)
 *   pptool retime IN OUT TIME_NS           (IN with its time set to TIME_NS, encoded)
 *   pptool commentbench IN [N]             (adding a comment: append vs decode+encode, and
 *                                           decoding the result, ms per operation)
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static uint8_t *slurp(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) {
    perror(path);
    exit(2);
  }
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc(sz ? (size_t)sz : 1);
  if (fread(b, 1, (size_t)sz, f) != (size_t)sz) exit(2);
  fclose(f);
  *n = (size_t)sz;
  return b;
}

static pp_profile *load(const char *path) {
  size_t n;
  uint8_t *b = slurp(path, &n);
  pp_profile *p;
  char err[512];
  int rc = pp_decode(b, n, NULL, &p, err, sizeof(err));
  free(b);
  if (rc) {
    printf("ERR %s\n", err);
    exit(1);
  }
  return p;
}

static const char *S(const pp_profile *p, pp_sid s) { return pp_pool_str(&p->sp, s); }

static void dump(const pp_profile *p) {
  printf("period_type %s/%s period %lld time %lld dur %lld default \"%s\" drop \"%s\" keep \"%s\"\n", S(p, p->ptype.type),
         S(p, p->ptype.unit), (long long)p->period, (long long)p->time_nanos, (long long)p->duration_nanos,
         S(p, p->default_st), S(p, p->drop_frames), S(p, p->keep_frames));
  for (size_t i = 0; i < p->nstypes; i++) printf("st %s/%s\n", S(p, p->stypes[i].type), S(p, p->stypes[i].unit));
  for (size_t i = 0; i < p->ncomments; i++) printf("comment \"%s\"\n", S(p, p->comments[i]));
  for (size_t i = 0; i < p->nmaps; i++) {
    const pp_mapping *m = &p->maps[i];
    printf("m %zu %llx %llx %llx \"%s\" \"%s\" %s%s%s%s\n", i + 1, (unsigned long long)m->start,
           (unsigned long long)m->limit, (unsigned long long)m->offset, S(p, m->file), S(p, m->build_id),
           m->flags & 1 ? "true" : "false", m->flags & 2 ? "true" : "false", m->flags & 4 ? "true" : "false",
           m->flags & 8 ? "true" : "false");
  }
  for (size_t i = 0; i < p->nfuncs; i++) {
    const pp_function *f = &p->funcs[i];
    printf("f %zu \"%s\" \"%s\" \"%s\" %lld\n", i + 1, S(p, f->name), S(p, f->system_name), S(p, f->filename),
           (long long)f->start_line);
  }
  for (size_t i = 0; i < p->nlocs; i++) {
    const pp_location *l = &p->locs[i];
    printf("l %zu %u %llx %s", i + 1, l->mapping == PP_NONE ? 0 : l->mapping + 1, (unsigned long long)l->address,
           l->folded ? "true" : "false");
    for (size_t j = 0; j < l->nlines; j++)
      printf(" %u:%lld", p->lines[l->line_off + j].func + 1, (long long)p->lines[l->line_off + j].line);
    printf("\n");
  }
  for (size_t i = 0; i < p->nsamples; i++) {
    const pp_sample *s = &p->samples[i];
    printf("s [");
    for (size_t j = 0; j < p->nstypes; j++) printf("%s%lld", j ? " " : "", (long long)p->values[i * p->nstypes + j]);
    printf("]");
    for (size_t j = 0; j < s->nlocs; j++) printf(" %u", p->sloc[s->loc_off + j] + 1);
    const pp_label *l = p->labels + s->label_off;
    for (size_t j = 0; j < s->nlabels;) {
      size_t k = j;
      while (k < s->nlabels && l[k].key == l[j].key && l[k].is_num == l[j].is_num) k++;
      if (!l[j].is_num) {
        printf(" L\"%s\"=[", S(p, l[j].key));
        for (size_t q = j; q < k; q++) printf("%s\"%s\"", q > j ? " " : "", S(p, l[q].str));
        printf("]");
      } else {
        printf(" N\"%s\"=[", S(p, l[j].key));
        for (size_t q = j; q < k; q++) printf("%s%lld", q > j ? " " : "", (long long)l[q].num);
        printf("][");
        for (size_t q = j; q < k; q++) printf("%s\"%s\"", q > j ? " " : "", S(p, l[q].unit));
        printf("]");
      }
      j = k;
    }
    printf("\n");
  }
}

static double now(void) {
  struct timespec ts;
  clock_gettime(getenv("PPTOOL_WALL") ? CLOCK_MONOTONIC : CLOCK_PROCESS_CPUTIME_ID, &ts);
  return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void write_out(const char *path, const pp_profile *p) {
  uint8_t *o;
  size_t n;
  char err[256];
  if (pp_encode(p, -1, &o, &n, err, sizeof(err))) {
    printf("ERR %s\n", err);
    exit(1);
  }
  FILE *f = fopen(path, "wb");
  fwrite(o, 1, n, f);
  fclose(f);
  free(o);
}

int main(int argc, char **argv) {
  if (argc < 3) return 2;
  char err[512];
  const char *mode = argv[1];
  int ai = 2;
  const char *drop = NULL, *keep = NULL, *out = NULL;
  if (!strcmp(mode, "retime")) {
    if (argc != 5) return 2;
    pp_profile *p = load(argv[2]);
    pp_set_time(p, strtoll(argv[4], NULL, 10), pp_duration_nanos(p));
    uint8_t *o = NULL;
    size_t on = 0;
    if (pp_encode(p, -1, &o, &on, err, sizeof(err))) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    FILE *f = fopen(argv[3], "wb");
    if (!f || fwrite(o, 1, on, f) != on || fclose(f)) return 1;
    free(o);
    pp_free(p);
    return 0;
  }
  if (!strcmp(mode, "append")) {
    if (argc != 5) return 2;
    size_t n, on;
    uint8_t *b = slurp(argv[2], &n), *o = NULL;
    pp_profile *p = load(argv[2]);
    if (pp_append_comment(b, n, pp_wire_string_count(p), argv[4], &o, &on, err, sizeof(err))) {
      fprintf(stderr, "%s\n", err);
      return 1;
    }
    FILE *f = fopen(argv[3], "wb");
    if (!f || fwrite(o, 1, on, f) != on || fclose(f)) return 1;
    pp_free(p);
    free(b);
    free(o);
    return 0;
  }
  if (!strcmp(mode, "commentbench")) {
    /* Each operation timed alone, reps times, on the same input. */
    int reps = argc > 3 ? atoi(argv[3]) : 50;
    size_t n, an = 0, en = 0;
    uint8_t *b = slurp(argv[2], &n), *a = NULL, *e = NULL;
    const char *c = "pgopipe-upload: {\"kind\":\"heap\",\"mode\":\"cumulative\",\"source\":\"pyroscope\","
                    "\"name\":\"My_App.v2\",\"labels\":{\"__session_id__\":\"8f2c0a1b3d4e5f60\",\"env\":\"prod\"},"
                    "\"instance\":\"8f2c0a1b3d4e5f60\",\"time\":1763800000123456789,\"received\":1763800000223456789}";
    pp_profile *p = load(argv[2]), *q = NULL;
    size_t ns = pp_wire_string_count(p);
    double t0 = now();
    for (int i = 0; i < reps; i++) {
      free(a);
      if (pp_append_comment(b, n, ns, c, &a, &an, err, sizeof(err))) return 1;
    }
    double t1 = now();
    if (pp_add_comment(p, c)) return 1;
    for (int i = 0; i < reps; i++) {
      free(e);
      if (pp_encode(p, -1, &e, &en, err, sizeof(err))) return 1;
    }
    double t2 = now();
    for (int i = 0; i < reps; i++) pp_free(load(argv[2]));
    double t3 = now();
    for (int i = 0; i < reps; i++) {
      if (pp_decode(a, an, NULL, &q, err, sizeof(err))) return 1;
      pp_free(q);
    }
    double t4 = now();
    for (int i = 0; i < reps; i++) {
      if (pp_decode(e, en, NULL, &q, err, sizeof(err))) return 1;
      pp_free(q);
    }
    double t5 = now();
#define MS(d) ((d) / reps * 1e3)
    printf("%zu bytes: append %.1f us -> %zu bytes; add + encode %.3f ms -> %zu bytes; "
           "decode: as sent %.3f ms, appended %.3f ms, encoded %.3f ms\n",
           n, MS(t1 - t0) * 1e3, an, MS(t2 - t1), en, MS(t3 - t2), MS(t4 - t3), MS(t5 - t4));
#undef MS
    pp_free(p);
    free(a);
    free(e);
    free(b);
    return 0;
  }
  if (!strcmp(mode, "prune")) {
    drop = argv[2];
    keep = strcmp(argv[3], "-") ? argv[3] : NULL;
    ai = 4;
  }
  if (!strcmp(mode, "bench")) {
    out = argv[2];
    double t0 = now(), td = 0, tm = 0;
    pp_merger *m = pp_merger_new();
    for (int i = 3; i < argc; i++) {
      size_t n;
      uint8_t *b = slurp(argv[i], &n);
      double a = now();
      pp_profile *p;
      if (pp_decode(b, n, NULL, &p, err, sizeof(err))) {
        printf("ERR %s\n", err);
        return 1;
      }
      free(b);
      double c = now();
      if (pp_merger_add(m, p, err, sizeof(err))) {
        printf("ERR %s\n", err);
        return 1;
      }
      td += c - a;
      tm += now() - c;
    }
    pp_profile *r;
    double a = now();
    if (pp_merger_finish(m, &r, err, sizeof(err))) return 1;
    pp_merger_free(m);
    tm += now() - a;
    a = now();
    uint8_t *raw;
    size_t rawn;
    pp_encode_raw(r, &raw, &rawn, err, sizeof(err));
    double te1 = now() - a;
    free(raw);
    a = now();
    write_out(out, r);
    double te = now() - a;
    fprintf(stderr, "model: %zu maps %zu funcs %zu locs %zu lines %zu samples %zu sloc %zu labels %zu strings %zu string bytes\n", r->nmaps, r->nfuncs, r->nlocs, r->nlines, r->nsamples, r->nsloc, r->nlabels, r->sp.n, r->sp.blen);
    fprintf(stderr, "(%s time) decode %.1f ms, merge %.1f ms, encode-raw %.1f ms, encode+gzip+write %.1f ms, total %.1f ms; %zu samples %zu locs\n",
            getenv("PPTOOL_WALL") ? "wall" : "cpu", td * 1e3, tm * 1e3, te1 * 1e3, te * 1e3, (now() - t0) * 1e3, r->nsamples, r->nlocs);
    pp_free(r);
    return 0;
  }
  if (ai + 1 < argc && !strcmp(argv[ai], "-o")) {
    out = argv[ai + 1];
    ai += 2;
  }
  if (!strcmp(mode, "dump")) {
    pp_profile *p = load(argv[ai]);
    dump(p);
    if (out) write_out(out, p);
    pp_free(p);
    return 0;
  }
  pp_merger *m = pp_merger_new();
  for (int i = ai; i < argc; i++) {
    if (pp_merger_add(m, load(argv[i]), err, sizeof(err))) {
      printf("ERR %s\n", err);
      pp_merger_free(m);
      return 1;
    }
  }
  pp_profile *r;
  if (pp_merger_finish(m, &r, err, sizeof(err))) {
    printf("ERR %s\n", err);
    pp_merger_free(m);
    return 1;
  }
  pp_merger_free(m);
  if (drop) {
    pp_rules *rs = pp_rules_new();
    if (pp_rules_add(rs, drop, keep, err, sizeof(err)) || pp_prune(r, rs, err, sizeof(err))) {
      printf("ERR %s\n", err);
      return 1;
    }
    pp_rules_free(rs);
  }
  dump(r);
  if (out) write_out(out, r);
  pp_free(r);
  return 0;
}
