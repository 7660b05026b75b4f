#!/usr/bin/env bash
# Create the virtualenv (.venv) and install the project with its dev tools, pinned in pyproject.toml.
# Idempotent: a stamp in .venv records what was installed; nothing is downloaded again while
# pyproject.toml (and the Python version) stay the same.
#   PYTHON=python3.12 bash scripts/setup.sh   # choose the interpreter (>= 3.11)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

PYTHON="${PYTHON:-python3}"
VENV=.venv
STAMP="$VENV/.oms-install-stamp"

if ! command -v "$PYTHON" >/dev/null 2>&1; then
    echo "setup: $PYTHON not found; install Python 3.11 or newer (or set PYTHON=...)" >&2
    exit 1
fi
if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "setup: $("$PYTHON" --version 2>&1) is too old; the project needs Python >= 3.11" >&2
    exit 1
fi

# a venv copied from another machine or left half-made has no working interpreter: rebuild it
if [ -d "$VENV" ] && ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
    echo "setup: $VENV is broken; recreating it"
    rm -rf "$VENV"
fi
if [ ! -x "$VENV/bin/python" ]; then
    echo "setup: creating $VENV with $("$PYTHON" --version 2>&1)"
    "$PYTHON" -m venv "$VENV"
fi

want="$(cat pyproject.toml; "$VENV/bin/python" -c 'import sys; print(sys.version)')"
want="$(printf '%s' "$want" | sha256sum | cut -d' ' -f1)"
if [ ! -f "$STAMP" ] || [ "$(cat "$STAMP")" != "$want" ]; then
    echo "setup: installing the project and its dev tools into $VENV (pyproject.toml changed or first run)"
    "$VENV/bin/python" -m pip install --disable-pip-version-check --no-input --quiet -e '.[dev]'
    echo "$want" > "$STAMP"
    echo "setup: python done"
fi

# front-end packages (the blotter's data grid) from the committed lock file, never committed
# themselves: node_modules/ is served through Django staticfiles (see STATICFILES_DIRS)
NPM_STAMP=node_modules/.oms-npm-stamp
if [ -f package-lock.json ]; then
    if ! command -v npm >/dev/null 2>&1; then
        echo "setup: npm not found; install Node.js (>= 18) and npm for the blotter's front-end packages" >&2
        exit 1
    fi
    npm_want="$(sha256sum package-lock.json | cut -d' ' -f1)"
    if [ ! -f "$NPM_STAMP" ] || [ "$(cat "$NPM_STAMP")" != "$npm_want" ]; then
        echo "setup: npm ci (package-lock.json changed or first run)"
        npm ci --no-audit --no-fund --loglevel=error
        echo "$npm_want" > "$NPM_STAMP"
    fi
fi
