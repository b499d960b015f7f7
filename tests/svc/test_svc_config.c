/*
 * test_svc_config.c — unit tests of the flag parser (types, forms, env
 * precedence, usage errors, help text) and the small helpers of svc_util
 * (sizes, duration flags, tokens, constant-time compare, loopback).
 */
#include "../common/check.h"

#include "svc_config.h"
#include "svc_util.h"

#include <stdint.h>
#include <stdlib.h>
#include <fcntl.h>
#include <unistd.h>

CHECK_DEFINE_COUNTERS

static const char *s_url, *s_name;
static int64_t i_port;
static int b_insecure;
static int64_t d_wait;
static uint64_t z_max;

static svc_flag flags[] = {
    {"port", 'p', SVC_FLAG_INT, "8080", "port to listen on", &i_port, NULL, NULL, 0},
    {"blob-store-url", 0, SVC_FLAG_STRING, NULL, "blob store URL", &s_url, NULL, "URL", 0},
    {"insecure", 0, SVC_FLAG_BOOL, "false", "allow no token", &b_insecure, NULL, NULL, 0},
    {"batch-wait", 0, SVC_FLAG_DURATION, "500ms", "batch wait", &d_wait, NULL, NULL, 0},
    {"max-profile-bytes", 0, SVC_FLAG_SIZE, "67108864", "body limit", &z_max, NULL, NULL, 0},
    {"name", 'n', SVC_FLAG_STRING, "x", "no env", &s_name, "", NULL, 0},
};
#define NF (sizeof flags / sizeof flags[0])

static int parse(int argc, char **argv, char **pos, int *npos, char *err) {
  return svc_flags_parse(flags, NF, argc, argv, pos, npos, err, 256);
}

/* Durations are chrono_parse_duration's (tests/core); flags use it below. */
static void test_sizes(void) {
  uint64_t b;
  char err[256];
  CHECK_EQ(svc_parse_size("1048576", &b, err, sizeof err), 0); CHECK_EQ(b, 1048576);
  CHECK_EQ(svc_parse_size("0", &b, err, sizeof err), 0); CHECK_EQ(b, 0);
  CHECK_EQ(svc_parse_size("2MiB", &b, err, sizeof err), 0); CHECK_EQ(b, 2 << 20);
  CHECK_EQ(svc_parse_size("1k", &b, err, sizeof err), -1);
  CHECK_EQ(svc_parse_size("-1", &b, err, sizeof err), -1);
  CHECK_EQ(svc_parse_size("18446744073709551616", &b, err, sizeof err), -1);
  CHECK_CONTAINS(err, "bad size");
}

