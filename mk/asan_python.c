/* The interpreter of make asan's Python side (mk/sanitize.mk): CPython's
 * own main, as in its Programs/python.c, linked with the sanitizers.  The
 * ASan runtime must come first in a process that loads the sanitized
 * pywatch; linked in, it does, and nothing is preloaded into the shell
 * tools the tests run, which under LeakSanitizer would exit 1 on their own
 * leaks.  sys.executable is this program, so the child interpreters the
 * tests start run it too. */
#include <Python.h>

int
main(int argc, char **argv)
{
  return Py_BytesMain(argc, argv);
}
