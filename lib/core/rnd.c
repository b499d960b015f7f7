/* rnd.c — see rnd.h. */
#include "rnd.h"

#include "hex.h"

#include <errno.h>
#include <sys/random.h>
#include <sys/types.h>

int rnd_bytes(void *buf, size_t n) {
  unsigned char *b = buf;
  size_t got = 0;
  while (got < n) {
    ssize_t k = getrandom(b + got, n - got, 0);
    if (k < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    got += (size_t)k;
  }
  return 0;
}

int rnd_hex(char *out, size_t nbytes) {
  unsigned char buf[64];
  size_t done = 0;
  while (done < nbytes) {
    size_t want = nbytes - done < sizeof buf ? nbytes - done : sizeof buf;
    if (rnd_bytes(buf, want) != 0) return -1;
    hex_encode(buf, want, out + 2 * done);
    done += want;
  }
  out[2 * nbytes] = '\0';
  return 0;
}

int rnd_uuid4(char out[37]) {
  unsigned char b[16];
  if (rnd_bytes(b, sizeof b) != 0) return -1;
  b[6] = (unsigned char)((b[6] & 0x0f) | 0x40); /* version 4 */
  b[8] = (unsigned char)((b[8] & 0x3f) | 0x80); /* RFC 4122 variant */
  char *o = out;
  for (int i = 0; i < 16; i++) {
    if (i == 4 || i == 6 || i == 8 || i == 10) *o++ = '-';
    hex_encode(&b[i], 1, o);
    o += 2;
  }
  *o = 0;
  return 0;
}
