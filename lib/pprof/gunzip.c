/*
 * gunzip.c — gzip input of the decoder (pp_gunzip, internal.h), apart from
 * the wire format so that each file reads as one concern.
 *
 * Streaming gunzip (zlib) with a structural check of the top-level fields
 * as the bytes arrive, so a hostile stream is refused after its first chunk
 * instead of after inflating up to the limit:
 *  - every top-level tag must be valid: field number > 0, wire type varint,
 *    fixed64, length-delimited or fixed32 (groups and types 6/7 are refused);
 *  - profile.proto's fields 1-15 must have their schema's wire type;
 *  - a length-delimited field must end within the decoded-size limit, so a
 *    header claiming a gibibyte string is refused (PP_ETOOBIG) at once.
 * Field contents are not read here (decode_proto does that); the walk only
 * hops from tag to tag, a few nanoseconds per top-level field. A bomb whose
 * structure is valid (many real small fields) still stops at the limit,
 * after inflating at most `limit` bytes once.
 *
 * Speed: streaming zlib is slower than one-shot libdeflate, so when the
 * gzip trailer's ISIZE is plausible — within the limit and at most 16x the
 * input (real profiles compress 3-10x) — the first 4 KiB are streamed and
 * walked as a probe, then the whole input is inflated in one shot into
 * ISIZE bytes, growing (up to the same 16x and the limit) for further gzip
 * members, as pp_encode writes for large profiles (the work is bounded by
 * twice that; the decoder's own top-level pass then makes the same checks,
 * with the same messages).
 * Otherwise (implausible ISIZE, or data past the 16x bound) everything is
 * streamed: the buffer
 * starts at min(ISIZE, 16x input), doubles as data arrives up to limit + 1
 * (the extra byte tells "exactly at the limit" from "over it"), and the
 * walk runs over every chunk. Multi-member streams are read as one.
 */
#include "internal.h"

#include <libdeflate.h>
#include <limits.h>
#include <stdlib.h>
#include <zlib.h>

const char *pp_wire_name(uint32_t t) {
  switch (t) {
  case 0: return "varint";
  case 1: return "fixed64";
  case 2: return "length-delimited";
  case 5: return "fixed32";
  default: return "group";
  }
}

enum { GZ_CHUNK = 256u << 10 }; /* output per inflate call: the walk's granularity */

/* Reads a varint from [p, end): 1 = ok (*n bytes), 0 = incomplete, -1 = over 10 bytes. */
static int walk_varint(const uint8_t *p, const uint8_t *end, uint64_t *v, size_t *n) {
  uint64_t u = 0;
  for (size_t i = 0; i < 10; i++) {
    if (p + i >= end) return 0;
    u |= (uint64_t)(p[i] & 0x7f) << (7 * i);
    if (!(p[i] & 0x80)) {
      *v = u;
      *n = i + 1;
      return 1;
    }
  }
  return -1;
}

/* Wire type profile.proto gives top-level field `num` (1..15); 13 (comment)
 * may be packed or not; 99 = unknown field, any type. */
static uint32_t top_wire_type(uint64_t num) {
  switch (num) {
  case 1: case 2: case 3: case 4: case 5: case 6: case 11: return 2;
  case 7: case 8: case 9: case 10: case 12: case 14: case 15: return 0;
  default: return 99;
  }
}

/*
 * Walks the complete top-level fields in buf[*pos, have), advancing *pos
 * (which may end up past `have`, inside a field's contents still to come).
 * Stops quietly at an incomplete tag or length: the next call resumes there,
 * and truncation at the very end is reported by the decoder proper.
 */
