/*
 * curl_lazy.c — the libcurl functions the pgopipe CLI uses, loaded on first
 * use.
 *
 * libcurl pulls some thirty shared libraries into a process (TLS, Kerberos,
 * LDAP, SSH, ...); mapping and relocating them costs about 5 ms at every
 * start, more than a tenth of `pgopipe merge` on a 4 MB base. The offline
 * verbs (merge, prune, inspect, export, pgo) never talk to the network, so
 * the CLI is linked without libcurl and these definitions stand in for the
 * functions lib/client calls: the first call opens libcurl (its ABI has kept
 * the soname libcurl.so.4 since 2006) and every call goes to the real
 * function. The server verbs behave as before; if libcurl cannot be loaded,
 * the CLI says so once and the calls fail the way libcurl's own do when out
 * of memory (NULL handles, CURLE_FAILED_INIT), which the verbs report.
 *
 * The variadic setters forward their one argument with the type libcurl
 * reads for that option: the option numbers carry it (CURLOPTTYPE_*).
 */
#define CURL_DISABLE_TYPECHECK 1
#include <curl/curl.h>

#include <dlfcn.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static struct {
  CURL *(*easy_init)(void);
  void (*easy_cleanup)(CURL *);
  CURLcode (*easy_perform)(CURL *);
  CURLcode (*easy_setopt)(CURL *, CURLoption, ...);
  CURLcode (*easy_getinfo)(CURL *, CURLINFO, ...);
  const char *(*easy_strerror)(CURLcode);
  char *(*easy_escape)(CURL *, const char *, int);
  void (*free)(void *);
  CURLSH *(*share_init)(void);
  CURLSHcode (*share_cleanup)(CURLSH *);
  CURLSHcode (*share_setopt)(CURLSH *, CURLSHoption, ...);
  struct curl_slist *(*slist_append)(struct curl_slist *, const char *);
  void (*slist_free_all)(struct curl_slist *);
} fn;

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int loaded;

/* dlsym's object pointer into a function pointer of any type. */
static int sym(void *h, const char *name, void *dst, size_t size) {
  void *p = dlsym(h, name);
  if (!p) return -1;
  memcpy(dst, &p, size);
  return 0;
}
#define SYM(h, field, name) sym(h, name, &fn.field, sizeof fn.field)

static void load(void) {
  void *h = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
  if (!h) h = dlopen("libcurl.so", RTLD_NOW | RTLD_LOCAL);
  if (!h) {
    fprintf(stderr, "pgopipe: cannot load libcurl, which the server verbs need (Debian: apt install libcurl4): %s\n",
            dlerror());
    return;
  }
  if (SYM(h, easy_init, "curl_easy_init") || SYM(h, easy_cleanup, "curl_easy_cleanup") ||
      SYM(h, easy_perform, "curl_easy_perform") || SYM(h, easy_setopt, "curl_easy_setopt") ||
      SYM(h, easy_getinfo, "curl_easy_getinfo") || SYM(h, easy_strerror, "curl_easy_strerror") ||
      SYM(h, easy_escape, "curl_easy_escape") || SYM(h, free, "curl_free") ||
      SYM(h, share_init, "curl_share_init") || SYM(h, share_cleanup, "curl_share_cleanup") ||
      SYM(h, share_setopt, "curl_share_setopt") || SYM(h, slist_append, "curl_slist_append") ||
      SYM(h, slist_free_all, "curl_slist_free_all")) {
    fprintf(stderr, "pgopipe: the libcurl found lacks a function the server verbs need: %s\n", dlerror());
    return; /* the handle stays open: some pointers may already point into it */
  }
  loaded = 1;
}

static int ready(void) {
  pthread_once(&once, load);
  return loaded;
}

CURL *curl_easy_init(void) { return ready() ? fn.easy_init() : NULL; }

void curl_easy_cleanup(CURL *h) {
  if (h && ready()) fn.easy_cleanup(h);
}

CURLcode curl_easy_perform(CURL *h) { return ready() ? fn.easy_perform(h) : CURLE_FAILED_INIT; }

CURLcode curl_easy_setopt(CURL *h, CURLoption opt, ...) {
  if (!ready()) return CURLE_FAILED_INIT;
  va_list ap;
  va_start(ap, opt);
  CURLcode rc;
  if (opt < CURLOPTTYPE_OBJECTPOINT) {
    long v = va_arg(ap, long);
    rc = fn.easy_setopt(h, opt, v);
  } else if (opt < CURLOPTTYPE_FUNCTIONPOINT) {
    void *v = va_arg(ap, void *);
    rc = fn.easy_setopt(h, opt, v);
  } else if (opt < CURLOPTTYPE_OFF_T) {
    void (*v)(void) = va_arg(ap, void (*)(void));
    rc = fn.easy_setopt(h, opt, v);
  } else if (opt < CURLOPTTYPE_BLOB) {
    curl_off_t v = va_arg(ap, curl_off_t);
    rc = fn.easy_setopt(h, opt, v);
  } else {
    struct curl_blob *v = va_arg(ap, struct curl_blob *);
    rc = fn.easy_setopt(h, opt, v);
  }
  va_end(ap);
  return rc;
}

/* Every CURLINFO_* is read through a pointer to where the answer goes. */
CURLcode curl_easy_getinfo(CURL *h, CURLINFO info, ...) {
  if (!ready()) return CURLE_FAILED_INIT;
  va_list ap;
  va_start(ap, info);
  void *out = va_arg(ap, void *);
  va_end(ap);
  return fn.easy_getinfo(h, info, out);
}

const char *curl_easy_strerror(CURLcode c) {
  return ready() ? fn.easy_strerror(c) : "libcurl could not be loaded";
}

char *curl_easy_escape(CURL *h, const char *s, int len) { return ready() ? fn.easy_escape(h, s, len) : NULL; }

void curl_free(void *p) {
  if (p && ready()) fn.free(p);
}

CURLSH *curl_share_init(void) { return ready() ? fn.share_init() : NULL; }

CURLSHcode curl_share_cleanup(CURLSH *s) { return ready() ? fn.share_cleanup(s) : CURLSHE_NOT_BUILT_IN; }

CURLSHcode curl_share_setopt(CURLSH *s, CURLSHoption opt, ...) {
  if (!ready()) return CURLSHE_NOT_BUILT_IN;
  va_list ap;
  va_start(ap, opt);
  CURLSHcode rc;
  if (opt == CURLSHOPT_SHARE || opt == CURLSHOPT_UNSHARE) {
    int v = va_arg(ap, int);
    rc = fn.share_setopt(s, opt, v);
  } else if (opt == CURLSHOPT_LOCKFUNC || opt == CURLSHOPT_UNLOCKFUNC) {
    void (*v)(void) = va_arg(ap, void (*)(void));
    rc = fn.share_setopt(s, opt, v);
  } else {
    void *v = va_arg(ap, void *);
    rc = fn.share_setopt(s, opt, v);
  }
  va_end(ap);
  return rc;
}

struct curl_slist *curl_slist_append(struct curl_slist *l, const char *s) {
  return ready() ? fn.slist_append(l, s) : NULL;
}

void curl_slist_free_all(struct curl_slist *l) {
  if (l && ready()) fn.slist_free_all(l);
}
