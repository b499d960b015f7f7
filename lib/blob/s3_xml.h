/*
 * s3_xml.h — the XML S3 answers with, read with expat: ListObjectsV2 pages
 * and error bodies. Internal to lib/blob (s3.c); apart from the transport so
 * that tests feed it real answers without a server.
 *
 * Element names are matched by local name, so any namespace (AWS's
 * http://s3.amazonaws.com/doc/2006-03-01/, s3rver's, none) reads the same;
 * entities are decoded by expat (s3rver writes keys as "a&amp;b",
 * "it&#x27;s"). Only the elements named below are read; others are skipped.
 */
#ifndef PGOPIPE_BLOB_S3_XML_H
#define PGOPIPE_BLOB_S3_XML_H

#include <stddef.h>

#include "blob.h"

/* One <Contents> of a listing: Key, Size, LastModified, ETag. */
typedef struct s3_list_item {
  char *key;      /* malloc'd, entities decoded */
  blob_info info; /* mtime_ms 0 when LastModified is not RFC 3339 */
} s3_list_item;

/* One ListObjectsV2 page. */
typedef struct s3_list_page {
  s3_list_item *items; /* in document order; n of them */
  size_t n;
  int truncated;    /* <IsTruncated>true</IsTruncated> */
  char *next_token; /* <NextContinuationToken>, malloc'd; NULL when absent */
} s3_list_page;

/*
 * Parses a ListObjectsV2 response (<ListBucketResult>). Contents without a
 * Key are skipped, as are a Key or token longer than 2047 bytes. Returns 0
 * with *page filled (the caller frees it with s3_list_page_free), or -1
 * when the body is not well-formed XML or memory ran out (*page is then
 * empty).
 */
int s3_xml_parse_list(const char *body, size_t len, s3_list_page *page);

/* Frees what a page holds and empties it; an empty page is fine. */
void s3_list_page_free(s3_list_page *page);

/*
 * Reads an error body, <Error><Code>..</Code><Message>..</Message></Error>,
 * into code and message (truncated to their sizes; "" when absent). What
 * was read before a syntax error is kept (a body cut short still names its
 * Code). Returns 0, or -1 when the body is not well-formed XML.
 */
int s3_xml_parse_error(const char *body, size_t len, char *code, size_t codelen, char *message,
                       size_t messagelen);

#endif
