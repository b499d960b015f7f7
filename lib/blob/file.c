/*
 * file.c — the file backend: objects are regular files under one directory.
 *
 * Used by the all-in-one mode and by tests. Properties it keeps:
 * - Atomic, durable writes: a temporary file in the object's own directory
 *   is written, fsync'd and renamed over the object, then the directory is
 *   fsync'd; a reader sees the old or the new bytes, a crash leaves no
 *   partial object, and put returns only when the data and the directory
 *   entry are on disk. Concurrent puts into one directory share the
 *   directory fsyncs (group commit, see dir_sync): on a real disk, where
 *   each fsync waits for the journal, that halves the waits per upload.
 * - No escape: blob.c refuses keys with "..", ".", empty segments, a
 *   leading '/', NUL or control characters, so DIR/KEY is always below DIR.
 *   Segments starting with ".blobtmp-" are reserved for temporary files.
 * - ETag: the first 128 bits of the content's SHA-256, computed during put
 *   and kept in the extended attribute user.pgopipe.etag together with the
 *   size and mtime it belongs to. When the attribute is missing or stale
 *   (file written by something else, filesystem without user xattrs) the
 *   ETag is computed from the content, so it always changes with the bytes.
 * - Listing walks the tree in lexicographic key order: each directory's
 *   entries are sorted with directories compared as "name/", which is where
 *   their keys fall in byte order. Deleting a key, and a put that fails,
 *   remove the parent directories they leave empty, up to DIR.
 * - Leftovers of a writer that died during a put (kill -9) are swept: a put
 *   holds an exclusive flock(2) on its temporary file until the rename, so a
 *   temporary file nobody holds belongs to a dead writer. Opening the store
 *   sweeps all of DIR; blob_sweep sweeps a prefix (an app's DELETE). A
 *   writer whose file was swept between its create and its lock notices
 *   (the file has no link any more) and starts over with a new name.
 * A key that is a prefix directory of another ("a" and "a/b") cannot exist
 * at the same time here (unlike S3); such a put fails with BLOB_EINVAL.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/xattr.h>
#include <unistd.h>

#include "blob_internal.h"
#include "rnd.h"

#define TMP_PREFIX ".blobtmp-"
#define ETAG_XATTR "user.pgopipe.etag"

/*
 * Directory fsyncs shared by concurrent puts (group commit). A put's own
 * data is fsync'd by the put itself; the directory entry its rename made
 * is durable once an fsync of that directory *started after the rename*
 * has succeeded. Puts renaming into one directory at once therefore share
 * fsyncs: each takes a ticket (the number of the next fsync round to start
 * there); one waiting put runs a round for everyone waiting (the "leader",
 * without the lock), the others sleep, and each returns when its round is
 * done (a finished round wakes its own puts and one put of the next round,
 * which leads that one). While a round runs, the renames of the next puts pile up for the
 * round after it, so under load one directory fsync covers many objects
 * and a put waits at most for the round in progress plus its own.
 * A failed round fails every put it covered (and, conservatively, a put
 * whose round succeeded but that wakes up only after a later round
 * failed): an upload is never acknowledged on a failed fsync.
 */
typedef struct dir_sync {
  char *path;
  uint64_t started, done; /* rounds started, rounds finished (in order) */
  uint64_t failed;        /* last failed round, 0 = none */
  int failed_errno;
  int running;
  unsigned users; /* puts holding a ticket here */
  /* Puts waiting for round t sleep on cv[t & 1]: only rounds t and t + 1
   * have waiters, so a finished round wakes exactly its own puts, and one
   * put of the next round to lead it. */
  pthread_cond_t cv[2];
  struct dir_sync *next;
} dir_sync;

typedef struct file_store {
  char *dir; /* without trailing '/' (except "/" itself) */
  pthread_mutex_t mu; /* guards syncs */
  dir_sync *syncs; /* directories with puts waiting for an fsync */
} file_store;

static int errno_code(int e) {
  switch (e) {
  case ENOENT: return BLOB_ENOTFOUND;
  case EACCES:
  case EPERM: return BLOB_EAUTH;
  case ENOMEM: return BLOB_ENOMEM;
  case ENOTDIR:
  case EISDIR:
  case ENAMETOOLONG: return BLOB_EINVAL;
  default: return BLOB_EIO;
  }
}

