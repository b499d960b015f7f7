/*
 * test_s3_conf.c — what an s3:// URL configures, without a server: the
 * parameters of gocloud's S3 URLs that autopgo deployments carry
 * (disable_https / disableSSL, s3ForcePathStyle, awssdk, region, endpoint
 * with or without a scheme, profile, hostname_immutable, dualstack, fips,
 * accelerate, anonymous, ssetype, kmskeyid, and those that cannot apply,
 * accepted with a warning), credentials from the environment or from the
 * shared AWS files of a profile.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "../common/check.h"
#include "blob.h"
#include "corelog.h"
#include "s3_conf.h"

CHECK_DEFINE_COUNTERS

static char warnings[4096];

static void on_log(void *ctx, int level, const char *msg, const char *const *kv, size_t npairs) {
  (void)ctx;
  if (level < CORE_LOG_WARN) return;
  strncat(warnings, msg, sizeof warnings - strlen(warnings) - 1);
  for (size_t i = 0; i < npairs; i++) {
    strncat(warnings, " ", sizeof warnings - strlen(warnings) - 1);
    if (kv[2 * i + 1]) strncat(warnings, kv[2 * i + 1], sizeof warnings - strlen(warnings) - 1);
  }
  strncat(warnings, "\n", sizeof warnings - strlen(warnings) - 1);
}

/* Parses url; 0 with c filled, else the BLOB_E* code with err. */
static int parse(const char *url, s3_conf *c, char *err, size_t errlen) {
  warnings[0] = '\0';
  return s3_conf_parse(url, c, err, errlen);
}

static void expect(const char *url, const char *base, const char *pfx, const char *region) {
  s3_conf c;
  char err[512];
  int rc = parse(url, &c, err, sizeof err);
  CHECK(rc == 0, "%s: %s", url, err);
  if (rc) return;
  CHECK(!strcmp(c.base, base), "%s: base %s, want %s", url, c.base, base);
  CHECK(!strcmp(c.path_pfx, pfx), "%s: path prefix \"%s\", want \"%s\"", url, c.path_pfx, pfx);
  CHECK(!strcmp(c.region, region), "%s: region %s, want %s", url, c.region, region);
  s3_conf_free(&c);
}

static void refused(const char *url, const char *why) {
  s3_conf c;
  char err[512];
  int rc = parse(url, &c, err, sizeof err);
  CHECK(rc == BLOB_EINVAL && strstr(err, why), "%s: %d %s (want \"%s\")", url, rc, err, why);
}

static void test_addressing(void) {
  /* autopgo's documented MinIO URL */
  expect("s3://profiles?endpoint=http://minio:9000&use_path_style=true&disable_https=true",
         "http://minio:9000", "/profiles", "us-east-1");
  /* gocloud's endpoint may be a host alone: the scheme follows disable_https */
  expect("s3://profiles?endpoint=minio:9000&disable_https=true&s3ForcePathStyle=true", "http://minio:9000",
         "/profiles", "us-east-1");
  expect("s3://profiles?endpoint=minio:9000&disableSSL=true&s3ForcePathStyle=true&awssdk=v1",
         "http://minio:9000", "/profiles", "us-east-1");
  expect("s3://profiles?endpoint=minio:9000", "https://profiles.minio:9000", "", "us-east-1");
  expect("s3://profiles?endpoint=minio:9000&hostname_immutable=true", "https://minio:9000", "/profiles",
         "us-east-1");
  /* AWS's own endpoints */
  expect("s3://profiles?region=eu-west-1&awssdk=v2", "https://profiles.s3.eu-west-1.amazonaws.com", "",
         "eu-west-1");
  expect("s3://profiles?region=eu-west-1&dualstack=true",
         "https://profiles.s3.dualstack.eu-west-1.amazonaws.com", "", "eu-west-1");
  expect("s3://profiles?region=us-gov-west-1&fips=true", "https://profiles.s3-fips.us-gov-west-1.amazonaws.com",
         "", "us-gov-west-1");
  expect("s3://profiles?region=us-east-1&fips=true&dualstack=true",
         "https://profiles.s3-fips.dualstack.us-east-1.amazonaws.com", "", "us-east-1");
  expect("s3://profiles?accelerate=true", "https://profiles.s3-accelerate.amazonaws.com", "", "us-east-1");
  expect("s3://profiles?region=eu-west-1&disable_https=true", "http://profiles.s3.eu-west-1.amazonaws.com", "",
         "eu-west-1");
  /* what the AWS SDKs refuse, refused */
  refused("s3://profiles?endpoint=http://h:1&dualstack=true", "dualstack");
  refused("s3://profiles?accelerate=true&use_path_style=true", "accelerate");
  refused("s3://profiles?disable_https=maybe", "disable_https");
  refused("s3://profiles?request_checksum_calculation=sometimes", "request_checksum_calculation");
  refused("s3://profiles?ssetype=rot13", "ssetype");
  refused("s3://profiles?rate_limiter_capacity=lots", "rate_limiter_capacity");
  refused("s3://profiles?no_such_parameter=1", "unknown parameter");
}

