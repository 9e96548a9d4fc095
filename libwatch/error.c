#include "watch.h"

const char *
watch_strerror(int err)
{
  switch (err) {
#define XX(code, value, message) case WATCH_##code: return message;
    WATCH_ERRNO_MAP(XX)
#undef XX
  default: return "unknown error";
  }
}

const char *
watch_err_name(int err)
{
  switch (err) {
#define XX(code, value, message) case WATCH_##code: return "WATCH_" #code;
    WATCH_ERRNO_MAP(XX)
#undef XX
  default: return "WATCH_UNKNOWN";
  }
}

const char *
watch_event_name(watch_event_kind_t kind)
{
  switch (kind) {
#define XX(kind, value, name, meaning) case WATCH_EVENT_##kind: return name;
    WATCH_EVENT_MAP(XX)
#undef XX
  }
  return "unknown";
}
