#!/usr/bin/env bash
# Runs a command where an interpreter of mk/interpreters.sh lives:
#
#   bash mk/on.sh INTERPRETER CMD...
#
# INTERPRETER is a path on this machine, or sid:PATH for one in the Debian
# sid root (mk/sid-root.sh), where CMD runs in a clean environment: pass
# variables as `env NAME=VALUE CMD...`.
set -euo pipefail
interpreter=${1:?usage: bash mk/on.sh INTERPRETER CMD...}
shift
case $interpreter in
sid:*) exec bash "$(dirname "${BASH_SOURCE[0]}")/sid-root.sh" run "$@" ;;
*) exec "$@" ;;
esac