static void sweep_tree(file_store *fs, const char *rel, size_t *removed);

static int file_open(const char *url, void **impl, char **printable, char *err, size_t errlen) {
  const char *p = url + strlen("file://");
  if (*p != '/' && *p != '.') {
    errbuf_set(err, errlen,
               "blob store URL \"%.200s\": use file:///ABSOLUTE/DIR or file://./RELATIVE/DIR", url);
    return BLOB_EINVAL;
  }
  char *dir = strdup(p);
  if (!dir) {
    errbuf_set(err, errlen, "blob store %s: out of memory", url);
    return BLOB_ENOMEM;
  }
  char *q = strchr(dir, '?');
  if (q) {
    free(dir);
    errbuf_set(err, errlen, "blob store URL \"%.200s\": the file backend takes no parameters", url);
    return BLOB_EINVAL;
  }
  if (blob_pct_decode(dir) < 0) {
    free(dir);
    errbuf_set(err, errlen, "blob store URL \"%.200s\": bad %% escape", url);
    return BLOB_EINVAL;
  }
  size_t n = strlen(dir);
  while (n > 1 && dir[n - 1] == '/') dir[--n] = '\0';
  if (n + 1 + 1024 + 64 >= PATH_MAX) {
    free(dir);
    errbuf_set(err, errlen, "blob store URL \"%.200s\": directory path too long", url);
    return BLOB_EINVAL;
  }
  file_store *fs = calloc(1, sizeof *fs);
  char *pr = strdup(url);
  if (!fs || !pr) {
    free(fs);
    free(pr);
    free(dir);
    errbuf_set(err, errlen, "blob store %s: out of memory", url);
    return BLOB_ENOMEM;
  }
  fs->dir = dir;
  pthread_mutex_init(&fs->mu, NULL);
  *impl = fs;
  *printable = pr;
  sweep_tree(fs, "", NULL);
  return 0;
}

static void file_close(void *impl) {
  file_store *fs = impl;
  if (!fs) return;
  pthread_mutex_destroy(&fs->mu);
  free(fs->dir);
  free(fs);
}

/* DIR + "/" + rel into out[PATH_MAX]. */
static void join(const file_store *fs, const char *rel, char *out) {
  if (!*rel) snprintf(out, PATH_MAX, "%s", fs->dir);
  else if (!strcmp(fs->dir, "/")) snprintf(out, PATH_MAX, "/%s", rel);
  else snprintf(out, PATH_MAX, "%s/%s", fs->dir, rel);
}

static int reserved_key(const char *key) {
  for (const char *seg = key; seg; seg = strchr(seg, '/') ? strchr(seg, '/') + 1 : NULL)
    if (!strncmp(seg, TMP_PREFIX, strlen(TMP_PREFIX))) return 1;
  return 0;
}

/* How often put retries when a concurrent delete removes its parent directory. */
#define PUT_ATTEMPTS 32

/* ---- leftovers: empty directories, temporary files of dead writers ---- */

/* Removes the parent directories of path (DIR/...) that are empty, up to
 * but never DIR itself. path is not changed. */
static void remove_empty_parents(const file_store *fs, const char *path) {
  char p[PATH_MAX];
  snprintf(p, sizeof p, "%s", path);
  size_t base = strlen(fs->dir);
  for (char *slash = strrchr(p, '/'); slash && (size_t)(slash - p) > base; slash = strrchr(p, '/')) {
    *slash = '\0';
    if (rmdir(p) < 0) break;
  }
}

/* Holds a new temporary file for its writer: 1 when held, 0 when it was
 * swept (unlinked) before the lock was taken. */
static int hold_temp(int fd) {
  struct stat st;
  if (flock(fd, LOCK_EX) != 0) return 1; /* no locks here: nothing sweeps it either */
  return fstat(fd, &st) == 0 && st.st_nlink > 0;
}

/* Removes dir/name when it is a temporary file no writer holds. */
static int sweep_one(int dfd, const char *name) {
  int fd = openat(dfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return 0;
  struct stat st;
  int gone = 0;
  if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && flock(fd, LOCK_EX | LOCK_NB) == 0)
    gone = unlinkat(dfd, name, 0) == 0;
  close(fd); /* releases the lock, after the unlink */
  return gone;
}

