/* A consumer that includes watch.h alone: it must compile with no libuv
 * headers on the include path (mk/suites/header.sh compiles it, never
 * links or runs it). */
#include "watch.h"

int
main(void)
{
  /* The loop is a pointer to an incomplete type: a program without a loop
   * passes NULL. */
  int (*attach)(struct uv_loop_s *) = watch_attach_loop;

  return attach(NULL);
}
