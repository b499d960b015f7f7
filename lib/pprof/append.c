/*
 * append.c — adding a comment to an encoded profile without encoding it
 * again.
 *
 * A protobuf message followed by another one parses as their merge, and
 * repeated fields append: bytes that add one string_table entry (field 6)
 * and one comment index (field 13) pointing at it extend any encoded
 * profile by a comment, as long as the index is the message's string count.
 * A gzipped profile gets those bytes as a second gzip member: gzip readers
 * (Go's compress/gzip, which pprof uses; zlib with inflateReset; pp_decode)
 * read concatenated members as one stream. The member holds one stored
 * (uncompressed) deflate block: a comment is a few hundred bytes, so
 * compressing it would cost more than it saves.
 *
 * Cost: one copy of the input and O(comment) work, instead of a decode and
 * a full encode (gzip of the whole profile); what it costs readers is in
 * pp_decode's notes on multi-member streams (gunzip.c).
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

size_t pp_wire_string_count(const pp_profile *p) { return p ? p->wire_strings : 0; }

static size_t put_varint(uint8_t *b, uint64_t v) {
  size_t n = 0;
  while (v >= 0x80) {
    b[n++] = (uint8_t)(v | 0x80);
    v >>= 7;
  }
  b[n++] = (uint8_t)v;
  return n;
}

static void put_le32(uint8_t *b, uint32_t v) {
  b[0] = (uint8_t)v;
  b[1] = (uint8_t)(v >> 8);
  b[2] = (uint8_t)(v >> 16);
  b[3] = (uint8_t)(v >> 24);
}

int pp_append_comment(const uint8_t *in, size_t len, size_t nstrings, const char *comment, uint8_t **out,
                      size_t *outlen, char *err, size_t errlen) {
  if (!out || !outlen || !comment || (!in && len) || nstrings == 0)
    return pp_err(err, errlen, PP_EINVAL, "pp_append_comment: bad arguments");
  *out = NULL;
  *outlen = 0;
  size_t clen = strlen(comment);
  /* The protobuf suffix: tag 6 (length-delimited) + length + text, tag 13
   * (varint) + index. */
  size_t plen = 1 + 10 + clen + 1 + 10;
  uint8_t *pb = malloc(plen);
  if (!pb) return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  size_t n = 0;
  pb[n++] = (6 << 3) | 2;
  n += put_varint(pb + n, clen);
  memcpy(pb + n, comment, clen);
  n += clen;
  pb[n++] = (13 << 3) | 0;
  n += put_varint(pb + n, nstrings);
  plen = n;

  int gz = len >= 2 && in[0] == 0x1f && in[1] == 0x8b;
  size_t blocks = plen / 65535 + 1;
  size_t extra = gz ? 10 + blocks * 5 + plen + 8 : plen;
  if (len > SIZE_MAX - extra) {
    free(pb);
    return pp_err(err, errlen, PP_ETOOBIG, "pp_append_comment: input too large");
  }
  uint8_t *o = malloc(len + extra);
  if (!o) {
    free(pb);
    return pp_err(err, errlen, PP_ENOMEM, "out of memory");
  }
  if (len) memcpy(o, in, len);
  size_t w = len;
  if (!gz) {
    memcpy(o + w, pb, plen);
    w += plen;
  } else {
    static const uint8_t header[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    memcpy(o + w, header, sizeof header);
    w += sizeof header;
    size_t at = 0;
    do { /* stored blocks of at most 65535 bytes; the last one has BFINAL */
      size_t k = plen - at > 65535 ? 65535 : plen - at;
      o[w++] = at + k == plen ? 1 : 0;
      o[w++] = (uint8_t)k;
      o[w++] = (uint8_t)(k >> 8);
      o[w++] = (uint8_t)~k;
      o[w++] = (uint8_t)(~k >> 8);
      memcpy(o + w, pb + at, k);
      w += k;
      at += k;
    } while (at < plen);
    put_le32(o + w, (uint32_t)crc32(crc32(0L, Z_NULL, 0), pb, (uInt)plen));
    put_le32(o + w + 4, (uint32_t)plen);
    w += 8;
  }
  free(pb);
  *out = o;
  *outlen = w;
  return PP_OK;
}
