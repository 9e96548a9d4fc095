"""pywatch as a package (issue 16): its version is watch.h's; an import that
cannot load the extension says why; README's audit command works from the
repo root as README writes it.  The build backend's hooks, called as pip
calls them (issue 26): the wheel's and the sdist's metadata, and an sdist
that is the same bytes from run to run; an editable install (PEP 660).
make install into a prefix with a space."""
import email.parser
import gzip
import io
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import tempfile
import unittest
import zipfile

import pywatch

# Every test here runs pywatch in child processes: refleak.py leaves them
# out.
IN_CHILDREN = True

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
PACKAGE = os.path.dirname(os.path.abspath(pywatch.__file__))
THIS = "%d.%d" % sys.version_info[:2] + sys.abiflags


def header_version():
    with open(os.path.join(ROOT, "include", "watch.h")) as f:
        return ".".join(re.findall(
            r"^#define WATCH_VERSION_(?:MAJOR|MINOR|PATCH) (\d+)$", f.read(),
            re.M))


def import_error(package_dir, env=None):
    """The last stderr line of `import pywatch` from package_dir's parent."""
    proc = subprocess.run(
        [sys.executable, "-c", "import pywatch"], cwd=tempfile.gettempdir(),
        env=dict(os.environ, PYTHONPATH=os.path.dirname(package_dir),
                 **(env or {})),
        capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0, proc.stdout
    return proc.stderr.strip().splitlines()[-1]


class Version(unittest.TestCase):
    def test_version_is_the_headers(self):
        self.assertRegex(pywatch.__version__, r"^\d+\.\d+\.\d+$")
        self.assertEqual(pywatch.__version__, header_version())

    def test_per_dict_versions_are_named_for_dicts(self):
        self.assertFalse(hasattr(pywatch, "version"))
        self.assertIsInstance(pywatch.dict_version({}), int)


class ImportErrors(unittest.TestCase):
    """A copy of the built package, broken the way a user's can be."""

    def setUp(self):
        tmp = tempfile.mkdtemp(prefix="pywatch-import-")
        self.addCleanup(shutil.rmtree, tmp)
        self.copy = os.path.join(tmp, "pywatch")
        shutil.copytree(PACKAGE, self.copy,
                        ignore=shutil.ignore_patterns("__pycache__"))
        self.tmp = tmp
        self.extension = os.path.join(
            self.copy, "_pywatch" + sysconfig.get_config_var("EXT_SUFFIX"))

    def test_a_build_for_another_interpreter_says_which(self):
        os.rename(self.extension, os.path.join(
            self.copy, "_pywatch.cpython-399-x86_64-linux-gnu.so"))
        line = import_error(self.copy)
        self.assertIn("built for CPython 3.99, not for this CPython %s"
                      % THIS, line)
        self.assertIn("make PYTHON=%s" % sys.executable, line)
        self.assertIn("import it from build/%s" % THIS, line)

    def test_a_debug_build_is_named_by_its_abi(self):
        os.rename(self.extension, os.path.join(
            self.copy, "_pywatch.cpython-399d-x86_64-linux-gnu.so"))
        self.assertIn("built for CPython 3.99d,", import_error(self.copy))

    def test_no_extension_at_all_says_to_build_it(self):
        os.remove(self.extension)
        self.assertIn("has no compiled extension: build it with make",
                      import_error(self.copy))

    def test_missing_libuv_says_which_package(self):
        """A libuv.so.1 that cannot load stands for one that is missing."""
        fake = os.path.join(self.tmp, "lib")
        os.mkdir(fake)
        open(os.path.join(fake, "libuv.so.1"), "w").close()
        line = import_error(self.copy, {"LD_LIBRARY_PATH": fake})
        self.assertIn("pywatch needs the libuv shared library", line)
        self.assertIn("apt-get install libuv1", line)


def clean_env():
    """The environment of a user's shell: no make of ours around, no build
    chosen."""
    return {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "PYTHON",
                         "PYTHONPATH")}


