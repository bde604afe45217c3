#!/usr/bin/env bash
# What the staff console's browser test needs (services/console/tests): Debian's Chromium and
# ChromeDriver (apt, when missing; the test drives them with Selenium, headless) and axe-core's
# script from the npm registry (pinned) into the cache folder, from where the test injects it
# into each page: nothing is fetched while the test runs.
set -euo pipefail
AXE_VERSION=4.14.1
cache="${SIGNAALPUNT_CACHE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/.cache}"
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
[ -x /usr/bin/chromedriver ] || need+=(chromium-driver)
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#need[@]} -gt 0 ]; then
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi
axe="$cache/axe-core-$AXE_VERSION"
if [ ! -f "$axe/node_modules/axe-core/axe.min.js" ]; then
  mkdir -p "$axe"
  npm install --silent --no-audit --no-fund --prefix "$axe" "axe-core@$AXE_VERSION" >/dev/null
fi
