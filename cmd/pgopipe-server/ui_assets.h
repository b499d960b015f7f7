/*
 * ui_assets.h — the web UI's files (cmd/pgopipe-server/ui/), compiled into
 * pgopipe-server at build time: cmake/embed-assets.cmake turns each file
 * into a byte array of the generated ui_assets.c, with its media type and an
 * ETag made from its SHA-256. No build step of their own: what is in ui/ is
 * what the browser gets.
 */
#ifndef PGOPIPE_UI_ASSETS_H
#define PGOPIPE_UI_ASSETS_H

#include <stddef.h>

typedef struct ui_asset {
  const char *name;         /* file name in ui/: "app.js" */
  const char *content_type; /* "text/javascript; charset=utf-8" */
  const unsigned char *data;
  size_t len;
  const char *etag;         /* quoted: "\"<24 hex of the SHA-256>\"" */
} ui_asset;

/* Every file, in the order the build lists them. */
extern const ui_asset ui_assets[];
extern const size_t ui_asset_count;

#endif
