/*
 * test_s3_xml.c — the S3 backend's XML reader (lib/blob/s3_xml.c) on the
 * answers S3 servers really give, without a server: ListObjectsV2 pages as
 * s3rver 3.7.1 wrote them in the test server (its own namespace,
 * entity-escaped keys, a truncated page with its continuation token and the
 * page after it, an empty listing), pages in AWS's documented form (AWS
 * namespace, indentation, <Owner> one level deeper, a prefixed namespace),
 * error bodies (s3rver's NoSuchKey, NoSuchBucket and SignatureDoesNotMatch,
 * AWS's AccessDenied), and what must be refused or tolerated: malformed and
 * truncated XML, an error body cut short, Contents without a Key, a Key too
 * long to keep, a LastModified that is not RFC 3339.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../common/check.h"
#include "s3_xml.h"

CHECK_DEFINE_COUNTERS

#define S3RVER_NS "<ListBucketResult xmlns=\"http://doc.s3.amazonaws.com/2006-03-01/\">"
#define ETAG_X "&quot;9dd4e461268c8034f5c8564e155c67a6&quot;"
#define TOKEN "1lf2tALLqjvheJcCc8FSv+7lIl7i0EaJQ3CN6xU3KUSwT3gFsDPSFN0T7T+XM8S8"

/* The first page of `prefix=app/staging/&max-keys=2` on the test server. */
static const char s3rver_page1[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" S3RVER_NS
    "<Name>pgopipe</Name><Prefix>app/staging/</Prefix><NextContinuationToken>" TOKEN
    "</NextContinuationToken><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>true"
    "</IsTruncated><Contents><Key>app/staging/&lt;x&gt;&quot;q&quot;</Key><LastModified>"
    "2026-12-05T17:22:10.000Z</LastModified><ETag>" ETAG_X "</ETag><Size>1</Size><StorageClass>"
    "STANDARD</StorageClass></Contents><Contents><Key>app/staging/a&amp;b</Key><LastModified>"
    "2026-12-05T17:22:10.000Z</LastModified><ETag>" ETAG_X "</ETag><Size>1</Size><StorageClass>"
    "STANDARD</StorageClass></Contents></ListBucketResult>";

/* The page after it (continuation-token=TOKEN). */
static const char s3rver_page2[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" S3RVER_NS
    "<Name>pgopipe</Name><Prefix>app/staging/</Prefix><ContinuationToken>" TOKEN
    "</ContinuationToken><KeyCount>2</KeyCount><MaxKeys>2</MaxKeys><IsTruncated>false"
    "</IsTruncated><Contents><Key>app/staging/it&#x27;s</Key><LastModified>"
    "2026-12-05T17:22:10.000Z</LastModified><ETag>" ETAG_X "</ETag><Size>1</Size><StorageClass>"
    "STANDARD</StorageClass></Contents><Contents><Key>app/staging/plain</Key><LastModified>"
    "2026-12-05T17:22:10.000Z</LastModified><ETag>" ETAG_X "</ETag><Size>1</Size><StorageClass>"
    "STANDARD</StorageClass></Contents></ListBucketResult>";

static const char s3rver_empty[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n" S3RVER_NS
    "<Name>pgopipe</Name><Prefix>zzz/</Prefix><KeyCount>0</KeyCount><MaxKeys>1000</MaxKeys>"
    "<IsTruncated>false</IsTruncated></ListBucketResult>";

/* AWS's documented form: indented, AWS namespace, <Owner> inside Contents. */
static const char aws_page[] =
    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
    "<ListBucketResult xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\n"
    "  <Name>bucket</Name>\n"
    "  <Prefix/>\n"
    "  <KeyCount>2</KeyCount>\n"
    "  <MaxKeys>1000</MaxKeys>\n"
    "  <IsTruncated>false</IsTruncated>\n"
    "  <Contents>\n"
    "    <Key>demo/default.pgo</Key>\n"
    "    <LastModified>2009-10-12T17:50:30.000Z</LastModified>\n"
    "    <ETag>\"fba9dede5f27731c9771645a39863328\"</ETag>\n"
    "    <Size>434234</Size>\n"
    "    <Owner>\n"
    "      <ID>75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a</ID>\n"
    "      <DisplayName>mtd@amazon.com</DisplayName>\n"
    "      <Key>not-this-one</Key>\n"
    "    </Owner>\n"
    "    <StorageClass>STANDARD</StorageClass>\n"
    "  </Contents>\n"
    "  <Contents>\n"
    "    <Key>demo/staging/1730075435311000000-0a1b2c3d</Key>\n"
    "    <LastModified>2024-10-28T00:30:35.311Z</LastModified>\n"
    "    <ETag>\"d41d8cd98f00b204e9800998ecf8427e-2\"</ETag>\n"
    "    <Size>5368709120</Size>\n"
    "    <StorageClass>STANDARD</StorageClass>\n"
    "  </Contents>\n"
    "</ListBucketResult>\n";

/* The same shape with a prefixed namespace. */
static const char prefixed_page[] =
    "<s3:ListBucketResult xmlns:s3=\"http://s3.amazonaws.com/doc/2006-03-01/\">"
    "<s3:IsTruncated>true</s3:IsTruncated><s3:NextContinuationToken>t/2</s3:NextContinuationToken>"
    "<s3:Contents><s3:Key>k</s3:Key><s3:Size>7</s3:Size></s3:Contents></s3:ListBucketResult>";

static void test_s3rver_pages(void) {
  s3_list_page p;
  CHECK(s3_xml_parse_list(s3rver_page1, strlen(s3rver_page1), &p) == 0, "page 1 parses");
  CHECK(p.n == 2, "page 1 has %zu items", p.n);
  CHECK(p.truncated == 1, "page 1 is truncated");
  CHECK(p.next_token && !strcmp(p.next_token, TOKEN), "token %s",
        p.next_token ? p.next_token : "-");
  if (p.n == 2) {
    CHECK(!strcmp(p.items[0].key, "app/staging/<x>\"q\""), "entities decoded: %s", p.items[0].key);
    CHECK(!strcmp(p.items[1].key, "app/staging/a&b"), "&amp; decoded: %s", p.items[1].key);
    CHECK(p.items[0].info.size == 1, "size %llu", (unsigned long long)p.items[0].info.size);
    CHECK(p.items[0].info.mtime_ms == 1796491330000LL, "mtime %lld",
          (long long)p.items[0].info.mtime_ms);
    CHECK(!strcmp(p.items[0].info.etag, "\"9dd4e461268c8034f5c8564e155c67a6\""), "etag %s",
          p.items[0].info.etag);
  }
  s3_list_page_free(&p);
  CHECK(p.n == 0 && !p.items && !p.next_token, "freed page is empty");

  CHECK(s3_xml_parse_list(s3rver_page2, strlen(s3rver_page2), &p) == 0, "page 2 parses");
  CHECK(p.n == 2 && !p.truncated && !p.next_token,
        "last page: %zu items, truncated %d, token %s (ContinuationToken is not the next one)", p.n,
        p.truncated, p.next_token ? p.next_token : "-");
  if (p.n == 2) {
    CHECK(!strcmp(p.items[0].key, "app/staging/it's"), "&#x27; decoded: %s", p.items[0].key);
    CHECK(!strcmp(p.items[1].key, "app/staging/plain"), "%s", p.items[1].key);
  }
  s3_list_page_free(&p);

  CHECK(s3_xml_parse_list(s3rver_empty, strlen(s3rver_empty), &p) == 0, "empty listing parses");
  CHECK(p.n == 0 && !p.items && !p.truncated && !p.next_token, "empty listing");
  s3_list_page_free(&p);
}

static void test_aws_pages(void) {
  s3_list_page p;
  CHECK(s3_xml_parse_list(aws_page, strlen(aws_page), &p) == 0, "AWS page parses");
  CHECK(p.n == 2 && !p.truncated && !p.next_token, "%zu items", p.n);
  if (p.n == 2) {
    CHECK(!strcmp(p.items[0].key, "demo/default.pgo"), "Owner's children are not the item's: %s",
          p.items[0].key);
    CHECK(p.items[0].info.size == 434234, "size");
    CHECK(p.items[0].info.mtime_ms == 1255369830000LL, "mtime %lld",
          (long long)p.items[0].info.mtime_ms);
    CHECK(!strcmp(p.items[0].info.etag, "\"fba9dede5f27731c9771645a39863328\""), "%s",
          p.items[0].info.etag);
    CHECK(p.items[1].info.size == 5368709120ULL, "a 5 GiB size: %llu",
          (unsigned long long)p.items[1].info.size);
    CHECK(p.items[1].info.mtime_ms == 1730075435311LL, "mtime %lld",
          (long long)p.items[1].info.mtime_ms);
  }
  s3_list_page_free(&p);

  CHECK(s3_xml_parse_list(prefixed_page, strlen(prefixed_page), &p) == 0, "prefixed namespace");
  CHECK(p.n == 1 && p.truncated && p.next_token && !strcmp(p.next_token, "t/2"),
        "local names match: %zu items, token %s", p.n, p.next_token ? p.next_token : "-");
  if (p.n == 1) CHECK(!strcmp(p.items[0].key, "k") && p.items[0].info.size == 7, "item");
  s3_list_page_free(&p);
}

static void test_odd_items(void) {
  static const char doc[] =
      "<ListBucketResult><IsTruncated>false</IsTruncated>"
      "<Contents><Size>3</Size></Contents>" /* no Key: skipped */
      "<Contents><Key>a</Key><LastModified>yesterday</LastModified></Contents>"
      "<Contents><Key>b</Key><LastModified>2026-12-05T18:22:10+01:00</LastModified></Contents>"
      "</ListBucketResult>";
  s3_list_page p;
  CHECK(s3_xml_parse_list(doc, strlen(doc), &p) == 0, "parses");
  CHECK(p.n == 2, "an item without a Key is skipped: %zu items", p.n);
  if (p.n == 2) {
    CHECK(!strcmp(p.items[0].key, "a") && p.items[0].info.mtime_ms == 0,
          "LastModified not RFC 3339: mtime 0, got %lld", (long long)p.items[0].info.mtime_ms);
    CHECK(p.items[1].info.mtime_ms == 1796491330000LL, "numeric offset: %lld",
          (long long)p.items[1].info.mtime_ms);
  }
  s3_list_page_free(&p);

  /* A key of 3000 bytes does not fit the element buffer: skipped, not cut. */
  size_t big = 3000;
  char *doc2 = malloc(big + 200);
  int n = snprintf(doc2, 200, "<ListBucketResult><Contents><Key>");
  memset(doc2 + n, 'k', big);
  snprintf(doc2 + n + big, 200,
           "</Key></Contents><Contents><Key>short</Key></Contents></ListBucketResult>");
  CHECK(s3_xml_parse_list(doc2, strlen(doc2), &p) == 0, "long key document parses");
  CHECK(p.n == 1 && !strcmp(p.items[0].key, "short"), "the over-long key is skipped: %zu items",
        p.n);
  s3_list_page_free(&p);
  free(doc2);

  /* More items than the first allocation (64). */
  size_t cap = 200 * 64 + 64;
  char *doc3 = malloc(cap), *o = doc3;
  o += sprintf(o, "<ListBucketResult>");
  for (int i = 0; i < 200; i++)
    o += sprintf(o, "<Contents><Key>k%03d</Key></Contents>", i);
  sprintf(o, "</ListBucketResult>");
  CHECK(s3_xml_parse_list(doc3, strlen(doc3), &p) == 0 && p.n == 200, "200 items: %zu", p.n);
  if (p.n == 200) CHECK(!strcmp(p.items[199].key, "k199"), "order kept: %s", p.items[199].key);
  s3_list_page_free(&p);
  free(doc3);
}

static void test_malformed(void) {
  static const char *const bad[] = {
      "",
      "not xml at all",
      "<ListBucketResult><Contents><Key>a</Key></Contents>",              /* no end tag */
      "<ListBucketResult><Contents><Key>a</Contents></ListBucketResult>", /* mismatched */
      "<ListBucketResult><Key>a &bogus; b</Key></ListBucketResult>",      /* unknown entity */
      "<ListBucketResult></ListBucketResult><second/>",                   /* two roots */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    s3_list_page p;
    p.n = 99;
    CHECK(s3_xml_parse_list(bad[i], strlen(bad[i]), &p) == -1, "refused: \"%s\"", bad[i]);
    CHECK(p.n == 0 && !p.items && !p.next_token, "nothing handed out for \"%s\"", bad[i]);
  }
  /* A page cut short in the middle (the connection dropped). */
  s3_list_page p;
  CHECK(s3_xml_parse_list(s3rver_page1, strlen(s3rver_page1) / 2, &p) == -1, "half a page refused");
  CHECK(p.n == 0 && !p.items, "nothing of a half page is handed out");
  CHECK(s3_xml_parse_list(NULL, 0, &p) == -1, "no body");
}

static void test_errors(void) {
  char code[128], msg[512];
  static const char no_such_key[] =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchKey</Code><Message>The "
      "specified key does not exist.</Message><Key>app/nokey</Key></Error>";
  CHECK(s3_xml_parse_error(no_such_key, strlen(no_such_key), code, sizeof code, msg, sizeof msg) ==
            0,
        "NoSuchKey parses");
  CHECK(!strcmp(code, "NoSuchKey") && !strcmp(msg, "The specified key does not exist."), "%s: %s",
        code, msg);

  static const char no_bucket[] =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>NoSuchBucket</Code><Message>The "
      "specified bucket does not exist</Message><BucketName>nobucket</BucketName></Error>";
  s3_xml_parse_error(no_bucket, strlen(no_bucket), code, sizeof code, msg, sizeof msg);
  CHECK(!strcmp(code, "NoSuchBucket"), "%s", code);

  /* s3rver's (and AWS's) SignatureDoesNotMatch, with multi-line elements. */
  static const char bad_sig[] =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>SignatureDoesNotMatch</Code>"
      "<Message>The request signature we calculated does not match the signature you provided. "
      "Check your key and signing method.</Message><AWSAccessKeyId>pgopipe</AWSAccessKeyId>"
      "<StringToSign>AWS4-HMAC-SHA256\n20261205T172214Z\n20261205/us-east-1/s3/aws4_request\n"
      "ef250274c46fde413dfaf465e5dcc81564f07778efc9bf69589f560aafc802d3</StringToSign>"
      "<CanonicalRequest>GET\n/pgopipe/app/default.pgo\n\nhost:127.0.0.1:35567\n"
      "x-amz-content-sha256:e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855\n"
      "x-amz-date:20261205T172214Z\n\nhost;x-amz-content-sha256;x-amz-date\n"
      "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855</CanonicalRequest>"
      "<RequestId>258CE2E1B711E093</RequestId></Error>";
  CHECK(s3_xml_parse_error(bad_sig, strlen(bad_sig), code, sizeof code, msg, sizeof msg) == 0,
        "parses");
  CHECK(!strcmp(code, "SignatureDoesNotMatch") && !strncmp(msg, "The request signature we", 24),
        "%s: %s", code, msg);

  /* AWS's form, indented, with entities in the message. */
  static const char denied[] = "<Error>\n  <Code>AccessDenied</Code>\n  <Message>Access &amp; "
                               "&quot;denied&quot;</Message>\n  <RequestId>4442587FB7D0A2F9"
                               "</RequestId>\n</Error>\n";
  s3_xml_parse_error(denied, strlen(denied), code, sizeof code, msg, sizeof msg);
  CHECK(!strcmp(code, "AccessDenied") && !strcmp(msg, "Access & \"denied\""), "%s: %s", code, msg);

  /* Cut short after the Code: the Code is still reported. */
  static const char cut[] = "<Error><Code>SlowDown</Code><Message>Please reduce your re";
  CHECK(s3_xml_parse_error(cut, strlen(cut), code, sizeof code, msg, sizeof msg) == -1, "cut: -1");
  CHECK(!strcmp(code, "SlowDown") && msg[0] == 0, "cut body keeps its Code: \"%s\" \"%s\"", code,
        msg);

  /* Not an error document: nothing found. */
  static const char html[] = "<html><body>502 Bad Gateway</body></html>";
  CHECK(s3_xml_parse_error(html, strlen(html), code, sizeof code, msg, sizeof msg) == 0 &&
            !code[0] && !msg[0],
        "HTML body: no code");
  CHECK(s3_xml_parse_error("", 0, code, sizeof code, msg, sizeof msg) == -1 && !code[0],
        "empty body");
  CHECK(s3_xml_parse_error("Bad Gateway", 11, code, sizeof code, msg, sizeof msg) == -1 && !code[0],
        "plain text body");

  /* Small buffers truncate. */
  char c4[4], m6[6];
  s3_xml_parse_error(no_such_key, strlen(no_such_key), c4, sizeof c4, m6, sizeof m6);
  CHECK(!strcmp(c4, "NoS") && !strcmp(m6, "The s"), "truncated: %s %s", c4, m6);
}

int main(void) {
  test_s3rver_pages();
  test_aws_pages();
  test_odd_items();
  test_malformed();
  test_errors();
  return check_exit("s3_xml");
}
