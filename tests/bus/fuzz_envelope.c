/*
 * fuzz_envelope — libFuzzer target for bus_event_decode, the function every
 * consumer runs on whatever bytes are on the topic. Besides "no crash, no
 * sanitizer report", it checks a property: an accepted envelope encodes
 * (for the known types) and decodes back to the same event.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bus.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  bus_event ev, back;
  char err[256];
  if (bus_event_decode(data, size, &ev, err, sizeof err) != 0) {
    if (!err[0])
      abort(); /* a refusal must say why */
    return 0;
  }
  char *json = NULL;
  size_t len = 0;
  if (bus_event_encode(&ev, &json, &len, err, sizeof err) != 0) {
    /* Unknown types may carry fields that are not valid to re-encode
     * (e.g. an app name outside the rule); known types must encode. */
    if (!strcmp(ev.type, BUS_TYPE_UPLOADED) || !strcmp(ev.type, BUS_TYPE_MERGED) ||
        !strcmp(ev.type, BUS_TYPE_DELETED))
      abort();
    return 0;
  }
  if (bus_event_decode(json, len, &back, err, sizeof err) != 0 || memcmp(&ev, &back, sizeof ev) != 0)
    abort();
  free(json);
  return 0;
}
