/* The release this library was built as (watch.h, WATCH_VERSION_*). */
#include "watch.h"

unsigned int
watch_library_version(void)
{
  return WATCH_VERSION_HEX;
}
