#!/usr/bin/env bash
# Makes sure the build and test tools are present: cc, make, pkg-config, the
# pkg-config modules check and libuv, lcov and valgrind (make coverage,
# make valgrind), and gnuplot (make bench's plots).  Installs what is
# missing with apt-get when it can (root on Debian); otherwise names the
# Debian packages to install and fails.  Prints nothing when all is present.
set -euo pipefail

me=mk/deps.sh

# `bash mk/deps.sh fuzz-c` also wants clang, its libFuzzer runtime and
# llvm's coverage tools (make fuzz-c; Debian bookworm's clang 14, or sid's
# default clang in the sid root).
want_fuzz_c=0
[[ "${1:-}" == fuzz-c ]] && want_fuzz_c=1

# Debian package for each missing piece.
missing() {
  local pkgs=()
  if ((want_fuzz_c)); then
    command -v clang >/dev/null || pkgs+=(clang)
    command -v llvm-cov >/dev/null || pkgs+=(llvm)
    if ! command -v clang >/dev/null ||
      [[ ! -e "$(clang -print-resource-dir)/lib/linux/libclang_rt.fuzzer-x86_64.a" ]]; then
      # The default clang's runtime: bookworm's depends on 14's, and sid
      # has no 14.
      pkgs+=(libclang-rt-dev)
    fi
  fi
  command -v cc >/dev/null || pkgs+=(gcc)
  command -v make >/dev/null || pkgs+=(make)
  command -v lcov >/dev/null || pkgs+=(lcov)
  command -v valgrind >/dev/null || pkgs+=(valgrind)
  command -v gnuplot >/dev/null || pkgs+=(gnuplot-nox)
  for p in pytest markdown docutils; do [[ -d /usr/lib/python3/dist-packages/$p ]] || pkgs+=(python3-$p); done
  if command -v pkg-config >/dev/null; then
    pkg-config --exists check || pkgs+=(check)
    pkg-config --exists libuv || pkgs+=(libuv1-dev)
  else
    # The modules cannot be asked for without it: assume they are missing
    # too (installing a present package is a no-op).
    pkgs+=(pkg-config check libuv1-dev)
  fi
  echo "${pkgs[*]}"
}

need=$(missing)
[[ -n "$need" ]] || exit 0

if [[ $(id -u) != 0 ]] || ! command -v apt-get >/dev/null; then
  echo "$me: missing Debian packages: $need" >&2
  echo "$me: install them (as root: apt-get install $need) and retry" >&2
  exit 1
fi

echo "$me: installing missing packages: $need"
export DEBIAN_FRONTEND=noninteractive
# shellcheck disable=SC2086 # $need is a list of package names
if ! { apt-get update -q && apt-get install -y -q $need; } </dev/null; then
  echo "$me: apt-get failed to install: $need" >&2
  exit 1
fi

still=$(missing)
if [[ -n "$still" ]]; then
  echo "$me: still missing after apt-get install: $still" >&2
  exit 1
fi
