#!/usr/bin/env bash
# CPython 3.14 and 3.15 for `make test`, each as its release build and its
# debug build (python3.Xd: Py_DEBUG, CPython's assertions and
# sys.gettotalrefcount()): Debian sid packages them, but their binaries need
# a newer glibc than this machine's Debian, so they live in a Debian sid root
# made with debootstrap, outside the source tree, made once and reused.
#
#   bash mk/sid-root.sh make       make the root if it is not there (about 4
#                                  minutes); prints nothing when it is
#   bash mk/sid-root.sh run CMD... run CMD in the root, in the directory of
#                                  the same path: the source tree is bound
#                                  there, so builds land in its build/
#   bash mk/sid-root.sh pythons    the root's interpreters, one per line:
#                                  the release builds, then the debug ones
#   bash mk/sid-root.sh mirror [ETC]
#                                  the Debian mirror debootstrap would use,
#                                  read from ETC's apt sources (default
#                                  /etc: tests give sample ones)
#
# WATCH_SID_ROOT names the root (default /var/cache/libwatch/sid-root).
# The root comes from the mirror this machine's apt uses (see host_mirror),
# or from WATCH_SID_MIRROR when set.
# When the root cannot be made (not root, no debootstrap, no network), `make`
# says why in one line and exits 1; the caller decides what that means.
set -euo pipefail

me=mk/sid-root.sh
root=${WATCH_SID_ROOT:-/var/cache/libwatch/sid-root}
versions=(3.14 3.15)
# Everything make test, demo, asan, valgrind and coverage use, for both
# versions (gnuplot: mk/deps.sh, run by make demo, wants it; pytest,
# markdown and docutils: the pytest plugin's and the real workload's tests;
# cython3: examples/cython, cythonized here for every interpreter).
# python3.X-dbg brings libpython3.X-dbg: libpython3.Xd.so and the headers
# of /usr/include/python3.Xd.
packages=(gcc make pkg-config check libuv1-dev lcov valgrind gnuplot-nox
  ca-certificates python3-pytest python3-markdown python3-docutils cython3)
for v in "${versions[@]}"; do
  packages+=("python$v-dev" "libpython$v-testsuite" "python$v-venv"
    "python$v-dbg")
done
stamp=$root/.libwatch-packages

fail() {
  echo "$me: cannot make the Debian sid root for CPython ${versions[*]}: $*" >&2
  exit 1
}