static void test_warnings(void) {
  s3_conf c;
  char err[512];
  /* an explicit scheme wins over disable_https, as in the AWS SDK: said */
  CHECK(parse("s3://profiles?endpoint=https://h:1&disable_https=true", &c, err, sizeof err) == 0, "%s", err);
  CHECK(!strcmp(c.base, "https://profiles.h:1") && strstr(warnings, "disable_https"), "base %s, warnings %s",
        c.base, warnings);
  s3_conf_free(&c);
  /* parameters of the Go SDK that have no meaning here: accepted, said */
  CHECK(parse("s3://profiles?awssdk=v2&rate_limiter_capacity=10&response_checksum_validation=when_required",
              &c, err, sizeof err) == 0, "%s", err);
  CHECK(strstr(warnings, "awssdk") && strstr(warnings, "rate_limiter_capacity") &&
            strstr(warnings, "response_checksum_validation"),
        "warnings: %s", warnings);
  s3_conf_free(&c);
  /* those that apply are not warned about */
  CHECK(parse("s3://profiles?endpoint=http://h:1&use_path_style=true&region=r1", &c, err, sizeof err) == 0, "%s",
        err);
  CHECK(warnings[0] == '\0', "warnings: %s", warnings);
  s3_conf_free(&c);
}

static void test_credentials(const char *dir) {
  s3_conf c;
  char err[512], cred[600], conf[600];
  snprintf(cred, sizeof cred, "%s/credentials", dir);
  snprintf(conf, sizeof conf, "%s/config", dir);
  FILE *f = fopen(cred, "w");
  fprintf(f, "[default]\naws_access_key_id = AKIDDEFAULT\naws_secret_access_key = s-default\n\n"
             "[prod]\n# a comment\naws_access_key_id=AKIDPROD\naws_secret_access_key = s-prod\n"
             "aws_session_token = t-prod\n");
  fclose(f);
  f = fopen(conf, "w");
  fprintf(f, "[default]\nregion = eu-north-1\n[profile prod]\nregion = ap-south-1\n");
  fclose(f);
  setenv("AWS_SHARED_CREDENTIALS_FILE", cred, 1);
  setenv("AWS_CONFIG_FILE", conf, 1);
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  unsetenv("AWS_SESSION_TOKEN");
  unsetenv("AWS_PROFILE");
  CHECK(parse("s3://profiles?profile=prod", &c, err, sizeof err) == 0, "profile: %s", err);
  CHECK(!strcmp(c.access_key, "AKIDPROD") && !strcmp(c.secret_key, "s-prod") && c.session_token &&
            !strcmp(c.session_token, "t-prod") && !strcmp(c.region, "ap-south-1"),
        "profile prod: %s %s", c.access_key, c.region);
  s3_conf_free(&c);
  /* the URL's region wins over the profile's */
  CHECK(parse("s3://profiles?profile=prod&region=us-west-2", &c, err, sizeof err) == 0, "%s", err);
  CHECK(!strcmp(c.region, "us-west-2"), "region %s", c.region);
  s3_conf_free(&c);
  /* AWS_PROFILE, then default */
  setenv("AWS_PROFILE", "prod", 1);
  CHECK(parse("s3://profiles", &c, err, sizeof err) == 0 && !strcmp(c.access_key, "AKIDPROD"), "AWS_PROFILE: %s",
        err);
  s3_conf_free(&c);
  unsetenv("AWS_PROFILE");
  CHECK(parse("s3://profiles", &c, err, sizeof err) == 0 && !strcmp(c.access_key, "AKIDDEFAULT") &&
            !strcmp(c.region, "eu-north-1"),
        "default profile: %s", err);
  s3_conf_free(&c);
  /* the environment's keys win over any profile, as in the AWS SDK */
  setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "s-env", 1);
  CHECK(parse("s3://profiles?profile=prod", &c, err, sizeof err) == 0 && !strcmp(c.access_key, "AKIDENV") &&
            c.session_token == NULL,
        "environment over profile: %s", err);
  s3_conf_free(&c);
  unsetenv("AWS_ACCESS_KEY_ID");
  unsetenv("AWS_SECRET_ACCESS_KEY");
  /* a profile that is not there: named in the error */
  CHECK(parse("s3://profiles?profile=missing", &c, err, sizeof err) == BLOB_EINVAL && strstr(err, "missing") &&
            strstr(err, "AWS_ACCESS_KEY_ID"),
        "missing profile: %s", err);
  /* anonymous: no credentials needed, nothing signed */
  CHECK(parse("s3://profiles?profile=missing&anonymous=true", &c, err, sizeof err) == 0 && c.anonymous, "%s",
        err);
  s3_conf_free(&c);
  /* server-side encryption */
  setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "s-env", 1);
  CHECK(parse("s3://profiles?ssetype=AES256", &c, err, sizeof err) == 0 && c.sse && !strcmp(c.sse, "AES256") &&
            !c.kms_key_id,
        "ssetype: %s", err);
  s3_conf_free(&c);
  CHECK(parse("s3://profiles?ssetype=aws:kms&kmskeyid=alias/pgo", &c, err, sizeof err) == 0 && c.sse &&
            !strcmp(c.sse, "aws:kms") && c.kms_key_id && !strcmp(c.kms_key_id, "alias/pgo"),
        "kms: %s", err);
  s3_conf_free(&c);
  CHECK(parse("s3://profiles?kmskeyid=alias/pgo", &c, err, sizeof err) == 0 && c.sse && !strcmp(c.sse, "aws:kms"),
        "kmskeyid alone means aws:kms: %s", err);
  s3_conf_free(&c);
  unlink(cred);
  unlink(conf);
}

int main(void) {
  core_logger lg = {on_log, NULL, CORE_LOG_DEBUG};
  blob_set_logger(&lg);
  setenv("AWS_ACCESS_KEY_ID", "AKIDENV", 1);
  setenv("AWS_SECRET_ACCESS_KEY", "s-env", 1);
  test_addressing();
  test_warnings();
  char tmpl[] = "/tmp/pgopipe-s3conf-XXXXXX";
  char *dir = mkdtemp(tmpl);
  CHECK(dir != NULL, "mkdtemp");
  if (dir) {
    test_credentials(dir);
    rmdir(dir);
  }
  return check_exit("test_s3_conf");
}
