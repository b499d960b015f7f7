/*
 * export_speedscope.c — format=speedscope: speedscope's file format
 * (https://www.speedscope.app/file-format-schema.json), one "sampled"
 * profile per sample type over one shared frame table (export.h).
 */
#include "export_internal.h"

#include <stdlib.h>

/* speedscope's name for a pprof unit. */
static const char *speedscope_unit(const char *u) {
  static const struct {
    const char *pprof, *ss;
  } m[] = {{"nanoseconds", "nanoseconds"},   {"ns", "nanoseconds"},   {"microseconds", "microseconds"},
           {"us", "microseconds"},           {"milliseconds", "milliseconds"}, {"ms", "milliseconds"},
           {"seconds", "seconds"},           {"s", "seconds"},        {"bytes", "bytes"},
           {"B", "bytes"}};
  for (size_t i = 0; i < sizeof m / sizeof m[0]; i++)
    if (!strcmp(u, m[i].pprof)) return m[i].ss;
  return "none";
}

int pp_export_speedscope(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                         char *err, size_t errlen) {
  if (ex_out_init(p, out, outlen, err, errlen)) return PP_EINVAL;
  size_t k = p->nstypes;
  size_t *vi = malloc((k ? k : 1) * sizeof *vi);
  if (!vi) return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  for (size_t i = 0; i < k; i++) vi[i] = i;
  ex_frames F;
  ex_tree t;
  int rc = ex_build_one(p, EX_BY_FRAME, vi, k, &F, &t, err, errlen);
  free(vi);
  if (rc) return rc;
  ex_buf b = {0};
  ex_walk w = {0};
  bool oom = false;
  if ((rc = ex_sort_by_rank(&t, &F, p, err, errlen))) goto done;

  const char *name = opts && opts->name ? opts->name : "profile";
  ex_puts(&b, "{\"$schema\":\"https://www.speedscope.app/file-format-schema.json\",\"exporter\":\"pgopipe\",\"name\":");
  ex_json_str(&b, name, strlen(name));
  ex_puts(&b, ",\"activeProfileIndex\":");
  ex_i64(&b, k ? (int64_t)pp_default_value_index(p) : 0);
  ex_puts(&b, ",\"shared\":{\"frames\":[");
  for (size_t i = 0; i < F.n; i++) {
    const ex_frame *f = &F.f[i];
    size_t len;
    const char *s = ex_frame_name(&F, (uint32_t)i, &len);
    ex_puts(&b, i ? ",{\"name\":" : "{\"name\":");
    ex_json_str(&b, s, len);
    if (f->file && pp_pool_len(&p->sp, f->file)) {
      ex_puts(&b, ",\"file\":");
      ex_json_str(&b, pp_pool_str(&p->sp, f->file), pp_pool_len(&p->sp, f->file));
    }
    if (f->line > 0) {
      ex_puts(&b, ",\"line\":");
      ex_i64(&b, f->line);
    }
    ex_putc(&b, '}');
  }
  ex_puts(&b, "]},\"profiles\":[");
  for (size_t ti = 0; ti < k; ti++) {
    pp_value_type st = pp_sample_type(p, ti);
    ex_puts(&b, ti ? ",{\"type\":\"sampled\",\"name\":" : "{\"type\":\"sampled\",\"name\":");
    ex_json_str(&b, st.type, strlen(st.type));
    ex_puts(&b, ",\"unit\":\"");
    ex_puts(&b, speedscope_unit(st.unit));
    ex_puts(&b, "\",\"startValue\":0,\"endValue\":");
    ex_i64(&b, pp_total(p, ti));
    ex_puts(&b, ",\"samples\":[");
    /* Two walks of the tree: the stacks, then their weights. */
    for (int pass = 0; pass < 2; pass++) {
      bool first = true;
      if (pass) ex_puts(&b, "],\"weights\":[");
      if ((rc = ex_walk_init(&w, &t))) {
        rc = pp_err(err, errlen, PP_ENOMEM, "out of memory");
        goto done;
      }
      for (uint32_t n; (n = ex_walk_next(&w, &oom)) != UINT32_MAX;) {
        int64_t v = t.self[(size_t)n * k + ti];
        if (n == 0 || v == 0) continue;
        if (!first) ex_putc(&b, ',');
        first = false;
        if (pass) {
          ex_i64(&b, v);
          continue;
        }
        ex_putc(&b, '[');
        for (size_t d = 1; d <= w.depth; d++) {
          if (d > 1) ex_putc(&b, ',');
          ex_i64(&b, w.path[d]);
        }
        ex_putc(&b, ']');
      }
      ex_walk_free(&w);
    }
    ex_puts(&b, "]}");
  }
  ex_puts(&b, "]}\n");
  b.oom |= oom;
  rc = ex_take(&b, out, outlen, err, errlen);
done:
  ex_walk_free(&w);
  ex_buf_free(&b);
  ex_frames_free(&F);
  ex_tree_free(&t);
  return rc;
}