static void test_misc(void) {
  char err[256];
  CHECK(svc_ct_equal("secret", 6, "secret", 6));
  CHECK(!svc_ct_equal("secreT", 6, "secret", 6));
  CHECK(!svc_ct_equal("secret1", 7, "secret", 6));
  CHECK(!svc_ct_equal("secre", 5, "secret", 6));
  CHECK(!svc_ct_equal("", 0, "secret", 6));
  CHECK(svc_is_loopback("127.0.0.1"));
  CHECK(svc_is_loopback("127.1.2.3"));
  CHECK(svc_is_loopback("::1"));
  CHECK(svc_is_loopback("localhost"));
  CHECK(!svc_is_loopback("0.0.0.0"));
  CHECK(!svc_is_loopback("10.0.0.1"));
  CHECK(!svc_is_loopback("127.evil.com"));

  /* token: file wins over env; trimmed; empty file is an error */
  char path[] = "/tmp/svc-token-XXXXXX";
  int fd = mkstemp(path);
  CHECK(fd >= 0);
  CHECK(write(fd, "  tok-from-file \n", 17) == 17);
  close(fd);
  setenv("SVC_TEST_TOKEN", "tok-from-env", 1);
  char *tok = NULL;
  CHECK_EQ(svc_load_token(path, "SVC_TEST_TOKEN", &tok, err, sizeof err), 0);
  CHECK_STR(tok, "tok-from-file");
  free(tok);
  CHECK_EQ(svc_load_token(NULL, "SVC_TEST_TOKEN", &tok, err, sizeof err), 0);
  CHECK_STR(tok, "tok-from-env");
  free(tok);
  /* the variable is trimmed like the file (echo adds a newline) */
  setenv("SVC_TEST_TOKEN", "tok-from-env\n", 1);
  CHECK_EQ(svc_load_token(NULL, "SVC_TEST_TOKEN", &tok, err, sizeof err), 0);
  CHECK_STR(tok, "tok-from-env");
  free(tok);
  setenv("SVC_TEST_TOKEN", " \n", 1);
  CHECK_EQ(svc_load_token(NULL, "SVC_TEST_TOKEN", &tok, err, sizeof err), -1);
  CHECK_CONTAINS(err, "SVC_TEST_TOKEN");
  /* a token no client could send in a header is refused at start */
  setenv("SVC_TEST_TOKEN", "two words", 1);
  CHECK_EQ(svc_load_token(NULL, "SVC_TEST_TOKEN", &tok, err, sizeof err), -1);
  CHECK_CONTAINS(err, "SVC_TEST_TOKEN");
  unsetenv("SVC_TEST_TOKEN");
  CHECK_EQ(svc_load_token(NULL, "SVC_TEST_TOKEN", &tok, err, sizeof err), 0);
  CHECK(tok == NULL);
  fd = open(path, O_WRONLY | O_TRUNC);
  CHECK(write(fd, "\n", 1) == 1);
  close(fd);
  CHECK_EQ(svc_load_token(path, "SVC_TEST_TOKEN", &tok, err, sizeof err), -1);
  CHECK_CONTAINS(err, "is empty");
  CHECK_CONTAINS(err, path);
  unlink(path);
  CHECK_EQ(svc_load_token(path, NULL, &tok, err, sizeof err), -1);
  CHECK_CONTAINS(err, "No such file");
}