/* Sweeps DIR/rel and below (depth first), then removes rel when that left
 * it empty (never DIR). */
static void sweep_dir(const file_store *fs, const char *path, int depth, size_t *removed) {
  if (depth > 64) return;
  DIR *d = opendir(path);
  if (!d) return;
  struct dirent *de;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    struct stat st;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    if (S_ISDIR(st.st_mode)) {
      char sub[PATH_MAX];
      if (snprintf(sub, sizeof sub, "%s/%s", path, de->d_name) >= (int)sizeof sub) continue;
      sweep_dir(fs, sub, depth + 1, removed);
    } else if (!strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX)) && sweep_one(dirfd(d), de->d_name) &&
               removed) {
      ++*removed;
    }
  }
  closedir(d);
  if (depth > 0) rmdir(path); /* only when empty */
}

/* Sweeps the directory that a key prefix names (rel: "" or ending in '/'
 * for a directory; otherwise its parent). */
static void sweep_tree(file_store *fs, const char *rel, size_t *removed) {
  char start[PATH_MAX] = "", path[PATH_MAX];
  const char *slash = strrchr(rel, '/');
  if (slash && (size_t)(slash - rel) < sizeof start) {
    memcpy(start, rel, (size_t)(slash - rel));
    start[slash - rel] = '\0';
    if (!blob_key_valid(start)) return;
  }
  join(fs, start, path);
  sweep_dir(fs, path, *start ? 1 : 0, removed);
}

static int file_sweep(void *impl, const char *prefix, size_t *removed, char *err, size_t errlen) {
  (void)err;
  (void)errlen;
  sweep_tree(impl, prefix, removed);
  return 0;
}

/* fsync of a directory by path; -1 with errno on failure. */
static int fsync_dir(const char *path) {
  int dfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dfd < 0) return -1;
  int r = fsync(dfd);
  int e = errno;
  close(dfd);
  errno = e;
  return r;
}

/* fsync of the directory holding path's last segment (path is modified
 * and restored). */
static int fsync_parent(char *path) {
  char *slash = strrchr(path, '/');
  if (!slash) return fsync_dir(".");
  if (slash == path) return fsync_dir("/");
  *slash = '\0';
  int r = fsync_dir(path);
  int e = errno;
  *slash = '/';
  errno = e;
  return r;
}

/* Creates every missing directory of path (which is modified and restored).
 * Each directory it creates has its entry made durable (its parent is
 * fsync'd), so that an object put below it survives a crash with it; that
 * happens once per new directory (an app's first upload), not per put. */
