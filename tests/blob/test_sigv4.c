/*
 * test_sigv4.c — the C signer against the four worked examples of the AWS
 * S3 documentation (GET object with Range, PUT object, GET bucket
 * lifecycle, GET bucket list objects), plus the encoding rules: RFC 3986
 * with uppercase hex, '/' kept in paths and %2F in query values, sorted
 * parameters, "name=" for empty values.
 */
#include <string.h>

#include "../common/check.h"
#include "sigv4.h"

CHECK_DEFINE_COUNTERS

#define AK "AKIAIOSFODNN7EXAMPLE"
#define SK "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
#define HOST "examplebucket.s3.amazonaws.com"
#define DATE "20130524T000000Z"

static void expect_sig(const char *name, const char *method, const char *uri, const char *query,
                       const sigv4_kv *h, size_t nh, const char *payload, const char *want_signed,
                       const char *want_sig) {
  sigv4_request r = {method, uri, query, h, nh, payload, DATE, "us-east-1", "s3", AK, SK};
  char out[1024];
  char *canon = NULL;
  int rc = sigv4_sign(&r, out, sizeof out, &canon);
  CHECK(rc == 0, "%s: sign failed", name);
  char want[1024];
  snprintf(want, sizeof want,
           "AWS4-HMAC-SHA256 Credential=" AK "/20130524/us-east-1/s3/aws4_request,SignedHeaders=%s,"
           "Signature=%s",
           want_signed, want_sig);
  CHECK(strcmp(out, want) == 0, "%s:\n got  %s\n want %s\n canonical request:\n%s", name, out,
        want, canon ? canon : "");
  free(canon);

  /* A different secret gives a different signature. */
  r.secret_key = SK "x";
  rc = sigv4_sign(&r, out, sizeof out, NULL);
  CHECK(rc == 0 && !strstr(out, want_sig), "%s: signature did not depend on the secret", name);
  /* Too small an output buffer is an error, not a truncation. */
  CHECK(sigv4_sign(&r, out, 40, NULL) == -1, "%s: short buffer accepted", name);
}

int main(void) {
  /* GET object with a Range header. */
  {
    sigv4_kv h[] = {{"host", HOST},
                    {"range", "bytes=0-9"},
                    {"x-amz-content-sha256", SIGV4_EMPTY_SHA256},
                    {"x-amz-date", DATE}};
    expect_sig("GET object", "GET", "/test.txt", "", h, 4, SIGV4_EMPTY_SHA256,
               "host;range;x-amz-content-sha256;x-amz-date",
               "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41");
  }
  /* PUT object: '$' in the key is encoded, headers given out of order. */
  {
    char payload[65];
    sigv4_sha256_hex("Welcome to Amazon S3.", 21, payload);
    CHECK(!strcmp(payload, "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072"),
          "sha256 of the example body: %s", payload);
    char uri[64];
    uri[0] = '/';
    sigv4_uri_encode("test$file.text", 14, 1, uri + 1, sizeof uri - 1);
    CHECK(!strcmp(uri, "/test%24file.text"), "encoded path %s", uri);
    sigv4_kv h[] = {{"x-amz-storage-class", "REDUCED_REDUNDANCY"},
                    {"x-amz-date", DATE},
                    {"host", HOST},
                    {"date", "Fri, 24 May 2013 00:00:00 GMT"},
                    {"x-amz-content-sha256", payload}};
    expect_sig("PUT object", "PUT", uri, "", h, 5, payload,
               "date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class",
               "98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd");
  }
  /* GET bucket lifecycle: a parameter without a value. */
  {
    sigv4_kv qp[] = {{"lifecycle", NULL}};
    char *q = sigv4_canonical_query(qp, 1);
    CHECK(q && !strcmp(q, "lifecycle="), "lifecycle query %s", q ? q : "(null)");
    sigv4_kv h[] = {{"host", HOST}, {"x-amz-content-sha256", SIGV4_EMPTY_SHA256}, {"x-amz-date", DATE}};
    expect_sig("GET lifecycle", "GET", "/", q, h, 3, SIGV4_EMPTY_SHA256,
               "host;x-amz-content-sha256;x-amz-date",
               "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543");
    free(q);
  }
  /* GET bucket (list objects): parameters sorted. */
  {
    sigv4_kv qp[] = {{"prefix", "J"}, {"max-keys", "2"}};
    char *q = sigv4_canonical_query(qp, 2);
    CHECK(q && !strcmp(q, "max-keys=2&prefix=J"), "list query %s", q ? q : "(null)");
    sigv4_kv h[] = {{"host", HOST}, {"x-amz-content-sha256", SIGV4_EMPTY_SHA256}, {"x-amz-date", DATE}};
    expect_sig("GET list objects", "GET", "/", q, h, 3, SIGV4_EMPTY_SHA256,
               "host;x-amz-content-sha256;x-amz-date",
               "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7");
    free(q);
  }
  /* Encoding rules. */
  {
    char out[256];
    const char *in = "a b+c%d~e/f_g.h-i*j'k(l)\xd0\xba\xe2\x82\xac";
    sigv4_uri_encode(in, strlen(in), 1, out, sizeof out);
    CHECK(!strcmp(out, "a%20b%2Bc%25d~e/f_g.h-i%2Aj%27k%28l%29%D0%BA%E2%82%AC"), "path %s", out);
    sigv4_uri_encode("a/b", 3, 0, out, sizeof out);
    CHECK(!strcmp(out, "a%2Fb"), "query value %s", out);
    CHECK(sigv4_uri_encode("a b", 3, 0, out, 5) == -1, "overflow not reported");
    CHECK(sigv4_uri_encode("ab", 2, 0, out, 3) == 2, "exact fit refused");
    sigv4_kv qp[] = {{"prefix", "a b/c+d"}, {"list-type", "2"}, {"continuation-token", "x/y=="},
                     {"a", ""}};
    char *q = sigv4_canonical_query(qp, 4);
    CHECK(q && !strcmp(q, "a=&continuation-token=x%2Fy%3D%3D&list-type=2&prefix=a%20b%2Fc%2Bd"),
          "canonical query %s", q ? q : "(null)");
    free(q);
    char d[17];
    sigv4_amz_date(1369353600, d);
    CHECK(!strcmp(d, "20130524T000000Z"), "amz date %s", d);
    /* Header values are trimmed and inner spaces collapsed. */
    sigv4_kv h1[] = {{"host", HOST}, {"x-amz-meta-a", "  one   two  "}};
    sigv4_kv h2[] = {{"host", HOST}, {"x-amz-meta-a", "one two"}};
    sigv4_request r1 = {"GET", "/", "", h1, 2, SIGV4_EMPTY_SHA256, DATE, "us-east-1", "s3", AK, SK};
    sigv4_request r2 = r1;
    r2.headers = h2;
    char o1[512], o2[512];
    CHECK(sigv4_sign(&r1, o1, sizeof o1, NULL) == 0 && sigv4_sign(&r2, o2, sizeof o2, NULL) == 0 &&
              !strcmp(o1, o2),
          "header value canonicalisation differs:\n%s\n%s", o1, o2);
  }
  return check_exit("test_sigv4");
}
