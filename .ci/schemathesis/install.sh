#!/usr/bin/env bash
# Installs schemathesis (pinned in requirements.txt) into a virtual environment outside the
# clone, $WARDEN_VENV or ~/.cache/warden/venv, and prints the path of its `schemathesis`.
# A second run with the same requirements does nothing.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="${WARDEN_VENV:-$HOME/.cache/warden/venv}"
stamp="$venv/.requirements"
if [ ! -x "$venv/bin/schemathesis" ] || ! cmp -s "$here/requirements.txt" "$stamp"; then
    python3 -m venv "$venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check -r "$here/requirements.txt" >&2
    cp "$here/requirements.txt" "$stamp"
fi
echo "$venv/bin/schemathesis"