static int mkdirs(char *path) {
  struct stat st;
  if (stat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0; /* the usual case: one call */
  for (char *p = path + 1; *p; p++) {
    if (*p != '/') continue;
    *p = '\0';
    int r = mkdir(path, 0755);
    int e = errno;
    if (r == 0) {
      r = fsync_parent(path);
      e = errno;
    }
    *p = '/';
    if (r < 0 && e != EEXIST) {
      errno = e;
      return -1;
    }
  }
  if (mkdir(path, 0755) == 0) {
    if (fsync_parent(path) < 0) return -1;
  } else if (errno != EEXIST) {
    return -1;
  }
  if (stat(path, &st) < 0) return -1;
  if (!S_ISDIR(st.st_mode)) {
    errno = ENOTDIR;
    return -1;
  }
  return 0;
}

static void etag_from_digest(const unsigned char *md, char out[80]) {
  static const char hex[] = "0123456789abcdef";
  out[0] = '"';
  for (int i = 0; i < 16; i++) {
    out[1 + 2 * i] = hex[md[i] >> 4];
    out[2 + 2 * i] = hex[md[i] & 15];
  }
  out[33] = '"';
  out[34] = '\0';
}

static int64_t mtime_ns(const struct stat *st) {
  return (int64_t)st->st_mtim.tv_sec * 1000000000 + st->st_mtim.tv_nsec;
}

/* The stored ETag if it still belongs to this size and mtime. */
static int etag_from_xattr(int fd, const struct stat *st, char out[80]) {
  char v[160];
  ssize_t n = fgetxattr(fd, ETAG_XATTR, v, sizeof v - 1);
  if (n <= 0) return -1;
  v[n] = '\0';
  char tag[40];
  unsigned long long size;
  long long mt;
  if (sscanf(v, "%38s %llu %lld", tag, &size, &mt) != 3) return -1;
  if (size != (unsigned long long)st->st_size || mt != mtime_ns(st) || strlen(tag) != 34) return -1;
  memcpy(out, tag, 35);
  return 0;
}

/* Hands the file's content from the start to chunk(ctx, buf, n) in pieces
 * of up to 64 KiB. Returns 0, -1 with errno on a read error, or 1 when
 * chunk returned non-zero (which stops the reading). */
static int read_chunks(int fd, int (*chunk)(void *ctx, const void *buf, size_t n), void *ctx) {
  char buf[65536];
  off_t off = 0;
  for (;;) {
    ssize_t n = pread(fd, buf, sizeof buf, off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return -1;
    if (n == 0) return 0;
    off += n;
    if (chunk(ctx, buf, (size_t)n) != 0) return 1;
  }
}

static int digest_chunk(void *md, const void *buf, size_t n) {
  return EVP_DigestUpdate(md, buf, n) == 1 ? 0 : -1;
}

/* ETag by hashing the file's content from the start. */
static int etag_from_content(int fd, char out[80]) {
  EVP_MD_CTX *md = EVP_MD_CTX_new();
  if (!md) return -1;
  EVP_DigestInit_ex(md, EVP_sha256(), NULL);
  if (read_chunks(fd, digest_chunk, md) != 0) {
    EVP_MD_CTX_free(md);
    return -1;
  }
  unsigned char d[32];
  EVP_DigestFinal_ex(md, d, NULL);
  EVP_MD_CTX_free(md);
  etag_from_digest(d, out);
  return 0;
}

static int fill_info(int fd, const struct stat *st, blob_info *info) {
  info->size = (uint64_t)st->st_size;
  info->mtime_ms = (int64_t)st->st_mtim.tv_sec * 1000 + st->st_mtim.tv_nsec / 1000000;
  if (etag_from_xattr(fd, st, info->etag) == 0) return 0;
  return etag_from_content(fd, info->etag);
}

/*
 * Makes the directory entries renamed into `dir` so far durable: returns
 * once an fsync of dir started after this call has succeeded (0), or -1
 * with errno when the round covering this call failed. See dir_sync.
 */
static int group_fsync_dir(file_store *fs, const char *dir) {
  pthread_mutex_lock(&fs->mu);
  dir_sync *d = fs->syncs;
  while (d && strcmp(d->path, dir)) d = d->next;
  if (!d) {
    d = calloc(1, sizeof *d);
    char *path = d ? strdup(dir) : NULL;
    if (!path) {
      free(d);
      pthread_mutex_unlock(&fs->mu);
      return fsync_dir(dir); /* no memory to share: fsync alone */
    }
    d->path = path;
    pthread_cond_init(&d->cv[0], NULL);
    pthread_cond_init(&d->cv[1], NULL);
    d->next = fs->syncs;
    fs->syncs = d;
  }
  d->users++;
  /* The first round to start from now on covers this rename: a round
   * running now may have opened the directory before it. */
  uint64_t ticket = d->started + 1;
  while (d->done < ticket) {
    if (d->running || d->started >= ticket) {
      pthread_cond_wait(&d->cv[ticket & 1], &fs->mu);
      continue;
    }
    d->running = 1;
    uint64_t round = ++d->started;
    pthread_mutex_unlock(&fs->mu);
    int r = fsync_dir(dir);
    int e = errno;
    pthread_mutex_lock(&fs->mu);
    d->running = 0;
    d->done = round;
    if (r < 0) {
      d->failed = round;
      d->failed_errno = e;
    }
    pthread_cond_broadcast(&d->cv[round & 1]); /* this round's puts */
    pthread_cond_signal(&d->cv[(round + 1) & 1]); /* one of the next, to lead it */
  }
  int rc = 0, e = 0;
  if (d->failed >= ticket) {
    rc = -1;
    e = d->failed_errno;
  }
  if (--d->users == 0) {
    dir_sync **pp = &fs->syncs;
    while (*pp != d) pp = &(*pp)->next;
    *pp = d->next;
    pthread_cond_destroy(&d->cv[0]);
    pthread_cond_destroy(&d->cv[1]);
    free(d->path);
    free(d);
  }
  pthread_mutex_unlock(&fs->mu);
  errno = e;
  return rc;
}

static int file_put(void *impl, const char *key, const void *data, size_t len, char *err,
                    size_t errlen) {
  file_store *fs = impl;
  if (reserved_key(key)) {
    errbuf_set(err, errlen,
               "file put %s: key segments starting with \"" TMP_PREFIX "\" are reserved", key);
    return BLOB_EINVAL;
  }
  char path[PATH_MAX], dir[PATH_MAX], tmp[PATH_MAX + 32];
  join(fs, key, path);
  snprintf(dir, sizeof dir, "%s", path);
  *strrchr(dir, '/') = '\0';
  if (!*dir) snprintf(dir, sizeof dir, "/");

  unsigned char md[32];
  EVP_Digest(data, len, md, NULL, EVP_sha256(), NULL);
  char etag[80];
  etag_from_digest(md, etag);

  int fd = -1;
  /* A concurrent delete may remove a just-created empty parent, while we
   * create the chain of directories or before the temporary file is in
   * place: retry both. */
  for (int attempt = 0; attempt < PUT_ATTEMPTS && fd < 0; attempt++) {
    if (mkdirs(dir) < 0) {
      int e = errno;
      if (e == ENOENT && attempt + 1 < PUT_ATTEMPTS) continue;
      errbuf_set(err, errlen, "file put %s: cannot create directory %s: %s%s", key, dir,
                 strerror(e), e == ENOTDIR ? " (a parent of this key is an object)" : "");
      return errno_code(e) == BLOB_ENOTFOUND ? BLOB_EIO : errno_code(e);
    }
    char rnd[13];
    if (rnd_hex(rnd, 6) != 0) {
      static unsigned counter;
      unsigned v = __atomic_add_fetch(&counter, 1, __ATOMIC_RELAXED) ^ (unsigned)getpid();
      snprintf(rnd, sizeof rnd, "%08x%02x00", v, (unsigned)attempt & 0xffu);
    }
    snprintf(tmp, sizeof tmp, "%s/" TMP_PREFIX "%s", dir, rnd);
    fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0 && errno != ENOENT && errno != EEXIST) {
      int e = errno;
      remove_empty_parents(fs, path);
      errbuf_set(err, errlen, "file put %s: cannot create %s: %s", key, tmp, strerror(e));
      return errno_code(e);
    }
    if (fd >= 0 && !hold_temp(fd)) { /* swept before we held it: start over */
      close(fd);
      fd = -1;
    }
  }
  if (fd < 0) {
    remove_empty_parents(fs, path);
    errbuf_set(err, errlen, "file put %s: cannot create a temporary file in %s", key, dir);
    return BLOB_EIO;
  }
  const char *p = data;
  size_t left = len;
  int e = 0;
  while (left) {
    ssize_t n = write(fd, p, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      e = errno;
      break;
    }
    p += n;
    left -= (size_t)n;
  }
  /* The ETag attribute is set before the fsync, which then makes it
   * durable with the data (fsync changes neither size nor mtime). */
  struct stat st;
  if (!e && fstat(fd, &st) < 0) e = errno;
  if (!e) {
    char v[160];
    int vn = snprintf(v, sizeof v, "%s %llu %lld", etag, (unsigned long long)st.st_size,
                      (long long)mtime_ns(&st));
    /* Without xattr support the ETag is computed from the content later. */
    (void)fsetxattr(fd, ETAG_XATTR, v, (size_t)vn, 0);
  }
  if (!e && fsync(fd) < 0) e = errno;
  if (!e && rename(tmp, path) < 0) e = errno;
  if (close(fd) < 0 && !e) e = errno; /* after the rename: held until then */
  if (e) {
    unlink(tmp);
    remove_empty_parents(fs, path);
    int code = errno_code(e) == BLOB_ENOTFOUND ? BLOB_EIO : errno_code(e);
    errbuf_set(err, errlen, "file put %s: writing %s: %s", key, path, strerror(e));
    return code;
  }
  if (group_fsync_dir(fs, dir) < 0) {
    e = errno;
    errbuf_set(err, errlen, "file put %s: fsync %s: %s", key, dir, strerror(e));
    return BLOB_EIO;
  }
  return 0;
}

/* Opens an object for reading; ENOTFOUND for a missing key or a directory. */
static int open_object(file_store *fs, const char *op, const char *key, int *fdout,
                       struct stat *st, char *err, size_t errlen) {
  char path[PATH_MAX];
  join(fs, key, path);
  int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR || e == ELOOP) {
      errbuf_set(err, errlen, "file %s %s: no such object (%s)", op, key, path);
      return BLOB_ENOTFOUND;
    }
    errbuf_set(err, errlen, "file %s %s: %s: %s", op, key, path, strerror(e));
    return errno_code(e);
  }
  if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
    close(fd);
    errbuf_set(err, errlen, "file %s %s: no such object (%s is not a file)", op, key, path);
    return BLOB_ENOTFOUND;
  }
  *fdout = fd;
  return 0;
}

