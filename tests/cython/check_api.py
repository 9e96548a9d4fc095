"""watch.pxd against watch.h: every name watch.h declares is declared in
watch.pxd (read as text here), and api.pyx, built over watch.pxd by
examples/cython/run.sh, compiled (its types match) and runs."""
import os
import re

import api

top = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..")
with open(os.path.join(top, "include", "watch.h")) as f:
    header = f.read()
with open(os.path.join(top, "include", "watch.pxd")) as f:
    pxd = re.sub(r"#.*", "", f.read())

# The X-macro tables are C only: their entries are the enum constants.
names = set(re.findall(r"^#define (WATCH_\w+)", header, re.M)) - {
    "WATCH_H", "WATCH_EXTERN", "WATCH_ERRNO_MAP", "WATCH_EVENT_MAP"}
names |= {"WATCH_" + n for n in re.findall(
    r"^  XX\((\w+), -\d+,", header, re.M)}
names |= {"WATCH_EVENT_" + n for n in re.findall(
    r"^  XX\((\w+), \d+,", header, re.M)}
names |= set(re.findall(r"^WATCH_EXTERN [^(]*?\b(watch_\w+)\(", header,
                        re.M | re.S))
names |= set(re.findall(r"^static inline \w+ \*?\n(watch_\w+)\(", header,
                        re.M))
names |= set(re.findall(r"\b(watch_\w+_t)\b", header))
names |= set(re.findall(r"typedef \w+ \(\*(watch_\w+)\)", header))
missing = sorted(n for n in names if not re.search(r"\b%s\b" % n, pxd))
assert not missing, "watch.pxd lacks: %s" % ", ".join(missing)
print("watch.pxd declares all %d names of watch.h" % len(names))

(major, minor, patch), hex_, library = api.versions()
assert hex_ == (major << 16 | minor << 8 | patch) == library, api.versions()
errors = api.errors()
assert errors == {int(code): "WATCH_" + name for name, code in re.findall(
    r"^  XX\((\w+), (-\d+),", header, re.M)}, errors
events = api.events()
assert events == {int(kind): name for kind, name in re.findall(
    r'^  XX\(\w+, (\d+), "(\w+)"', header, re.M)}, events
assert api.limit() == int(re.search(
    r"#define WATCH_DEFAULT_UNSTABLE_LIMIT (\d+)", header).group(1))
d = {"k": 1}
assert api.callbacks(d, "k", 2) == ([2], [2]), "MODIFIED to each"
print("watch.pxd: api.pyx compiled against watch.h and ran: ok")