# host_mirror ETC: the URI of the first deb source in ETC/apt, in apt's
# order (sources.list, then sources.list.d/'s *.list and *.sources by
# name), whose suite is sid, unstable, testing, stable or, on Debian, the
# host's own release (ETC/os-release's VERSION_CODENAME).  Such a source is
# a Debian archive, which carries sid too; the others (security, updates, a
# vendor's repository, another distribution's archive) are not.  Prints
# nothing when there is none.
host_mirror() {
  local etc=$1 suites="sid unstable testing stable" f uri
  if [[ $(os_release "$etc" ID) == debian ]]; then
    suites+=" $(os_release "$etc" VERSION_CODENAME)"
  fi
  for f in "$etc/apt/sources.list" "$etc"/apt/sources.list.d/*; do
    [[ -f "$f" ]] || continue
    case $f in
    *.sources) uri=$(deb822_mirror "$suites" <"$f") ;;
    *.list) uri=$(one_line_mirror "$suites" <"$f") ;;
    *) continue ;;
    esac
    if [[ -n "$uri" ]]; then
      echo "$uri"
      return
    fi
  done
}

# os_release ETC KEY: KEY's value in ETC/os-release, unquoted.
os_release() {
  [[ -f "$1/os-release" ]] || return 0
  sed -n "s/^$2=//p" "$1/os-release" | tr -d "\"'"
}

# one_line_mirror SUITES <FILE: the first "deb [options] URI SUITE ..."
# line's URI, for a suite of SUITES.
one_line_mirror() {
  awk -v suites="$1" '
    BEGIN { split(suites, s); for (i in s) ok[s[i]] = 1 }
    $1 == "deb" {
      line = $0
      sub(/^[ \t]*deb[ \t]+(\[[^]]*\][ \t]*)?/, "", line)
      split(line, f)
      if (f[2] in ok) { print f[1]; exit }
    }'
}

# deb822_mirror SUITES <FILE: the first URI of the first enabled stanza of
# Types deb for a suite of SUITES.  Stanzas end at a blank line; "#" lines
# are comments.
deb822_mirror() {
  awk -v suites="$1" '
    function stanza_end(  i) {
      if (types ~ /(^|[ \t])deb([ \t]|$)/ && enabled != "no")
        for (i = 1; i <= n; i++)
          if (stanza[i] in ok) { print uri; done = 1; exit }
      types = enabled = uri = ""
      n = 0
    }
    BEGIN { split(suites, s); for (i in s) ok[s[i]] = 1 }
    /^#/ { next }
    /^[ \t]*$/ { stanza_end(); next }
    /^[A-Za-z-]+:/ {
      key = tolower(substr($0, 1, index($0, ":") - 1))
      value = substr($0, index($0, ":") + 1)
      if (key == "types") types = value
      else if (key == "uris") { split(value, u); uri = u[1] }
      else if (key == "suites") n = split(value, stanza)
      else if (key == "enabled") { split(value, e); enabled = tolower(e[1]) }
    }
    END { if (!done) stanza_end() }'
}

# The mirror for debootstrap, or a line that says why there is none.
mirror_or_fail() {
  local etc=$1 mirror
  mirror=${WATCH_SID_MIRROR:-$(host_mirror "$etc")}
  [[ -n "$mirror" ]] ||
    fail "no Debian mirror among $etc/apt's sources: set WATCH_SID_MIRROR"
  echo "$mirror"
}

# Ready when every package wanted was installed: the stamp lists all that
# ever were, so that trees with other lists (a branch, a worktree) share
# the root without installing back and forth.
ready() {
  local p
  [[ -f "$stamp" ]] || return 1
  for p in "${packages[@]}"; do
    grep -qxF -- "$p" "$stamp" || return 1
  done
}

make_root() {
  ready && return 0
  [[ $(id -u) == 0 ]] || fail "needs root (chroot and debootstrap)"
  # make test starts making it in the background and asks again later.
  mkdir -p "$(dirname "$root")"
  exec 9>"$root.lock"
  flock 9
  ready && return 0
  if ! command -v debootstrap >/dev/null; then
    command -v apt-get >/dev/null || fail "no debootstrap and no apt-get"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q debootstrap \
      </dev/null >/dev/null 2>&1 || fail "apt-get install debootstrap failed"
  fi
  local log
  log=$(mktemp)
  if [[ -d "$root/usr/bin" ]]; then
    # A root from an earlier package list: add what is missing.  Its index
    # is as old as the root, and sid's archive has moved on since: read it
    # anew first, or the packages it names may be gone.
    echo "$me: adding packages to $root"
    unmount
    mount_all
    { chroot "$root" apt-get update -q &&
      chroot "$root" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${packages[@]}"; } \
      </dev/null >"$log" 2>&1 || { tail -n 5 "$log" >&2; fail "apt-get in the root failed"; }
  else
    local mirror
    mirror=$(mirror_or_fail /etc) || { rm -f "$log"; exit 1; }
    echo "$me: making $root (debootstrap sid from $mirror, about 4 minutes)"
    # Never through a bind mount into a source tree.
    unmount
    rm -rf --one-file-system "$root"
    mkdir -p "$root"
    local list
    list=$(IFS=,; echo "${packages[*]}")
    if ! debootstrap --variant=minbase --include="$list" sid "$root" \
      "$mirror" </dev/null >"$log" 2>&1; then
      tail -n 5 "$log" >&2
      rm -f "$log"
      fail "debootstrap failed (log above)"
    fi
    # The archive's sid index can be past its Valid-Until date.
    echo 'Acquire::Check-Valid-Until "false";' \
      >"$root/etc/apt/apt.conf.d/99libwatch"
  fi
  rm -f "$log"
  { [[ ! -f "$stamp" ]] || tr ' ' '\n' <"$stamp"; printf '%s\n' "${packages[@]}"; } |
    sort -u >"$stamp.new"
  mv "$stamp.new" "$stamp"
}

# The root sees /proc, /dev and the source tree at its own path.
mount_all() {
  local src
  src=$(pwd -P)
  mountpoint -q "$root/proc" || mount -t proc proc "$root/proc"
  mountpoint -q "$root/dev" || mount --rbind /dev "$root/dev"
  mkdir -p "$root/tmp"
  chmod 1777 "$root/tmp"
  mkdir -p "$root$src"
  # A bind left from a tree since deleted and made again at the same path
  # (a fresh clone in /tmp/fresh) shows the deleted one: bind again.
  while mountpoint -q "$root$src" &&
    [[ "$(stat -c %d:%i "$src")" != "$(stat -c %d:%i "$root$src")" ]]; do
    umount -l "$root$src"
  done
  mountpoint -q "$root$src" || mount --bind "$src" "$root$src"
}

unmount() {
  local m
  # Deepest first.
  for m in $(awk -v r="$root/" 'index($2, r) == 1 { print $2 }' /proc/mounts |
    sort -r); do
    umount -l "$m" 2>/dev/null || true
  done
}

case ${1:-} in
make)
  make_root
  ;;
run)
  shift
  ready || fail "no root at $root: run bash $me make"
  mount_all
  # A clean environment: the host's PATH, PYENV_* and PYTHONPATH name
  # things that do not exist in the root.  What the suites read is passed.
  exec chroot "$root" /usr/bin/env -i \
    PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    HOME=/root LANG=C.UTF-8 TERM="${TERM:-dumb}" \
    ${MAKEFLAGS:+MAKEFLAGS="$MAKEFLAGS"} \
    ${TEST_TIMEOUT:+TEST_TIMEOUT="$TEST_TIMEOUT"} \
    bash -c 'cd "$1" && shift && exec "$@"' bash "$(pwd -P)" "$@"
  ;;
pythons)
  ready || exit 0
  for d in "" d; do
    for v in "${versions[@]}"; do
      if [[ -x "$root/usr/bin/python$v$d" ]]; then
        echo "/usr/bin/python$v$d"
      fi
    done
  done
  ;;
mirror)
  mirror_or_fail "${2:-/etc}"
  ;;
*)
  echo "usage: bash $me make | run CMD... | pythons | mirror [ETC]" >&2
  exit 2
  ;;
esac