static int file_get(void *impl, const char *key, size_t max_bytes, uint8_t **data, size_t *len,
                    blob_info *info, char *err, size_t errlen) {
  int fd;
  struct stat st;
  int rc = open_object(impl, "get", key, &fd, &st, err, errlen);
  if (rc) return rc;
  if (max_bytes && (uint64_t)st.st_size > max_bytes) {
    close(fd);
    errbuf_set(err, errlen, "file get %s: %llu bytes is over the limit of %zu", key,
               (unsigned long long)st.st_size, max_bytes);
    return BLOB_ETOOBIG;
  }
  if ((uint64_t)st.st_size >= SIZE_MAX) {
    close(fd);
    errbuf_set(err, errlen, "file get %s: too large", key);
    return BLOB_ETOOBIG;
  }
  size_t size = (size_t)st.st_size;
  uint8_t *buf = malloc(size + 1);
  if (!buf) {
    close(fd);
    errbuf_set(err, errlen, "file get %s: out of memory for %zu bytes", key, size);
    return BLOB_ENOMEM;
  }
  /* Objects are replaced by rename, never rewritten: the open file keeps
   * the size seen by fstat. */
  size_t got = 0;
  while (got < size) {
    ssize_t n = pread(fd, buf + got, size - got, (off_t)got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      int e = n < 0 ? errno : EIO;
      free(buf);
      close(fd);
      errbuf_set(err, errlen, "file get %s: read: %s", key, strerror(e));
      return BLOB_EIO;
    }
    got += (size_t)n;
  }
  buf[size] = '\0';
  if (info) {
    info->size = size;
    info->mtime_ms = (int64_t)st.st_mtim.tv_sec * 1000 + st.st_mtim.tv_nsec / 1000000;
    if (etag_from_xattr(fd, &st, info->etag) < 0) {
      unsigned char md[32];
      EVP_Digest(buf, size, md, NULL, EVP_sha256(), NULL);
      etag_from_digest(md, info->etag);
    }
  }
  close(fd);
  *data = buf;
  *len = size;
  return 0;
}

