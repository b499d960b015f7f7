/*
 * test_blob_file.c — the file backend: the shared suite (suite.c) on a
 * temporary directory, then what is particular to files: keys cannot
 * escape the directory, writes are atomic (no partial object is ever read,
 * no temporary file is left), empty parents are removed on delete and when
 * a put fails, temporary files of a killed writer are swept (at open and by
 * blob_sweep) while a live writer's stay, ETags follow the content even
 * without the stored attribute, URL handling.
 * Usage: test_blob_file (creates and removes its own temporary directory).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "suite.h"

CHECK_DEFINE_COUNTERS

static int rm_cb(const char *p, const struct stat *sb, int flag, struct FTW *ftw) {
  (void)sb, (void)flag, (void)ftw;
  chmod(p, 0700);
  return remove(p);
}

static int exists(const char *p) {
  struct stat st;
  return lstat(p, &st) == 0;
}

static int count_tmp(const char *dir) {
  int n = 0;
  DIR *d = opendir(dir);
  if (!d) return 0;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    char p[4096];
    snprintf(p, sizeof p, "%s/%s", dir, de->d_name);
    if (!strncmp(de->d_name, ".blobtmp-", 9)) n++;
    struct stat st;
    if (lstat(p, &st) == 0 && S_ISDIR(st.st_mode)) n += count_tmp(p);
  }
  closedir(d);
  return n;
}

typedef struct flip {
  blob_store *s;
  volatile int stop;
  int bad, reads;
} flip;

static void *reader(void *p) {
  flip *f = p;
  char err[512];
  while (!f->stop) {
    uint8_t *d;
    size_t n;
    if (blob_get(f->s, "atomic/obj", 0, &d, &n, NULL, err, sizeof err) == 0) {
      f->reads++;
      int ok = n == 1 << 20;
      for (size_t i = 1; ok && i < n; i++) ok = d[i] == d[0];
      if (!ok) f->bad++;
      free(d);
    }
  }
  return NULL;
}

int main(void) {
  char tmpl[] = "/tmp/pgopipe-blob-file-XXXXXX";
  char *root = mkdtemp(tmpl);
  if (!root) {
    perror("mkdtemp");
    return 1;
  }
  char dir[4096], url[4200], err[1024];
  snprintf(dir, sizeof dir, "%s/store/nested", root);
  snprintf(url, sizeof url, "file://%s", dir);
  blob_store *s = NULL;
  int rc = blob_open(url, &s, err, sizeof err);
  CHECK(rc == 0, "open %s: %s", url, err);
  if (rc) return check_exit("test_blob_file");
  CHECK(!strcmp(blob_backend(s), "file"), "backend %s", blob_backend(s));
  CHECK(!strcmp(blob_url(s), url), "url %s", blob_url(s));
  CHECK(!exists(dir), "open created the directory");

  suite_run(s, "suite", 1100);
  CHECK(count_tmp(dir) == 0, "temporary files left behind");

  /* Escapes: nothing is written outside DIR. */
  const char *esc[] = {"../escaped", "../../escaped", "/tmp/escaped", "a/../../escaped", "..", "."};
  for (size_t i = 0; i < sizeof esc / sizeof esc[0]; i++) {
    rc = blob_put(s, esc[i], "x", 1, err, sizeof err);
    CHECK(rc == BLOB_EINVAL, "escape \"%s\": %d", esc[i], rc);
  }
  char p[4300];
  snprintf(p, sizeof p, "%s/store/escaped", root);
  CHECK(!exists(p), "%s was created", p);
  CHECK(!exists("/tmp/escaped"), "/tmp/escaped was created");
  /* A key with an embedded NUL is cut at the NUL: still inside DIR. */
  rc = blob_put(s, "nul\0/../../escaped", "x", 1, err, sizeof err);
  CHECK(rc == 0 && exists(strcat(strcpy(p, dir), "/nul")), "NUL key: %d %s", rc, err);
  blob_delete(s, "nul", err, sizeof err);
  /* Reserved temporary names. */
  rc = blob_put(s, "a/.blobtmp-123", "x", 1, err, sizeof err);
  CHECK(rc == BLOB_EINVAL, "reserved name accepted: %d", rc);
  /* An object cannot also be a prefix directory here. */
  blob_put(s, "conflict", "x", 1, err, sizeof err);
  rc = blob_put(s, "conflict/child", "x", 1, err, sizeof err);
  CHECK(rc == BLOB_EINVAL && strstr(err, "conflict/child"), "conflict: %d %s", rc, err);
  blob_delete(s, "conflict", err, sizeof err);

  /* Delete prunes empty parents, never DIR. */
  blob_put(s, "prune/a/b/c/leaf", "x", 1, err, sizeof err);
  blob_put(s, "prune/keep", "x", 1, err, sizeof err);
  blob_delete(s, "prune/a/b/c/leaf", err, sizeof err);
  snprintf(p, sizeof p, "%s/prune/a", dir);
  CHECK(!exists(p), "empty parent %s kept", p);
  snprintf(p, sizeof p, "%s/prune", dir);
  CHECK(exists(p), "non-empty parent removed");
  blob_delete(s, "prune/keep", err, sizeof err);
  CHECK(!exists(p), "now-empty parent kept");
  CHECK(exists(dir), "DIR itself removed");

  /* ETag: from the stored attribute, or the content when it is missing or
   * stale; a change made behind the store's back still changes it. */
  blob_info a, b, c;
  blob_put(s, "etag/x", "same bytes", 10, err, sizeof err);
  blob_stat(s, "etag/x", &a, err, sizeof err);
  snprintf(p, sizeof p, "%s/etag/x", dir);
  removexattr(p, "user.pgopipe.etag");
  blob_stat(s, "etag/x", &b, err, sizeof err);
  CHECK(!strcmp(a.etag, b.etag), "etag without xattr %s vs %s", b.etag, a.etag);
  usleep(20000);
  FILE *fp = fopen(p, "r+");
  if (fp) {
    fputs("SAME bytes", fp);
    fclose(fp);
  }
  blob_stat(s, "etag/x", &c, err, sizeof err);
  CHECK(strcmp(a.etag, c.etag) != 0, "etag unchanged after an outside rewrite: %s", c.etag);
  blob_delete(s, "etag/x", err, sizeof err);

  /* Atomic replacement: a reader never sees a mix of two versions. */
  {
    uint8_t *va = malloc(1 << 20), *vb = malloc(1 << 20);
    memset(va, 'a', 1 << 20);
    memset(vb, 'b', 1 << 20);
    blob_put(s, "atomic/obj", va, 1 << 20, err, sizeof err);
    flip f = {s, 0, 0, 0};
    pthread_t th;
    pthread_create(&th, NULL, reader, &f);
    for (int i = 0; i < 40; i++) {
      rc = blob_put(s, "atomic/obj", (i & 1) ? va : vb, 1 << 20, err, sizeof err);
      CHECK(rc == 0, "put %d: %s", i, err);
    }
    f.stop = 1;
    pthread_join(th, NULL);
    CHECK(f.bad == 0, "%d of %d reads saw a partial object", f.bad, f.reads);
    CHECK(f.reads > 0, "reader never read");
    free(va);
    free(vb);
    CHECK(count_tmp(dir) == 0, "temporary files left behind");
  }

  /* blob_check on a directory that cannot be written. */
  if (geteuid() != 0) {
    char ro[4200], rurl[4300];
    snprintf(ro, sizeof ro, "%s/readonly", root);
    mkdir(ro, 0500);
    snprintf(rurl, sizeof rurl, "file://%s", ro);
    blob_store *r;
    blob_open(rurl, &r, err, sizeof err);
    rc = blob_check(r, err, sizeof err);
    CHECK(rc == BLOB_EAUTH && strstr(err, ro), "check read-only: %d %s", rc, err);
    rc = blob_put(r, "k", "x", 1, err, sizeof err);
    CHECK(rc == BLOB_EAUTH, "put read-only: %d %s", rc, err);
    blob_close(r);
  }

  /* Relative URLs and malformed ones. */
  {
    char cwd[4096];
    if (getcwd(cwd, sizeof cwd) && chdir(root) == 0) {
      blob_store *r;
      rc = blob_open("file://./rel/dir", &r, err, sizeof err);
      CHECK(rc == 0, "relative url: %s", err);
      if (!rc) {
        CHECK(blob_put(r, "k/v", "x", 1, err, sizeof err) == 0, "relative put: %s", err);
        CHECK(exists("rel/dir/k/v"), "relative object not under ./rel/dir");
        blob_close(r);
      }
      if (chdir(cwd) != 0) perror("chdir");
    }
    const char *bad[] = {"file://host/dir", "file:///dir?x=1", "file:///a%zz", "ftp://x", "", "s3:/x"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
      blob_store *r = (blob_store *)1;
      rc = blob_open(bad[i], &r, err, sizeof err);
      CHECK(rc == BLOB_EINVAL && r == NULL && err[0], "bad url \"%s\": %d", bad[i], rc);
    }
    /* gocloud's other stores (autopgo's gs:// and azblob:// URLs): said to be unsupported */
    const char *other[][2] = {{"gs://bucket", "Google Cloud Storage (gs://) is not supported"},
                              {"azblob://container", "Azure Blob Storage (azblob://) is not supported"}};
    for (size_t i = 0; i < 2; i++) {
      blob_store *r = NULL;
      rc = blob_open(other[i][0], &r, err, sizeof err);
      CHECK(rc == BLOB_EINVAL && r == NULL && strstr(err, other[i][1]), "%s: %d %s", other[i][0], rc, err);
    }
    blob_store *r;
    CHECK(blob_open(NULL, &r, NULL, 0) == BLOB_EINVAL, "NULL url");
  }

  /* Key rules at their edges: UTF-8 well-formedness. */
  CHECK(blob_key_valid("ok/\xc3\xa9/\xf0\x9f\x98\x80/\xf4\x8f\xbf\xbf"), "valid UTF-8 refused");
  CHECK(!blob_key_valid("overlong/\xc0\xaf"), "overlong '/' accepted");
  CHECK(!blob_key_valid("overlong/\xe0\x80\xae\xe0\x80\xae"), "overlong '..' accepted");
  CHECK(!blob_key_valid("surrogate/\xed\xa0\x80"), "surrogate accepted");
  CHECK(!blob_key_valid("too-high/\xf4\x90\x80\x80"), "code point > U+10FFFF accepted");
  CHECK(!blob_key_valid("cut/\xe2\x82"), "truncated sequence accepted");
  CHECK(blob_key_valid("a/.b/..c/...") && blob_key_valid("x") && blob_key_valid("~"),
        "dot-led names refused");
  CHECK(!blob_key_valid(NULL), "NULL key accepted");

  /* A put that fails (here: the file size limit) leaves behind neither its
   * temporary file nor the directories it created (a 503 leaves nothing). */
  {
    struct rlimit old_lim, lim;
    getrlimit(RLIMIT_FSIZE, &old_lim);
    signal(SIGXFSZ, SIG_IGN);
    lim = old_lim;
    lim.rlim_cur = 4096;
    setrlimit(RLIMIT_FSIZE, &lim);
    char big[8192];
    memset(big, 'z', sizeof big);
    rc = blob_put(s, "failing/staging/1-aa", big, sizeof big, err, sizeof err);
    setrlimit(RLIMIT_FSIZE, &old_lim);
    CHECK(rc != 0, "put over the file size limit succeeded");
    snprintf(p, sizeof p, "%s/failing", dir);
    CHECK(!exists(p), "a failed put left %s behind", p);
    CHECK(count_tmp(dir) == 0, "a failed put left a temporary file");
  }

  /* Temporary files of a writer killed during a put (kill -9) are removed
   * when the store is opened (start-up) and by blob_sweep (an app's
   * DELETE); one a live writer holds stays. */
  {
    blob_put(s, "swept/staging/1-aa", "x", 1, err, sizeof err);
    char dead1[4300], dead2[4300], dead3[4300], live[4300];
    snprintf(dead1, sizeof dead1, "%s/swept/staging/.blobtmp-0123456789ab", dir);
    snprintf(dead2, sizeof dead2, "%s/swept/.blobtmp-ba9876543210", dir);
    snprintf(live, sizeof live, "%s/swept/staging/.blobtmp-live00000000", dir);
    FILE *f1 = fopen(dead1, "w"), *f2 = fopen(dead2, "w");
    CHECK(f1 && f2, "cannot create the leftovers");
    if (f1) fclose(f1);
    if (f2) fclose(f2);
    int lfd = open(live, O_WRONLY | O_CREAT, 0644);
    CHECK(lfd >= 0 && flock(lfd, LOCK_EX) == 0, "cannot hold a live temporary file");
    blob_store *s2 = NULL;
    CHECK(blob_open(url, &s2, err, sizeof err) == 0, "reopen: %s", err);
    CHECK(!exists(dead1) && !exists(dead2), "a killed writer's temporary files survived the start");
    CHECK(exists(live), "a live writer's temporary file was removed");
    snprintf(dead3, sizeof dead3, "%s/swept/staging/.blobtmp-deadbeefdead", dir);
    FILE *f3 = fopen(dead3, "w");
    if (f3) fclose(f3);
    size_t removed = 0;
    CHECK(blob_sweep(s2, "swept/", &removed, err, sizeof err) == 0 && removed == 1,
          "sweep: removed %zu: %s", removed, err);
    CHECK(!exists(dead3) && exists(live), "sweep of swept/");
    close(lfd);
    unlink(live);
    blob_delete(s2, "swept/staging/1-aa", err, sizeof err);
    snprintf(p, sizeof p, "%s/swept", dir);
    CHECK(!exists(p), "%s left after its last object", p);
    blob_close(s2);
  }

  /* Error strings. */
  CHECK(!strcmp(blob_strerror(BLOB_ENOTFOUND), "not found"), "strerror");
  CHECK(!strcmp(blob_strerror(12345), "unknown error"), "strerror unknown");

  blob_close(s);
  nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
  return check_exit("test_blob_file");
}
