/*
 * s3_conf.h — the configuration of an S3 store: what its s3:// URL says
 * (bucket, endpoint and addressing style, region, timing) and the
 * credentials of the environment. Internal to lib/blob (s3.c); apart from
 * the transport so that the URL rules are read in one place.
 *
 * URL: s3://BUCKET[/]?endpoint=URL&region=R&use_path_style=BOOL plus
 * connect_timeout=DUR, timeout=DUR, retry_backoff=DUR (chrono_parse_duration's
 * grammar, at most a year) and retries=N (0-20); and the parameters of
 * gocloud's s3blob URLs (autopgo's): disable_https (disableSSL),
 * s3ForcePathStyle, hostname_immutable, dualstack, fips, accelerate,
 * profile, anonymous, ssetype, kmskeyid, and, accepted with a warning as
 * they cannot apply here, awssdk, rate_limiter_capacity,
 * request_checksum_calculation, response_checksum_validation. See
 * lib/blob/README.md.
 *
 * Credentials: AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY (and
 * AWS_SESSION_TOKEN) when set, as the AWS SDKs take them first; otherwise
 * the profile (profile=, else AWS_PROFILE, else "default") of the shared
 * credentials file (AWS_SHARED_CREDENTIALS_FILE, default ~/.aws/credentials)
 * or config file (AWS_CONFIG_FILE, default ~/.aws/config), whose region is
 * used when the URL names none.
 */
#ifndef PGOPIPE_BLOB_S3_CONF_H
#define PGOPIPE_BLOB_S3_CONF_H

#include <stddef.h>

typedef struct s3_conf {
  char *bucket;
  char *region;   /* "us-east-1" unless the URL says otherwise */
  char *base;     /* scheme://host[:port], with "bucket." in front for virtual-hosted style */
  char *host;     /* Host header value */
  char *path_pfx; /* "/bucket" (path style) or "" */
  char *access_key, *secret_key, *session_token; /* session_token may be NULL; all
                                                   NULL when anonymous */
  int anonymous;  /* requests are not signed (a public bucket) */
  char *sse;      /* x-amz-server-side-encryption on PUT ("AES256", "aws:kms"), or NULL */
  char *kms_key_id; /* x-amz-server-side-encryption-aws-kms-key-id, or NULL */
  long connect_timeout_ms, timeout_ms, retries, backoff_ms;
} s3_conf;

/*
 * Parses url (with its "s3://") and reads AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY and AWS_SESSION_TOKEN. Contacts nothing. Returns 0
 * with *c filled (owned by the caller: s3_conf_free), or BLOB_EINVAL /
 * BLOB_ENOMEM with a message naming the URL and the parameter; *c is then
 * empty.
 */
int s3_conf_parse(const char *url, s3_conf *c, char *err, size_t errlen);

/* Frees what c holds (the secret is overwritten first) and empties it. */
void s3_conf_free(s3_conf *c);

#endif
