"""The PEP 517 build backend of pyproject.toml: standard library only.

`pip wheel .` and `pip install .` call build_wheel() in the project root.
It builds libwatch and pywatch with the Makefile for the interpreter
running it (make PYTHON=sys.executable: pywatch links libwatch statically),
then zips build/X.Y/pywatch/ and the modules that [tool.wheel_backend]
names, with the metadata that pyproject.toml's [project] table describes.
The version is include/watch.h's.  build_editable() (PEP 660) builds the
same way, but its wheel holds a .pth pointing into the build.
build_sdist() packs the source tree, less what .gitignore names.
"""
import base64
import gzip
import hashlib
import io
import os
import re
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tomllib
import zipfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _project():
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def _version():
    with open(os.path.join(ROOT, "include", "watch.h")) as f:
        parts = dict(re.findall(
            r"^#define WATCH_VERSION_(MAJOR|MINOR|PATCH) (\d+)$", f.read(),
            re.M))
    return "%s.%s.%s" % (parts["MAJOR"], parts["MINOR"], parts["PATCH"])


def _tag():
    """cp313-cp313-linux_x86_64: this interpreter, its ABI, its platform."""
    ver = "cp%d%d" % sys.version_info[:2]
    abi = ver + ("d" if sysconfig.get_config_var("Py_DEBUG") else "")
    platform = re.sub(r"[-.]", "_", sysconfig.get_platform())
    return "%s-%s-%s" % (ver, abi, platform)


def _metadata(pyproject, version):
    """Core metadata 2.4: the license as an SPDX expression (PEP 639),
    which a license classifier may not accompany.  The sdist's PKG-INFO
    too, where 2.2 or later says that its fields are final."""
    project = pyproject["project"]
    classifiers = project.get("classifiers", ())
    if any(c.startswith("License ::") for c in classifiers):
        raise ValueError("pyproject.toml: a license classifier beside "
                         "license = %r (PEP 639 forbids it)"
                         % project["license"])
    lines = ["Metadata-Version: 2.4",
             "Name: " + project["name"],
             "Version: " + version,
             "Summary: " + project["description"],
             "License-Expression: " + project["license"],
             "License-File: LICENSE",
             "Requires-Python: " + project["requires-python"]]
    lines += ["Classifier: " + c for c in classifiers]
    external = pyproject.get("tool", {}).get("wheel_backend", {})
    lines += ["Requires-External: " + r
              for r in external.get("requires-external", ())]
    lines.append("Description-Content-Type: text/markdown")
    with open(os.path.join(ROOT, project["readme"])) as f:
        return "\n".join(lines) + "\n\n" + f.read()


def _entry_points(project):
    groups = dict(project.get("entry-points", {}))
    if "scripts" in project:
        groups["console_scripts"] = project["scripts"]
    return "".join("[%s]\n%s\n" % (group, "".join(
        "%s = %s\n" % item for item in sorted(entries.items())))
        for group, entries in sorted(groups.items()))