static int file_get_stream(void *impl, const char *key, blob_write_fn write, void *ctx,
                           blob_info *info, char *err, size_t errlen) {
  int fd;
  struct stat st;
  int rc = open_object(impl, "get", key, &fd, &st, err, errlen);
  if (rc) return rc;
  if (info && fill_info(fd, &st, info) < 0) {
    int e = errno;
    close(fd);
    errbuf_set(err, errlen, "file get %s: read: %s", key, strerror(e));
    return BLOB_EIO;
  }
  rc = read_chunks(fd, write, ctx);
  int e = errno;
  close(fd);
  if (rc < 0) {
    errbuf_set(err, errlen, "file get %s: read: %s", key, strerror(e));
    return BLOB_EIO;
  }
  if (rc > 0) {
    errbuf_set(err, errlen, "file get %s: aborted by the receiver", key);
    return BLOB_EIO;
  }
  return 0;
}

static int file_stat(void *impl, const char *key, blob_info *info, char *err, size_t errlen) {
  int fd;
  struct stat st;
  int rc = open_object(impl, "stat", key, &fd, &st, err, errlen);
  if (rc) return rc;
  rc = fill_info(fd, &st, info);
  int e = errno;
  close(fd);
  if (rc < 0) {
    errbuf_set(err, errlen, "file stat %s: read: %s", key, strerror(e));
    return BLOB_EIO;
  }
  return 0;
}

