/*
 * sigv4.h — AWS Signature Version 4 for S3 requests, header form.
 *
 * Kept apart from the S3 transport so it can be tested on its own against
 * the worked examples of the AWS documentation. The signer computes the
 * Authorization header itself with OpenSSL (HMAC-SHA256, SHA-256) rather
 * than through libcurl, whose 7.88 signer omits x-amz-content-sha256 and
 * orders some headers wrongly.
 *
 * The caller sends exactly the canonical path and query it signed; helpers
 * below build them: RFC 3986 encoding (A-Z a-z 0-9 - _ . ~ kept, everything
 * else %XX in uppercase hex over the UTF-8 bytes; '/' kept in paths, %2F in
 * query values), parameters sorted by name then value, "name=" for an empty
 * value. Internal to lib/blob (symbols prefixed sigv4_).
 */
#ifndef PGOPIPE_BLOB_SIGV4_H
#define PGOPIPE_BLOB_SIGV4_H

#include <stddef.h>
#include <time.h>

/* SHA-256 of the empty string, the payload hash of body-less requests. */
#define SIGV4_EMPTY_SHA256 "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"

typedef struct sigv4_kv {
  const char *name;
  const char *value;
} sigv4_kv;

typedef struct sigv4_request {
  const char *method;          /* "GET", "PUT", ... */
  const char *canonical_uri;   /* already encoded, e.g. "/bucket/a%20b" */
  const char *canonical_query; /* already canonical (sigv4_canonical_query), "" if none */
  const sigv4_kv *headers;     /* headers to sign; names lowercase, any order; must include host */
  size_t n_headers;
  const char *payload_sha256;  /* lowercase hex of the body's SHA-256 */
  const char *amz_date;        /* "YYYYMMDDTHHMMSSZ", also sent as x-amz-date */
  const char *region;          /* "us-east-1" */
  const char *service;         /* "s3" */
  const char *access_key;
  const char *secret_key;
} sigv4_request;

/*
 * Appends the RFC 3986 encoding of in[0..len) to out (capacity outcap,
 * NUL-terminated). keep_slash keeps '/' (paths); otherwise it becomes %2F.
 * Returns the encoded length, or -1 if it does not fit. At most 3*len+1
 * bytes are needed.
 */
long sigv4_uri_encode(const char *in, size_t len, int keep_slash, char *out, size_t outcap);

/*
 * Builds the canonical query string of n (name, value) pairs (raw, not yet
 * encoded; value NULL means empty): encoded, sorted, joined with '&'.
 * Returns a malloc'd string (caller frees), NULL on allocation failure.
 */
char *sigv4_canonical_query(const sigv4_kv *params, size_t n);

/* Formats t (UTC) as "YYYYMMDDTHHMMSSZ" into out[17]. */
void sigv4_amz_date(time_t t, char out[17]);

/* Lowercase hex SHA-256 of data into out[65]. */
void sigv4_sha256_hex(const void *data, size_t len, char out[65]);

/*
 * Computes the Authorization header value
 * "AWS4-HMAC-SHA256 Credential=AK/DATE/REGION/SERVICE/aws4_request,
 * SignedHeaders=...,Signature=..." into out (capacity outcap). When
 * canonical_out is not NULL it receives the canonical request (malloc'd,
 * caller frees) for diagnostics. Returns 0, or -1 when out is too small or
 * memory runs out.
 */
int sigv4_sign(const sigv4_request *req, char *out, size_t outcap, char **canonical_out);

#endif
