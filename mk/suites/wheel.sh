#!/usr/bin/env bash
# pip, as README tells a user to run it, offline: `pip install --no-index .`
# into a fresh venv, `pip wheel --no-index .`, and the wheel checked (its
# name, METADATA, RECORD, entry points); then pywatch imported and used from
# another directory, in that venv, and its pytest plugin found through the
# installed entry point.  Then the backend's sdist: its files, and a wheel
# built from it alone.  Last, `pip install -e .` (PEP 660).  Ends with
# "N passed, N failed".
#
# Usage: bash mk/suites/wheel.sh PYTHON BUILD
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
py=${1:?usage: $0 PYTHON BUILD}

passed=0
failed=0
check() { # check WHAT CMD...
  local what=$1
  shift
  if "$@"; then
    passed=$((passed + 1))
    echo "ok: $what"
  else
    failed=$((failed + 1))
    echo "FAILED: $what"
  fi
}

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
venv=$work/venv
check "a fresh venv" "$py" -m venv "$venv"
vpy=$venv/bin/python
check "pip install --no-index ." "$vpy" -m pip install -q --no-index \
  --disable-pip-version-check .
check "pip wheel --no-index ." "$vpy" -m pip wheel -q --no-index --no-deps \
  --disable-pip-version-check -w "$work/dist" .

check "the wheel: its name, METADATA, RECORD and files" "$vpy" - \
  "$work/dist" include/watch.h <<'EOF'
import base64, hashlib, os, re, sys, sysconfig, zipfile
dist, header = sys.argv[1:]
with open(header) as f:
    version = ".".join(re.findall(
        r"^#define WATCH_VERSION_(?:MAJOR|MINOR|PATCH) (\d+)$", f.read(), re.M))
(wheel,) = os.listdir(dist)
tag = "cp%d%d" % sys.version_info[:2]
abi = tag + ("d" if sysconfig.get_config_var("Py_DEBUG") else "")
assert wheel == "pywatch-%s-%s-%s-linux_x86_64.whl" % (version, tag, abi), wheel
with zipfile.ZipFile(os.path.join(dist, wheel)) as zf:
    names = set(zf.namelist())
    info = "pywatch-%s.dist-info/" % version
    ext = "pywatch/_pywatch" + sysconfig.get_config_var("EXT_SUFFIX")
    for name in ("pywatch/__init__.py", "pywatch/__main__.py", ext,
                 "_pywatch_pytest.py",
                 info + "METADATA", info + "WHEEL", info + "RECORD",
                 info + "licenses/LICENSE"):
        assert name in names, (name, sorted(names))
    assert not [n for n in names if n.endswith((".d", ".o", ".pyc"))], names
    meta = zf.read(info + "METADATA").decode()
    for line in ("Metadata-Version: 2.4", "Name: pywatch",
                 "Version: " + version, "License-Expression: MIT",
                 "Requires-Python: >=3.12",
                 "Requires-External: libuv (>=1.0)"):
        assert line in meta.splitlines(), (line, meta[:800])
    assert "Root-Is-Purelib: false" in zf.read(info + "WHEEL").decode()
    assert zf.read(info + "entry_points.txt").decode() == (
        "[pytest11]\npywatch.pytest_plugin = _pywatch_pytest\n\n")
    record = {}
    for line in zf.read(info + "RECORD").decode().splitlines():
        name, digest, size = line.rsplit(",", 2)
        record[name] = (digest, size)
    assert set(record) == names, names ^ set(record)
    for name, (digest, size) in record.items():
        if name == info + "RECORD":
            continue
        data = zf.read(name)
        want = base64.urlsafe_b64encode(
            hashlib.sha256(data).digest()).rstrip(b"=").decode()
        assert (digest, size) == ("sha256=" + want, str(len(data))), name
EOF

check "pywatch from the venv, used in another directory" sh -c "
  cd '$work' && '$vpy' - '$venv'" <<'EOF'
import importlib.metadata, importlib.util, sys, types
import pywatch
assert pywatch.__file__.startswith(sys.argv[1]), pywatch.__file__
assert pywatch.__version__ == importlib.metadata.version("pywatch")
(plugin,) = importlib.metadata.entry_points(group="pytest11",
                                            name="pywatch.pytest_plugin")
# Found, not loaded: the venv has no pytest.
assert importlib.util.find_spec(plugin.value).origin.startswith(sys.argv[1])

m = types.ModuleType("m")
m.x = 1
events = []
keep = pywatch.watch(m, "x", lambda dep, event: events.append(event))
m.x = 2
pywatch.flush()
assert len(events) == 1, events
pywatch.freeze(m)
try:
    m.x = 3
except pywatch.FrozenError:
    pass
else:
    raise AssertionError("a frozen module was written")
EOF

check "the sdist: PKG-INFO and the sources, no build output" "$vpy" - \
  "$work/sdist" <<'EOF'
import os, sys, tarfile
sys.path.insert(0, "mk")
import wheel_backend
out = sys.argv[1]
os.mkdir(out)
name = wheel_backend.build_sdist(out)
with tarfile.open(os.path.join(out, name)) as tf:
    names = {n.split("/", 1)[1] for n in tf.getnames() if "/" in n}
for want in ("PKG-INFO", "pyproject.toml", "Makefile", "LICENSE",
             "include/watch.h", "libwatch/dict.c", "pywatch/module.c",
             "pywatch/python/__init__.py", "mk/wheel_backend.py"):
    assert want in names, want
assert not [n for n in names
            if n.split("/")[0] in ("build", ".git", ".scratch")
            or "__pycache__" in n], names
EOF
check "a wheel from the sdist alone" sh -c "cd '$work' &&
  '$vpy' -m pip wheel -q --no-index --no-deps --disable-pip-version-check \
    -w '$work/from-sdist' sdist/*.tar.gz && ls from-sdist/*.whl >/dev/null"

# PEP 660: the editable install runs pywatch's Python files from the tree.
editable=$work/editable
check "pip install --no-index -e . into a fresh venv" sh -c "
  '$py' -m venv '$editable' && '$editable/bin/python' -m pip install -q \
    --no-index --disable-pip-version-check -e ."
check "the editable pywatch is the tree's, used in another directory" sh -c "
  cd '$work' && '$editable/bin/python' -c '
import os, sys, pywatch
assert os.path.realpath(pywatch.__file__) == sys.argv[1], pywatch.__file__
pywatch.freeze(pywatch)
' '$PWD/pywatch/python/__init__.py'"

echo "$passed passed, $failed failed"
((failed == 0))
