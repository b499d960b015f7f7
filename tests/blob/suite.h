/*
 * suite.h — the backend-independent behaviour tests (suite.c).
 */
#ifndef PGOPIPE_TEST_BLOB_SUITE_H
#define PGOPIPE_TEST_BLOB_SUITE_H

#include "blob.h"
#include "../common/check.h"

/* Runs every check against an open store, using keys under pfx; `many`
 * keys are written, listed in order and deleted again (more than 1000 to
 * cross S3's page size). Failures are counted by CHECK. */
void suite_run(blob_store *s, const char *pfx, int many);

#endif
