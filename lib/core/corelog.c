/* corelog.c — see corelog.h. */
#include "corelog.h"

#include <stdarg.h>

int core_log_enabled(const core_logger *lg, int level) {
  return lg && lg->fn && level >= lg->level;
}

void core_log(const core_logger *lg, int level, const char *msg, ...) {
  if (!core_log_enabled(lg, level)) return;
  const char *kv[32];
  size_t n = 0;
  va_list ap;
  va_start(ap, msg);
  for (;;) {
    const char *k = va_arg(ap, const char *);
    if (!k) break;
    const char *v = va_arg(ap, const char *);
    if (n < 32) {
      kv[n++] = k;
      kv[n++] = v;
    }
  }
  va_end(ap);
  lg->fn(lg->ctx, level, msg, kv, n / 2);
}
