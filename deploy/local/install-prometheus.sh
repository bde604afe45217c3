#!/usr/bin/env bash
# Install Debian's Prometheus (prometheus + promtool) when missing: the metrics tests run promtool
# and an end-to-end Prometheus of their own; `make prometheus` runs it against `make run`.
# The package's own system service is not used.
set -euo pipefail
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1; then exit 0; fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq prometheus >/dev/null