static int file_del(void *impl, const char *key, char *err, size_t errlen) {
  file_store *fs = impl;
  char path[PATH_MAX];
  join(fs, key, path);
  struct stat st;
  if (lstat(path, &st) == 0 && S_ISDIR(st.st_mode)) return 0; /* a prefix, not an object */
  if (unlink(path) < 0) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) return 0;
    errbuf_set(err, errlen, "file delete %s: %s: %s", key, path, strerror(e));
    return errno_code(e);
  }
  remove_empty_parents(fs, path);
  return 0;
}

/* --- listing -------------------------------------------------------------- */

typedef struct lentry {
  char *name; /* directories end in '/' */
  int is_dir;
} lentry;

typedef struct level {
  char *rel; /* key prefix of this directory, "" or ending in '/' */
  lentry *e;
  size_t n, i;
} level;

typedef struct file_iter {
  file_store *fs;
  const char *prefix; /* blob.c's copy */
  level *stack;
  size_t depth, cap;
  char key[PATH_MAX];
  int done;
} file_iter;

/* Directory names carry their trailing '/', so plain byte order of the
 * names is the byte order of the keys below them. */
static int lentry_cmp(const void *a, const void *b) {
  return strcmp(((const lentry *)a)->name, ((const lentry *)b)->name);
}

static void free_level(level *l) {
  for (size_t i = 0; i < l->n; i++) free(l->e[i].name);
  free(l->e);
  free(l->rel);
}

/* Reads and sorts one directory; a directory that vanished is empty. */
static int push_level(file_iter *it, const char *rel, char *err, size_t errlen) {
  char path[PATH_MAX];
  join(it->fs, rel, path);
  size_t rl = strlen(path);
  if (rl > 1 && path[rl - 1] == '/') path[rl - 1] = '\0';
  if (it->depth == it->cap) {
    size_t cap = it->cap ? it->cap * 2 : 8;
    level *s = realloc(it->stack, cap * sizeof *s);
    if (!s) {
      errbuf_set(err, errlen, "file list: out of memory");
      return BLOB_ENOMEM;
    }
    it->stack = s;
    it->cap = cap;
  }
  level l = {0};
  l.rel = strdup(rel);
  if (!l.rel) {
    errbuf_set(err, errlen, "file list: out of memory");
    return BLOB_ENOMEM;
  }
  DIR *d = opendir(path);
  if (!d) {
    int e = errno;
    if (e == ENOENT || e == ENOTDIR) {
      it->stack[it->depth++] = l;
      return 0;
    }
    free(l.rel);
    errbuf_set(err, errlen, "file list: %s: %s", path, strerror(e));
    return errno_code(e);
  }
  size_t cap = 0;
  struct dirent *de;
  int rc = 0;
  while ((de = readdir(d))) {
    if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, "..")) continue;
    if (!strncmp(de->d_name, TMP_PREFIX, strlen(TMP_PREFIX))) continue;
    struct stat st;
    if (fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) continue;
    if (!S_ISDIR(st.st_mode) && !S_ISREG(st.st_mode)) continue;
    if (l.n == cap) {
      cap = cap ? cap * 2 : 16;
      lentry *e = realloc(l.e, cap * sizeof *e);
      if (!e) {
        errbuf_set(err, errlen, "file list: out of memory");
        rc = BLOB_ENOMEM;
        break;
      }
      l.e = e;
    }
    size_t nl = strlen(de->d_name);
    l.e[l.n].name = malloc(nl + 2);
    if (l.e[l.n].name) {
      memcpy(l.e[l.n].name, de->d_name, nl);
      l.e[l.n].name[nl] = S_ISDIR(st.st_mode) ? '/' : '\0';
      l.e[l.n].name[nl + 1] = '\0';
    }
    if (!l.e[l.n].name) {
      errbuf_set(err, errlen, "file list: out of memory");
      rc = BLOB_ENOMEM;
      break;
    }
    l.e[l.n].is_dir = S_ISDIR(st.st_mode);
    l.n++;
  }
  closedir(d);
  if (rc) {
    free_level(&l);
    return rc;
  }
  if (l.n > 1) qsort(l.e, l.n, sizeof *l.e, lentry_cmp); /* l.e is NULL when empty */
  it->stack[it->depth++] = l;
  return 0;
}