def _build():
    """Builds for this interpreter; the directory holding the package."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL")}
    try:
        subprocess.run(["make", "-C", ROOT, "--no-print-directory",
                        "PYTHON=" + sys.executable, "all"],
                       check=True, env=env, stdout=sys.stderr)
    except FileNotFoundError:
        raise RuntimeError("building pywatch needs make and a C compiler, "
                           "and libuv's headers (Debian: apt-get install "
                           "make gcc pkg-config libuv1-dev)") from None
    # As make names it (mk/pyinfo.py): a debug build's is build/3.14d.
    return os.path.join(ROOT, "build", "%d.%d%s" % (sys.version_info[:2]
                                                    + (sys.abiflags,)))


def _record_line(arcname, data):
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest())
    return "%s,sha256=%s,%d\n" % (arcname, digest.rstrip(b"=").decode(),
                                  len(data))


def _wheel(wheel_directory, files):
    """Zips files, (name in the wheel, bytes) pairs, with the dist-info
    that pyproject.toml describes, as a wheel for this interpreter; its
    file name."""
    pyproject = _project()
    project = pyproject["project"]
    version = _version()
    name = project["name"]
    dist_info = "%s-%s.dist-info" % (name, version)
    files = list(files)
    # PEP 639: License-File's path, under the dist-info's licenses/.
    with open(os.path.join(ROOT, "LICENSE"), "rb") as f:
        files.append((dist_info + "/licenses/LICENSE", f.read()))
    files.append((dist_info + "/METADATA",
                  _metadata(pyproject, version).encode()))
    files.append((dist_info + "/WHEEL", (
        "Wheel-Version: 1.0\nGenerator: pywatch mk/wheel_backend.py\n"
        "Root-Is-Purelib: false\nTag: %s\n" % _tag()).encode()))
    entry_points = _entry_points(project)
    if entry_points:
        files.append((dist_info + "/entry_points.txt", entry_points.encode()))
    record = dist_info + "/RECORD"
    record_text = "".join(_record_line(n, d) for n, d in files)
    files.append((record, (record_text + record + ",,\n").encode()))

    wheel = "%s-%s-%s.whl" % (name, version, _tag())
    with zipfile.ZipFile(os.path.join(wheel_directory, wheel), "w",
                         zipfile.ZIP_DEFLATED) as zf:
        for arcname, data in files:
            info = zipfile.ZipInfo(arcname, date_time=(1980, 1, 1, 0, 0, 0))
            mode = 0o755 if arcname.endswith(".so") else 0o644
            info.external_attr = (0o100000 | mode) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            zf.writestr(info, data)
    return wheel


def _contents(build):
    """What the wheel installs, as (name in the wheel, path) pairs: the
    package that make built, and the modules [tool.wheel_backend] names."""
    package = os.path.join(build, "pywatch")
    extension = "_pywatch" + sysconfig.get_config_var("EXT_SUFFIX")
    contents = [("pywatch/" + entry, os.path.join(package, entry))
                for entry in sorted(os.listdir(package))
                if entry.endswith(".py") or entry == extension]
    modules = _project().get("tool", {}).get("wheel_backend", {}).get(
        "modules", ())
    return contents + [(os.path.basename(m), os.path.join(ROOT, m))
                       for m in modules]


def build_wheel(wheel_directory, config_settings=None,
                metadata_directory=None):
    files = []
    for arcname, path in _contents(_build()):
        with open(path, "rb") as f:
            files.append((arcname, f.read()))
    return _wheel(wheel_directory, files)


def build_editable(wheel_directory, config_settings=None,
                   metadata_directory=None):
    """PEP 660: a wheel holding only a .pth that puts build/X.Y/editable/
    on sys.path.  That directory is what build_wheel() would install, as
    symlinks: the Python files to their sources (pywatch/python/*.py, so an
    edit shows at once), the extension to the one make builds (so `make`
    updates it).  A module added to the package needs this run again."""
    build = _build()
    editable = os.path.join(build, "editable")
    shutil.rmtree(editable, ignore_errors=True)
    for arcname, path in _contents(build):
        if arcname.startswith("pywatch/") and arcname.endswith(".py"):
            path = os.path.join(ROOT, "pywatch", "python",
                                os.path.basename(arcname))
        link = os.path.join(editable, arcname)
        os.makedirs(os.path.dirname(link), exist_ok=True)
        os.symlink(path, link)
    return _wheel(wheel_directory,
                  [("pywatch-editable.pth", (editable + "\n").encode())])


def _ignored():
    """.gitignore's names (directories, one per line), and git's own."""
    with open(os.path.join(ROOT, ".gitignore")) as f:
        names = {line.strip().strip("/") for line in f}
    return (names - {""}) | {".git"}


def build_sdist(sdist_directory, config_settings=None):
    """The same bytes from the same tree, whoever runs it, whenever: no
    owner, one time (SOURCE_DATE_EPOCH's, else 0) in the members and in the
    gzip header, modes from the executable bit alone, and names in sorted
    order (tarfile.add() sorts what it walks)."""
    pyproject = _project()
    version = _version()
    top = "%s-%s" % (pyproject["project"]["name"], version)
    ignored = _ignored()
    mtime = int(os.environ.get("SOURCE_DATE_EPOCH", 0))

    def keep(info):
        parts = info.name.split("/")[1:]
        if any(part in ignored for part in parts):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = mtime
        info.mode = 0o755 if info.isdir() or info.mode & 0o111 else 0o644
        return info

    sdist = top + ".tar.gz"
    pkg_info = _metadata(pyproject, version).encode()
    with open(os.path.join(sdist_directory, sdist), "wb") as f, \
            gzip.GzipFile(filename="", mode="wb", fileobj=f,
                          mtime=mtime) as gz, \
            tarfile.open(fileobj=gz, mode="w") as tf:
        tf.add(ROOT, arcname=top, filter=keep)
        info = keep(tarfile.TarInfo(top + "/PKG-INFO"))
        info.size = len(pkg_info)
        tf.addfile(info, io.BytesIO(pkg_info))
    return sdist