static int walk_top(const uint8_t *buf, size_t have, size_t *pos, size_t limit, char *err, size_t errlen) {
  const uint8_t *end = buf + have;
  while (*pos < have) {
    const uint8_t *p = buf + *pos;
    uint64_t key, v;
    size_t n, m;
    int r = walk_varint(p, end, &key, &n);
    if (r == 0) return PP_OK;
    if (r < 0)
      return pp_err(err, errlen, PP_EMALFORMED,
                    "malformed profile: profile: bad varint (near byte %zu of the decoded data)", *pos);
    uint64_t num = key >> 3;
    uint32_t typ = (uint32_t)(key & 7);
    if (num == 0)
      return pp_err(err, errlen, PP_EMALFORMED,
                    "malformed profile: profile: field number 0 (near byte %zu of the decoded data; not a "
                    "profile.proto message?)",
                    *pos);
    if (typ != 0 && typ != 1 && typ != 2 && typ != 5)
      return pp_err(err, errlen, PP_EMALFORMED,
                    "malformed profile: profile: unsupported wire type %u (near byte %zu of the decoded data)", typ,
                    *pos);
    uint32_t want = top_wire_type(num);
    if (want != 99 && typ != want && !(num == 13 && (typ == 0 || typ == 2)))
      return pp_err(err, errlen, PP_EMALFORMED,
                    "malformed profile: %s field %u has wire type %s, expected %s (not a profile.proto message?)",
                    num == 6 ? "profile string table" : "profile", (unsigned)num, pp_wire_name(typ), pp_wire_name(want));
    size_t at = *pos + n;
    switch (typ) {
    case 0:
      r = walk_varint(buf + at, end, &v, &m);
      if (r == 0) return PP_OK;
      if (r < 0)
        return pp_err(err, errlen, PP_EMALFORMED,
                      "malformed profile: profile: bad varint (near byte %zu of the decoded data)", at);
      *pos = at + m;
      break;
    case 1: *pos = at + 8; break;
    case 5: *pos = at + 4; break;
    default:
      r = walk_varint(buf + at, end, &v, &m);
      if (r == 0) return PP_OK;
      if (r < 0)
        return pp_err(err, errlen, PP_EMALFORMED,
                      "malformed profile: profile: bad varint (near byte %zu of the decoded data)", at);
      at += m;
      if (at > limit || v > limit - at)
        return pp_err(err, errlen, PP_ETOOBIG,
                      "decompressed profile is over the limit of %zu bytes (field %u at byte %zu declares %llu bytes; "
                      "gzip bomb or limit too low)",
                      limit, (unsigned)num, *pos, (unsigned long long)v);
      *pos = at + (size_t)v;
      break;
    }
  }
  return PP_OK;
}

/* Grows *buf to nc bytes, *cap with it. Returns PP_OK or PP_ENOMEM (*buf
 * unchanged). */
static int grow_to(uint8_t **buf, size_t *cap, size_t nc, char *err, size_t errlen) {
  uint8_t *nb = realloc(*buf, nc);
  if (!nb) return pp_err(err, errlen, PP_ENOMEM, "gunzip: out of memory growing to %zu bytes", nc);
  pp_huge(nb, nc);
  *buf = nb;
  *cap = nc;
  return PP_OK;
}

/*
 * Streaming inflate with the walk, into a buffer growing up to limit + 1.
 * Stops early (returning what it has, *complete = false) once `stop_at`
 * bytes are out: that is the probe of the fast path below.
 */
static int gz_stream(const uint8_t *in, size_t inlen, size_t limit, size_t cap, size_t stop_at, uint8_t **out,
                     size_t *outlen, bool *complete, char *err, size_t errlen) {
  size_t hardcap = limit < SIZE_MAX ? limit + 1 : SIZE_MAX;
  if (cap > hardcap) cap = hardcap;
  uint8_t *buf = malloc(cap);
  z_stream z;
  memset(&z, 0, sizeof(z));
  bool zok = false;
  int rc = PP_OK;
  size_t have = 0, fed = 0, wpos = 0, member = 0;
  *complete = false;
  if (!buf || inflateInit2(&z, 16 + MAX_WBITS) != Z_OK) {
    rc = pp_err(err, errlen, PP_ENOMEM, "gunzip: out of memory");
    goto done;
  }
  zok = true;
  for (;;) {
    if (z.avail_in == 0 && fed < inlen) {
      size_t k = inlen - fed > UINT_MAX ? UINT_MAX : inlen - fed;
      z.next_in = (Bytef *)(uintptr_t)(in + fed);
      z.avail_in = (uInt)k;
      fed += k;
    }
    if (have == cap) {
      if (cap >= hardcap) break; /* have > limit: reported below */
      size_t nc = cap > hardcap / 2 ? hardcap : cap * 2;
      if ((rc = grow_to(&buf, &cap, nc, err, errlen))) goto done;
    }
    size_t room = cap - have < GZ_CHUNK ? cap - have : GZ_CHUNK;
    z.next_out = buf + have;
    z.avail_out = (uInt)room;
    int zr = inflate(&z, Z_NO_FLUSH);
    have += room - z.avail_out;
    if (have > limit) break;
    if ((rc = walk_top(buf, have, &wpos, limit, err, errlen))) goto done;
    if (zr == Z_STREAM_END) {
      size_t consumed = fed - z.avail_in;
      if (consumed >= inlen) {
        *complete = true;
        break;
      }
      member = consumed; /* another gzip member follows */
      if (inflateReset(&z) != Z_OK) {
        rc = pp_err(err, errlen, PP_ENOMEM, "gunzip: out of memory");
        goto done;
      }
    } else if (zr != Z_OK && !(zr == Z_BUF_ERROR && z.avail_out == 0)) {
      rc = zr == Z_MEM_ERROR ? pp_err(err, errlen, PP_ENOMEM, "gunzip: out of memory")
                             : pp_err(err, errlen, PP_EMALFORMED,
                                      "malformed profile: bad or truncated gzip data (gzip member starting at byte %zu)",
                                      member);
      goto done;
    }
    if (have >= stop_at) break;
  }
  if (have > limit)
    rc = pp_err(err, errlen, PP_ETOOBIG,
                "decompressed profile is over the limit of %zu bytes (gzip bomb or limit too low)", limit);
done:
  if (zok) inflateEnd(&z);
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf;
  *outlen = have;
  return PP_OK;
}