static int file_list_open(void *impl, const char *prefix, void **state, char *err, size_t errlen) {
  file_iter *it = calloc(1, sizeof *it);
  if (!it) {
    errbuf_set(err, errlen, "file list: out of memory");
    return BLOB_ENOMEM;
  }
  it->fs = impl;
  it->prefix = prefix;
  /* Start at the deepest directory the prefix names, when it is a safe key. */
  char start[PATH_MAX] = "";
  const char *slash = strrchr(prefix, '/');
  if (slash) {
    size_t n = (size_t)(slash - prefix);
    if (n < sizeof start) {
      memcpy(start, prefix, n);
      start[n] = '\0';
      if (blob_key_valid(start)) strcat(start, "/");
      else start[0] = '\0';
    }
  }
  int rc = push_level(it, start, err, errlen);
  if (rc) {
    free(it);
    return rc;
  }
  *state = it;
  return 0;
}

static int starts_with(const char *s, const char *p) { return strncmp(s, p, strlen(p)) == 0; }

static int file_list_next(void *state, const char **key, blob_info *info, char *err,
                          size_t errlen) {
  file_iter *it = state;
  while (it->depth) {
    level *l = &it->stack[it->depth - 1];
    if (l->i >= l->n) {
      free_level(l);
      it->depth--;
      continue;
    }
    lentry *e = &l->e[l->i++];
    int n = snprintf(it->key, sizeof it->key, "%s%s", l->rel, e->name);
    if (n < 0 || (size_t)n >= sizeof it->key) continue;
    if (e->is_dir) {
      /* Descend only where keys can match the prefix. */
      if (starts_with(it->key, it->prefix) || starts_with(it->prefix, it->key)) {
        char rel[PATH_MAX];
        snprintf(rel, sizeof rel, "%s", it->key);
        int rc = push_level(it, rel, err, errlen);
        if (rc) return rc;
      }
      continue;
    }
    if (!starts_with(it->key, it->prefix) || !blob_key_valid(it->key)) continue;
    int fd;
    struct stat st;
    char e2[8];
    int rc = open_object(it->fs, "list", it->key, &fd, &st, e2, sizeof e2);
    if (rc == BLOB_ENOTFOUND) continue; /* deleted meanwhile */
    if (rc) {
      errbuf_set(err, errlen, "file list: cannot open %s", it->key);
      return rc;
    }
    rc = fill_info(fd, &st, info);
    close(fd);
    if (rc < 0) {
      errbuf_set(err, errlen, "file list: cannot read %s", it->key);
      return BLOB_EIO;
    }
    *key = it->key;
    return 1;
  }
  return 0;
}

static void file_list_free(void *state) {
  file_iter *it = state;
  if (!it) return;
  while (it->depth) free_level(&it->stack[--it->depth]);
  free(it->stack);
  free(it);
}

static int file_check(void *impl, char *err, size_t errlen) {
  file_store *fs = impl;
  char path[PATH_MAX];
  snprintf(path, sizeof path, "%s", fs->dir);
  if (mkdirs(path) < 0) {
    int e = errno;
    errbuf_set(err, errlen, "file store %s: cannot create the directory: %s", fs->dir, strerror(e));
    return errno_code(e) == BLOB_ENOTFOUND ? BLOB_EIO : errno_code(e);
  }
  if (access(fs->dir, W_OK | X_OK) < 0) {
    int e = errno;
    errbuf_set(err, errlen, "file store %s: not writable: %s", fs->dir, strerror(e));
    return errno_code(e);
  }
  return 0;
}

const struct blob_backend blob_file_backend = {
    .name = "file",
    .scheme = "file://",
    .open = file_open,
    .close = file_close,
    .put = file_put,
    .get = file_get,
    .get_stream = file_get_stream,
    .stat = file_stat,
    .del = file_del,
    .list_open = file_list_open,
    .list_next = file_list_next,
    .list_free = file_list_free,
    .check = file_check,
    .sweep = file_sweep,
};
