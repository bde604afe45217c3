#!/usr/bin/env bash
# Install uv when it is missing, so that `make setup` (and with it `make demo` and `make test`) works on
# a bare machine that has only Python. uv goes into the project's cache folder (`.cache/uv/bin/uv`), not
# into the system Python: Debian's Python refuses `pip install` outside a virtual environment (PEP 668),
# and a `--target` install needs neither root nor the venv module. pip itself comes from Debian when absent.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
target="${SIGNAALPUNT_CACHE_DIR:-$repo/.cache}/uv"
if [ -x "$target/bin/uv" ]; then exit 0; fi
python="$(command -v python3 || true)"
[ -n "$python" ] || { echo "[setup] python3 is needed to install uv: apt-get install -y python3" >&2; exit 1; }
if ! "$python" -m pip --version >/dev/null 2>&1; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "[setup] installing pip (Debian's python3-pip) to fetch uv" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq python3-pip >/dev/null
fi
echo "[setup] uv missing: installing it from PyPI into $target" >&2
rm -rf "$target.tmp"
"$python" -m pip install --quiet --disable-pip-version-check --target "$target.tmp" uv
[ -x "$target.tmp/bin/uv" ] || { echo "[setup] pip did not deliver $target.tmp/bin/uv" >&2; exit 1; }
rm -rf "$target"
mv "$target.tmp" "$target"
"$target/bin/uv" --version >&2
