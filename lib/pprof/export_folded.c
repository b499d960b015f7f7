/*
 * export_folded.c — format=folded: flamegraph.pl / inferno "collapsed
 * stacks", one `root;...;leaf VALUE` line per distinct stack, in the folded
 * order (export.h).
 */
#include "export_internal.h"

int pp_export_folded(const pp_profile *p, const pp_export_opts *opts, uint8_t **out, size_t *outlen,
                     char *err, size_t errlen) {
  if (ex_out_init(p, out, outlen, err, errlen)) return PP_EINVAL;
  size_t vi;
  int rc = pp_export_value_index(p, opts ? opts->sample_type : NULL, &vi, err, errlen);
  if (rc) return rc;
  ex_frames F;
  ex_tree t;
  if ((rc = ex_build_one(p, EX_BY_NAME_FOLDED, &vi, 1, &F, &t, err, errlen))) return rc;
  ex_buf b = {0};
  ex_walk w;
  bool oom = false;
  if ((rc = ex_sort_by_rank(&t, &F, NULL, err, errlen)) || (rc = ex_walk_init(&w, &t))) {
    if (!rc) rc = pp_err(err, errlen, PP_ENOMEM, "out of memory");
    goto done;
  }
  for (uint32_t n; (n = ex_walk_next(&w, &oom)) != UINT32_MAX;) {
    if (n == 0 || t.self[n] == 0) continue;
    for (size_t d = 1; d <= w.depth; d++) {
      size_t len;
      const char *s = ex_frame_name(&F, w.path[d], &len);
      if (d > 1) ex_putc(&b, ';');
      ex_put(&b, s, len);
    }
    ex_putc(&b, ' ');
    ex_i64(&b, t.self[n]);
    ex_putc(&b, '\n');
  }
  ex_walk_free(&w);
  b.oom |= oom;
  rc = ex_take(&b, out, outlen, err, errlen);
done:
  ex_buf_free(&b);
  ex_frames_free(&F);
  ex_tree_free(&t);
  return rc;
}
