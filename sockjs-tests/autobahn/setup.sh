#!/usr/bin/env bash
# Installs what tests/autobahn.rs needs, and only when it is missing: the
# Autobahn|Testsuite fuzzing client `wstest` (autobahntestsuite 25.10.1, a
# Python 2.7 program) in a virtualenv at sockjs-tests/autobahn/.venv, with the
# versions of requirements.txt (pip, no lockfile).
#
# Python 2.7 comes from pyenv (`$(pyenv root)/versions/2.7.18`), or from
# $AUTOBAHN_PYTHON2 when set. Debian no longer packages Python 2, and
# building one would mean downloading its sources, so a missing Python 2.7
# fails here loudly. The virtualenv itself is made by virtualenv 16.7.12
# (the last of its single-module line: it runs on Python 2.7 and needs no
# other package), installed
# into sockjs-tests/autobahn/.bootstrap first, so that nothing is added to
# the pyenv interpreter. Both folders start with a dot, so that scans of the
# repository's own files (the citation guard) pass over them. Idempotent;
# fails loudly.
set -euo pipefail
cd "$(dirname "$0")"

WANT=25.10.1
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_PYTHON_VERSION_WARNING=1

fail() {
  echo "autobahn setup: FAILED: $*" >&2
  exit 1
}

installed_version() {
  [ -x .venv/bin/wstest ] || return 1
  .venv/bin/wstest -a 2>/dev/null | sed -n 's/^AutobahnTestSuite \(.*\)$/\1/p'
}

if [ "$(installed_version || true)" = "$WANT" ] && .venv/bin/python -m pip check >/dev/null 2>&1; then
  echo "autobahn setup: wstest present ($(.venv/bin/wstest -a 2>/dev/null | paste -sd ' '))"
  exit 0
fi

python2=${AUTOBAHN_PYTHON2:-}
if [ -z "$python2" ]; then
  for candidate in \
    "$(pyenv root 2>/dev/null || echo "${PYENV_ROOT:-$HOME/.pyenv}")/versions/2.7.18/bin/python" \
    "${PYENV_ROOT:-$HOME/.pyenv}/versions/2.7.18/bin/python"; do
    if [ -x "$candidate" ]; then
      python2=$candidate
      break
    fi
  done
fi
[ -n "$python2" ] || fail "Python 2.7.18 is missing: expected \$(pyenv root)/versions/2.7.18/bin/python, or set AUTOBAHN_PYTHON2"
"$python2" -c 'import sys; assert sys.version_info[:2] == (2, 7)' 2>/dev/null ||
  fail "$python2 is not Python 2.7"

# A half-made virtualenv (an earlier run that failed) is made anew.
rm -rf .venv
if ! "$python2" -c 'import virtualenv' 2>/dev/null; then
  if ! PYTHONPATH=.bootstrap "$python2" -c 'import virtualenv' 2>/dev/null; then
    echo "autobahn setup: installing virtualenv 16.7.12 into sockjs-tests/autobahn/.bootstrap"
    rm -rf .bootstrap
    "$python2" -m pip install --quiet --target .bootstrap virtualenv==16.7.12 || fail "pip install virtualenv"
  fi
  export PYTHONPATH=.bootstrap
fi
echo "autobahn setup: making the virtualenv sockjs-tests/autobahn/.venv with $python2"
# --no-download: pip, setuptools and wheel come from the wheels virtualenv
# ships, the last of each that supports Python 2.7.
"$python2" -m virtualenv --quiet --no-download .venv || fail "virtualenv .venv"
unset PYTHONPATH
echo "autobahn setup: pip install -r requirements.txt"
.venv/bin/python -m pip install --quiet -r requirements.txt || fail "pip install -r requirements.txt"
.venv/bin/python -m pip check || fail "pip check: the installed packages do not fit together"
version=$(installed_version || true)
[ "$version" = "$WANT" ] || fail "wstest reports AutobahnTestSuite '${version}', expected $WANT"
echo "autobahn setup: installed $(.venv/bin/wstest -a 2>/dev/null | paste -sd ' ')"