/*
 * One-shot inflate (libdeflate, about 1.5-2x zlib's speed), member after
 * member. The buffer starts at `size` bytes, the last member's ISIZE: one
 * member fills it exactly, and pp_encode's members are no larger than the
 * last, so its later members need one growth to have + size. A member
 * that does not fit is inflated again into a buffer grown to
 * max(have + size, twice the room) but never past `bound`: the work stays
 * within about twice `bound`. Returns PP_OK, 1 when the data does not fit
 * in `bound` (the caller falls back to streaming), or an error.
 */
static int gz_oneshot(const uint8_t *in, size_t inlen, size_t size, size_t bound, uint8_t **out, size_t *outlen,
                      char *err, size_t errlen) {
  size_t cap = size ? size : 1;
  uint8_t *buf = malloc(cap);
  pp_huge(buf, cap);
  struct libdeflate_decompressor *d = libdeflate_alloc_decompressor();
  int rc = PP_OK;
  size_t pos = 0, have = 0;
  if (!buf || !d) {
    rc = pp_err(err, errlen, PP_ENOMEM, "gunzip: out of memory");
    goto done;
  }
  while (pos < inlen) {
    size_t used = 0, got = 0;
    enum libdeflate_result r =
        libdeflate_gzip_decompress_ex(d, in + pos, inlen - pos, buf + have, cap - have, &used, &got);
    if (r == LIBDEFLATE_SUCCESS) {
      pos += used;
      have += got;
      continue;
    }
    if (r == LIBDEFLATE_INSUFFICIENT_SPACE) {
      if (cap >= bound) {
        rc = 1;
        goto done;
      }
      size_t nc = cap * 2 > have + size ? cap * 2 : have + size;
      if (nc > bound || nc < cap) nc = bound;
      if ((rc = grow_to(&buf, &cap, nc, err, errlen))) goto done;
      continue;
    }
    rc = pp_err(err, errlen, PP_EMALFORMED,
                "malformed profile: bad or truncated gzip data (gzip member starting at byte %zu)", pos);
    goto done;
  }
done:
  if (d) libdeflate_free_decompressor(d);
  if (rc) {
    free(buf);
    return rc;
  }
  *out = buf;
  *outlen = have;
  return PP_OK;
}

/* Output the fast path checks by streaming first: enough for the first
 * top-level fields, where a bomb of zeros or a field claiming more than
 * the limit shows itself, and small beside a profile, which libdeflate
 * then inflates about twice as fast as zlib. */
enum { GZ_PROBE = 4u << 10, GZ_MIN_BUF = 64u << 10 };

int pp_gunzip(const uint8_t *in, size_t inlen, size_t limit, uint8_t **out, size_t *outlen, char *err,
                  size_t errlen) {
  size_t isize = 0;
  if (inlen >= 18) isize = (size_t)in[inlen - 4] | (size_t)in[inlen - 3] << 8 | (size_t)in[inlen - 2] << 16 |
                           (size_t)in[inlen - 1] << 24;
  size_t plausible = inlen > SIZE_MAX / 16 ? SIZE_MAX : inlen * 16;
  if (plausible < (1u << 20)) plausible = 1u << 20;
  bool complete = false;
  int rc;
  if (isize > GZ_PROBE && isize <= plausible && isize <= limit) {
    /* Fast path: check the start by streaming, then inflate in one shot
     * into the size the trailer states, which is plausible (at most 16:1)
     * and within the limit, growing for further members; past 16:1,
     * stream after all. */
    rc = gz_stream(in, inlen, limit, GZ_PROBE, GZ_PROBE, out, outlen, &complete, err, errlen);
    if (rc || complete) return rc;
    free(*out);
    *out = NULL;
    size_t bound = plausible < limit ? plausible : limit;
    rc = gz_oneshot(in, inlen, isize, bound, out, outlen, err, errlen);
    if (rc <= 0) return rc;
    if (bound == limit) /* more than the limit: streaming would only say so later */
      return pp_err(err, errlen, PP_ETOOBIG,
                    "decompressed profile is over the limit of %zu bytes (gzip bomb or limit too low)", limit);
  }
  size_t cap = isize > plausible ? plausible : isize;
  if (cap < GZ_MIN_BUF) cap = GZ_MIN_BUF;
  return gz_stream(in, inlen, limit, cap, SIZE_MAX, out, outlen, &complete, err, errlen);
}