static void test_flags(void) {
  char err[256];
  char *pos[16];
  int npos;

  /* defaults */
  {
    char *argv[] = {"prog", NULL};
    CHECK_EQ(parse(1, argv, pos, &npos, err), SVC_FLAGS_OK);
    CHECK_EQ(i_port, 8080);
    CHECK(s_url == NULL);
    CHECK_EQ(b_insecure, 0);
    CHECK_EQ(d_wait, 500);
    CHECK_EQ(z_max, 67108864);
    CHECK_EQ(flags[0].source, SVC_SRC_DEFAULT);
  }
  /* every form */
  {
    char *argv[] = {"prog", "-p", "9000", "--blob-store-url=file:///x", "--insecure", "--batch-wait", "5m",
                    "--max-profile-bytes=1024", "a.json", "--", "--not-a-flag", NULL};
    CHECK_EQ(parse(11, argv, pos, &npos, err), SVC_FLAGS_OK);
    CHECK_EQ(i_port, 9000);
    CHECK_STR(s_url, "file:///x");
    CHECK_EQ(b_insecure, 1);
    CHECK_EQ(d_wait, 300000);
    CHECK_EQ(z_max, 1024);
    CHECK_EQ(npos, 2);
    CHECK_STR(pos[0], "a.json");
    CHECK_STR(pos[1], "--not-a-flag");
    CHECK_EQ(flags[0].source, SVC_SRC_FLAG);
  }
  {
    char *argv[] = {"prog", "-p9001", "--insecure=false", NULL};
    CHECK_EQ(parse(3, argv, pos, &npos, err), SVC_FLAGS_OK);
    CHECK_EQ(i_port, 9001);
    CHECK_EQ(b_insecure, 0);
  }
  /* env precedence: env beats default, flag beats env */
  setenv("PGOPIPE_PORT", "7000", 1);
  setenv("PGOPIPE_BLOB_STORE_URL", "s3://b", 1);
  setenv("PGOPIPE_INSECURE", "yes", 1);
  setenv("PGOPIPE_BATCH_WAIT", "2s", 1);
  setenv("PGOPIPE_NAME", "ignored", 1);
  {
    char *argv[] = {"prog", NULL};
    CHECK_EQ(parse(1, argv, pos, &npos, err), SVC_FLAGS_OK);
    CHECK_EQ(i_port, 7000);
    CHECK_STR(s_url, "s3://b");
    CHECK_EQ(b_insecure, 1);
    CHECK_EQ(d_wait, 2000);
    CHECK_STR(s_name, "x"); /* env disabled for this flag */
    CHECK_EQ(flags[0].source, SVC_SRC_ENV);
  }
  {
    char *argv[] = {"prog", "--port", "7001", "--batch-wait=10ms", NULL};
    CHECK_EQ(parse(4, argv, pos, &npos, err), SVC_FLAGS_OK);
    CHECK_EQ(i_port, 7001);
    CHECK_EQ(d_wait, 10);
    CHECK_STR(s_url, "s3://b");
  }
  setenv("PGOPIPE_BATCH_WAIT", "2 seconds", 1);
  {
    char *argv[] = {"prog", NULL};
    CHECK_EQ(parse(1, argv, pos, &npos, err), SVC_FLAGS_EUSAGE);
    CHECK_CONTAINS(err, "PGOPIPE_BATCH_WAIT");
    CHECK_CONTAINS(err, "bad duration");
  }
  unsetenv("PGOPIPE_PORT");
  unsetenv("PGOPIPE_BLOB_STORE_URL");
  unsetenv("PGOPIPE_INSECURE");
  unsetenv("PGOPIPE_BATCH_WAIT");
  unsetenv("PGOPIPE_NAME");

  /* autopgo's variables, AUTOPGO_<FLAG>, are read as aliases; PGOPIPE_ wins */
  setenv("AUTOPGO_PORT", "6000", 1);
  setenv("AUTOPGO_BLOB_STORE_URL", "s3://from-autopgo", 1);
  setenv("AUTOPGO_NAME", "ignored", 1);
  {
    char *argv[] = {"prog", NULL};
    CHECK_EQ(parse(1, argv, pos, &npos, err), SVC_FLAGS_OK);
    CHECK_EQ(i_port, 6000);
    CHECK_STR(s_url, "s3://from-autopgo");
    CHECK_STR(s_name, "x"); /* env disabled for this flag */
    CHECK_EQ(flags[0].source, SVC_SRC_ENV);
  }
  setenv("PGOPIPE_PORT", "7000", 1);
  {
    char *argv[] = {"prog", NULL};
    CHECK_EQ(parse(1, argv, pos, &npos, err), SVC_FLAGS_OK);
    CHECK_EQ(i_port, 7000);
  }
  {
    char *argv[] = {"prog", "-p", "7001", NULL};
    CHECK_EQ(parse(3, argv, pos, &npos, err), SVC_FLAGS_OK);
    CHECK_EQ(i_port, 7001);
  }
  unsetenv("PGOPIPE_PORT");
  setenv("AUTOPGO_BATCH_WAIT", "soon", 1);
  {
    char *argv[] = {"prog", NULL};
    CHECK_EQ(parse(1, argv, pos, &npos, err), SVC_FLAGS_EUSAGE);
    CHECK_CONTAINS(err, "AUTOPGO_BATCH_WAIT");
  }
  unsetenv("AUTOPGO_BATCH_WAIT");
  unsetenv("AUTOPGO_PORT");
  unsetenv("AUTOPGO_BLOB_STORE_URL");
  unsetenv("AUTOPGO_NAME");

  /* usage errors */
  {
    char *argv[] = {"prog", "--nope", NULL};
    CHECK_EQ(parse(2, argv, pos, &npos, err), SVC_FLAGS_EUSAGE);
    CHECK_CONTAINS(err, "unknown flag --nope");
  }
  {
    char *argv[] = {"prog", "-z", NULL};
    CHECK_EQ(parse(2, argv, pos, &npos, err), SVC_FLAGS_EUSAGE);
    CHECK_CONTAINS(err, "unknown flag -z");
  }
  {
    char *argv[] = {"prog", "--port", NULL};
    CHECK_EQ(parse(2, argv, pos, &npos, err), SVC_FLAGS_EUSAGE);
    CHECK_CONTAINS(err, "--port needs a value");
  }
  {
    char *argv[] = {"prog", "--port=80x", NULL};
    CHECK_EQ(parse(2, argv, pos, &npos, err), SVC_FLAGS_EUSAGE);
    CHECK_CONTAINS(err, "--port: bad integer \"80x\"");
  }
  {
    char *argv[] = {"prog", "--insecure=maybe", NULL};
    CHECK_EQ(parse(2, argv, pos, &npos, err), SVC_FLAGS_EUSAGE);
    CHECK_CONTAINS(err, "bad boolean");
  }
  {
    char *argv[] = {"prog", "--max-profile-bytes", "1e6", NULL};
    CHECK_EQ(parse(3, argv, pos, &npos, err), SVC_FLAGS_EUSAGE);
    CHECK_CONTAINS(err, "--max-profile-bytes: bad size");
  }
  {
    char *argv[] = {"prog", "extra", NULL};
    CHECK_EQ(svc_flags_parse(flags, NF, 2, argv, NULL, NULL, err, sizeof err), SVC_FLAGS_EUSAGE);
    CHECK_CONTAINS(err, "unexpected argument \"extra\"");
  }
  {
    char *argv[] = {"prog", "--port", "1", "--help", NULL};
    CHECK_EQ(parse(4, argv, pos, &npos, err), SVC_FLAGS_HELP);
    char *argv2[] = {"prog", "--version", NULL};
    CHECK_EQ(parse(2, argv2, pos, &npos, err), SVC_FLAGS_VERSION);
  }
  /* help text generated from the table */
  {
    char *text = NULL;
    size_t len = 0;
    FILE *f = open_memstream(&text, &len);
    svc_cmd cmd = {"prog", "TARGETS.json", "Does things."};
    svc_flags_help(f, &cmd, flags, NF);
    fclose(f);
    CHECK_CONTAINS(text, "Usage: prog [flags] TARGETS.json");
    CHECK_CONTAINS(text, "-p, --port N");
    CHECK_CONTAINS(text, "(default 8080) [$PGOPIPE_PORT]");
    CHECK_CONTAINS(text, "--blob-store-url URL");
    CHECK_CONTAINS(text, "[$PGOPIPE_BLOB_STORE_URL]");
    CHECK_CONTAINS(text, "[$PGOPIPE_MAX_PROFILE_BYTES]");
    CHECK_CONTAINS(text, "AUTOPGO_");
    CHECK(strstr(text, "PGOPIPE_NAME") == NULL);
    CHECK_CONTAINS(text, "--help");
    free(text);
  }
}

/* svc_flags_main: the exit status a main returns, or -1 to go on. */
static void test_flags_main(void) {
  svc_cmd cmd = {"test-daemon", NULL, "A daemon under test."};
  char *ok[] = {"x", "--port", "9090", NULL};
  CHECK_EQ(svc_flags_main(&cmd, flags, NF, 3, ok, NULL, NULL), -1);
  CHECK_EQ(i_port, 9090);
  char *bad[] = {"x", "--port", "80x", NULL};
  CHECK_EQ(svc_flags_main(&cmd, flags, NF, 3, bad, NULL, NULL), 2);
  char *pos_given[] = {"x", "extra", NULL};
  CHECK_EQ(svc_flags_main(&cmd, flags, NF, 2, pos_given, NULL, NULL), 2);
  char *version[] = {"x", "--version", NULL};
  CHECK_EQ(svc_flags_main(&cmd, flags, NF, 2, version, NULL, NULL), 0);
}

int main(void) {
  test_sizes();
  test_misc();
  test_flags();
  test_flags_main();
  return check_exit("test_svc_config");
}
