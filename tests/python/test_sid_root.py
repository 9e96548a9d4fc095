"""mk/sid-root.sh takes the Debian mirror for the sid root from the host's
own apt configuration (issue 26, part 4): `bash mk/sid-root.sh mirror ETC`
fed sample /etc trees, in both of apt's formats; and `make` hands that
mirror to debootstrap (a stand-in that records its arguments).  Nothing
here makes a root or needs the network."""
import os
import shutil
import subprocess
import tempfile
import textwrap
import unittest

# No test here runs pywatch, in this process or another: refleak.py leaves
# them out.
IN_CHILDREN = True

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))

# Hosts of the reserved .example domain: none is a real archive.
MAIN = "http://main.example/debian"
SECURITY = "http://security.example/debian-security"
VENDOR = "https://vendor.example/apt"

DEBIAN_SOURCES = """\
Types: deb
# A comment, as Debian's own file has: http://comment.example/debian
URIs: %s
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: %s
Suites: bookworm-security
Components: main
""" % (MAIN, SECURITY)


def without_mirror():
    return {k: v for k, v in os.environ.items() if k != "WATCH_SID_MIRROR"}


class Mirror(unittest.TestCase):
    def setUp(self):
        self.etc = tempfile.mkdtemp(prefix="pywatch-etc-")
        self.addCleanup(shutil.rmtree, self.etc)
        os.makedirs(os.path.join(self.etc, "apt", "sources.list.d"))
        self.write("os-release", 'PRETTY_NAME="Debian GNU/Linux 12"\n'
                   'VERSION_CODENAME=bookworm\nID=debian\n')

    def write(self, name, text):
        with open(os.path.join(self.etc, name), "w") as f:
            f.write(textwrap.dedent(text))

    def mirror(self, env=None):
        """The mirror mk/sid-root.sh chooses, or its failure's message."""
        proc = subprocess.run(
            ["bash", "mk/sid-root.sh", "mirror", self.etc], cwd=ROOT,
            env=dict(without_mirror(), **(env or {})),
            capture_output=True, text=True, timeout=60)
        if proc.returncode:
            return proc.stderr
        return proc.stdout.strip()

    def test_deb822_sources(self):
        """Debian 12's own form: the release's stanza, not security's."""
        self.write("apt/sources.list.d/debian.sources", DEBIAN_SOURCES)
        self.assertEqual(self.mirror(), MAIN)

    def test_sources_list(self):
        self.write("apt/sources.list", """\
            # deb http://commented.example/debian bookworm main
            deb %s bookworm-security main
            deb-src %s bookworm main
            deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] %s bookworm main
            """ % (SECURITY, VENDOR, MAIN))
        self.assertEqual(self.mirror(), MAIN)

    def test_sources_list_comes_first(self):
        """As apt reads them: sources.list before sources.list.d/."""
        self.write("apt/sources.list", "deb %s bookworm main\n" % MAIN)
        self.write("apt/sources.list.d/debian.sources",
                   DEBIAN_SOURCES.replace(MAIN, "http://other.example/d"))
        self.assertEqual(self.mirror(), MAIN)

    def test_other_sources_are_passed_over(self):
        """A vendor's repository, a disabled stanza, deb-src, and files
        that apt does not read, even when their names sort first."""
        self.write("apt/sources.list.d/a-vendor.sources", """\
            Types: deb
            URIs: %s
            Suites: nodistro
            Components: main

            Types: deb-src
            URIs: http://src.example/debian
            Suites: bookworm
            Components: main

            Types: deb
            URIs: http://disabled.example/debian
            Suites: bookworm
            Components: main
            Enabled: no
            """ % VENDOR)
        self.write("apt/sources.list.d/b.list.disabled",
                   "deb http://off.example/debian bookworm main\n")
        self.write("apt/sources.list.d/debian.sources", DEBIAN_SOURCES)
        self.assertEqual(self.mirror(), MAIN)

    def test_a_sid_host(self):
        """sid's os-release names the next release; its sources say sid."""
        self.write("os-release", "VERSION_CODENAME=forky\nID=debian\n")
        self.write("apt/sources.list.d/debian.sources", """\
            Types: deb
            URIs: %s
            Suites: sid
            Components: main
            """ % MAIN)
        self.assertEqual(self.mirror(), MAIN)

    def test_no_debian_mirror_says_what_to_set(self):
        self.write("os-release", "VERSION_CODENAME=jammy\nID=ubuntu\n")
        self.write("apt/sources.list",
                   "deb http://ubuntu.example/ubuntu jammy main\n")
        message = self.mirror()
        self.assertIn("no Debian mirror among %s/apt's sources" % self.etc,
                      message)
        self.assertIn("WATCH_SID_MIRROR", message)

    def test_watch_sid_mirror_overrides(self):
        self.write("apt/sources.list.d/debian.sources", DEBIAN_SOURCES)
        self.assertEqual(self.mirror({"WATCH_SID_MIRROR": VENDOR}), VENDOR)


class Debootstrap(unittest.TestCase):
    """`make` for a root not there yet, with a debootstrap that prints its
    arguments and fails."""

    def setUp(self):
        if os.geteuid() != 0:
            self.skipTest("mk/sid-root.sh make wants root")

    def make(self, env):
        """make's exit status, its stderr, and debootstrap's arguments."""
        tmp = tempfile.mkdtemp(prefix="pywatch-sid-")
        self.addCleanup(shutil.rmtree, tmp)
        bin_dir = os.path.join(tmp, "bin")
        os.mkdir(bin_dir)
        with open(os.path.join(bin_dir, "debootstrap"), "w") as f:
            f.write('#!/bin/sh\necho "debootstrap $*"\nexit 1\n')
        os.chmod(os.path.join(bin_dir, "debootstrap"), 0o755)
        env = dict(without_mirror(), WATCH_SID_ROOT=os.path.join(tmp, "root"),
                   PATH=bin_dir + os.pathsep + os.environ["PATH"], **env)
        proc = subprocess.run(["bash", "mk/sid-root.sh", "make"], cwd=ROOT,
                              env=env, capture_output=True, text=True,
                              timeout=60)
        args = [l.split()[1:] for l in proc.stderr.splitlines()
                if l.startswith("debootstrap ")]
        return proc.returncode, proc.stderr, args

    def test_watch_sid_mirror_goes_to_debootstrap(self):
        status, err, args = self.make({"WATCH_SID_MIRROR": VENDOR})
        self.assertEqual(status, 1, err)
        self.assertEqual([a[-3::2] for a in args], [["sid", VENDOR]], err)

    def test_the_hosts_mirror_goes_to_debootstrap(self):
        """The one `mirror` names; where it names none, make fails as it
        does, before debootstrap."""
        host = subprocess.run(["bash", "mk/sid-root.sh", "mirror"], cwd=ROOT,
                              env=without_mirror(), capture_output=True,
                              text=True, timeout=60)
        status, err, args = self.make({})
        self.assertEqual(status, 1, err)
        if host.returncode:
            self.assertIn(host.stderr.strip(), err)
            self.assertEqual(args, [], err)
        else:
            self.assertEqual([a[-3::2] for a in args],
                             [["sid", host.stdout.strip()]], err)


if __name__ == "__main__":
    unittest.main()