def hook(name, *args, env=None):
    """The result of mk/wheel_backend.py's hook `name`, called as pip calls
    it: in a python of its own, in the source tree, the backend's directory
    first on sys.path."""
    proc = subprocess.run(
        [sys.executable, "-c", "import json, sys, wheel_backend; "
         "print(json.dumps(getattr(wheel_backend, sys.argv[1])"
         "(*sys.argv[2:])))", name] + list(args),
        cwd=ROOT, env=dict(clean_env(), PYTHONPATH=os.path.join(ROOT, "mk"),
                           **(env or {})),
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return json.loads(proc.stdout.splitlines()[-1])


def metadata(text):
    return email.parser.Parser().parsestr(text)


class BackendMetadata(unittest.TestCase):
    def setUp(self):
        self.out = tempfile.mkdtemp(prefix="pywatch-backend-")
        self.addCleanup(shutil.rmtree, self.out)

    def check_core_metadata(self, text):
        meta = metadata(text)
        self.assertEqual(meta["Metadata-Version"], "2.4")
        self.assertEqual(meta["License-Expression"], "MIT")
        self.assertIsNone(meta["License"])
        self.assertEqual(meta.get_all("License-File"), ["LICENSE"])
        self.assertEqual([c for c in meta.get_all("Classifier")
                          if c.startswith("License")], [])
        return meta

    def test_wheel_metadata_is_2_4_with_an_spdx_license(self):
        wheel = hook("build_wheel", self.out)
        info = "pywatch-%s.dist-info/" % header_version()
        with zipfile.ZipFile(os.path.join(self.out, wheel)) as zf:
            self.check_core_metadata(zf.read(info + "METADATA").decode())
            with open(os.path.join(ROOT, "LICENSE"), "rb") as f:
                self.assertEqual(zf.read(info + "licenses/LICENSE"),
                                 f.read())

    def test_sdist_pkg_info_is_2_2_or_later(self):
        sdist = hook("build_sdist", self.out)
        top = "pywatch-%s/" % header_version()
        with tarfile.open(os.path.join(self.out, sdist)) as tf:
            meta = self.check_core_metadata(
                tf.extractfile(top + "PKG-INFO").read().decode())
            self.assertIn(top + "LICENSE", tf.getnames())
        self.assertEqual(meta["Version"], header_version())

    def test_two_sdists_are_the_same_bytes(self):
        epoch = 1700000000
        env = {"SOURCE_DATE_EPOCH": str(epoch)}
        data = []
        for run in ("a", "b"):
            os.mkdir(os.path.join(self.out, run))
            sdist = hook("build_sdist", os.path.join(self.out, run), env=env)
            with open(os.path.join(self.out, run, sdist), "rb") as f:
                data.append(f.read())
        self.assertEqual(data[0], data[1])
        # The gzip header's time (RFC 1952: bytes 4 to 8, little-endian),
        # else two runs a second apart differ.
        self.assertEqual(int.from_bytes(data[0][4:8], "little"), epoch)
        with tarfile.open(fileobj=gzip.GzipFile(
                fileobj=io.BytesIO(data[0]))) as tf:
            members = tf.getmembers()
        self.assertEqual({(m.mtime, m.uid, m.gid, m.uname, m.gname)
                          for m in members}, {(epoch, 0, 0, "", "")})
        self.assertLessEqual({m.mode for m in members}, {0o644, 0o755})


class Editable(unittest.TestCase):
    def test_build_editable_points_at_the_sources(self):
        """The editable wheel is a .pth and the dist-info; through it,
        pywatch's Python files are the tree's own and its extension is the
        build's, and the pytest11 entry point's module is found."""
        out = tempfile.mkdtemp(prefix="pywatch-editable-")
        self.addCleanup(shutil.rmtree, out)
        wheel = hook("build_editable", out)
        site = os.path.join(out, "site")
        with zipfile.ZipFile(os.path.join(out, wheel)) as zf:
            info = "pywatch-%s.dist-info/" % header_version()
            self.assertEqual(
                sorted(n for n in zf.namelist() if not n.startswith(info)),
                ["pywatch-editable.pth"])
            self.assertIn(info + "entry_points.txt", zf.namelist())
            zf.extractall(site)
        # As site-packages would: site.addsitedir() reads the .pth.
        proc = subprocess.run(
            [sys.executable, "-c", """if 1:
            import importlib.util, os, site, sys, types
            site.addsitedir(sys.argv[1])
            import pywatch
            print(os.path.realpath(pywatch.__file__))
            print(os.path.realpath(pywatch._pywatch.__file__))
            print(os.path.realpath(
                importlib.util.find_spec("_pywatch_pytest").origin))
            m = types.ModuleType("m")
            pywatch.freeze(m)
            try:
                m.x = 1
            except pywatch.FrozenError:
                print("frozen")
            """, site], cwd=out, env=clean_env(), capture_output=True,
            text=True, timeout=60)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        ext = "_pywatch" + sysconfig.get_config_var("EXT_SUFFIX")
        self.assertEqual(proc.stdout.splitlines(), [
            os.path.join(ROOT, "pywatch", "python", "__init__.py"),
            os.path.join(ROOT, "build", THIS, "pywatch", ext),
            os.path.join(ROOT, "pywatch", "_pywatch_pytest.py"),
            "frozen"])


class Install(unittest.TestCase):
    def test_a_prefix_with_a_space(self):
        """Everything lands under the prefix, nothing in the source tree,
        and pkg-config's flags name the prefix as one word each."""
        tmp = tempfile.mkdtemp(prefix="pywatch-install-")
        self.addCleanup(shutil.rmtree, tmp)
        prefix = os.path.join(tmp, "x y")
        before = sorted(os.listdir(ROOT))
        proc = subprocess.run(
            ["make", "-s", "--no-print-directory", "PYTHON=" + sys.executable,
             "PREFIX=" + prefix, "install"], cwd=ROOT, env=clean_env(),
            capture_output=True, text=True, timeout=600)
        self.assertEqual(sorted(os.listdir(ROOT)), before)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertTrue(os.path.isfile(os.path.join(prefix, "include",
                                                    "watch.h")))
        site = sysconfig.get_path("platlib", "posix_prefix",
                                  {"base": prefix, "platbase": prefix})
        found = subprocess.run(
            [sys.executable, "-c", "import pywatch; print(pywatch.__file__)"],
            cwd=tmp, env=dict(clean_env(), PYTHONPATH=site),
            capture_output=True, text=True, timeout=60)
        self.assertEqual(found.stdout.strip(),
                         os.path.join(site, "pywatch", "__init__.py"),
                         found.stderr)
        if shutil.which("pkg-config") is None:
            return
        flags = subprocess.run(
            ["pkg-config", "--cflags", "--libs", "libwatch-" + THIS],
            env=dict(clean_env(), PKG_CONFIG_PATH=os.path.join(
                prefix, "lib", "pkgconfig")),
            capture_output=True, text=True, timeout=60)
        self.assertEqual(flags.returncode, 0, flags.stderr)
        words = shlex.split(flags.stdout)
        self.assertIn("-I" + os.path.join(prefix, "include"), words)
        self.assertIn("-L" + os.path.join(prefix, "lib"), words)


class ReadmeCommands(unittest.TestCase):
    def test_make_demo_as_written(self):
        """`make demo` in the repo root, on the interpreter it picks."""
        picked = subprocess.run(["bash", "mk/pythons.sh"], cwd=ROOT,
                                env=clean_env(), capture_output=True,
                                text=True, timeout=120).stdout.split()
        if not picked or (os.path.realpath(picked[0])
                          != os.path.realpath(sys.executable)):
            self.skipTest("make demo runs on %s" % picked[:1])
        proc = subprocess.run(["make", "demo"], cwd=ROOT, env=clean_env(),
                              capture_output=True, text=True, timeout=600)
        self.assertEqual(proc.returncode, 0, proc.stdout + proc.stderr)
        self.assertIn("constcache demo: ok", proc.stdout)

    def test_the_audit_command_works_from_the_repo_root(self):
        """README's line, for this interpreter, run where make demo leaves
        you: the source tree's pywatch/ must not shadow the build."""
        with open(os.path.join(ROOT, "README.md")) as f:
            (line,) = re.findall(
                r"^PYTHONPATH=build/3\.13 python3\.13 -m pywatch audit "
                r"(\S+)$", f.read(), re.M)
        build = os.path.dirname(PACKAGE)
        proc = subprocess.run(
            [sys.executable, "-m", "pywatch", "audit", line], cwd=ROOT,
            env=dict(os.environ, PYTHONPATH=os.path.relpath(build, ROOT),
                     PYTHONDONTWRITEBYTECODE="1"),
            capture_output=True, text=True, timeout=300)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("pywatch audit:", proc.stderr)


if __name__ == "__main__":
    unittest.main()
