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
  case WATCH_EVENT_ADDED: return "added";
  case WATCH_EVENT_MODIFIED: return "modified";
  case WATCH_EVENT_DELETED: return "deleted";
  case WATCH_EVENT_CLEARED: return "cleared";
  case WATCH_EVENT_CLONED: return "cloned";
  case WATCH_EVENT_DEALLOCATED: return "deallocated";
  case WATCH_EVENT_UNSTABLE: return "unstable";
  case WATCH_EVENT_MANUAL: return "manual";
  case WATCH_EVENT_FINALIZED: return "finalized";
  case WATCH_EVENT_CODE: return "code";
  case WATCH_EVENT_DEFAULTS: return "defaults";
  case WATCH_EVENT_KWDEFAULTS: return "kwdefaults";
  case WATCH_EVENT_TYPE: return "type";
  }
  return "unknown";
}
