#!/usr/bin/env bash
# Install Debian's Prometheus (prometheus + promtool), Alertmanager (prometheus-alertmanager +
# amtool) and PostgreSQL exporter (prometheus-postgres-exporter) when missing: the tests run promtool, amtool and an end-to-end Prometheus and
# Alertmanager of their own; `make prometheus` and `make alertmanager` run them against `make run`.
# The packages' own system services are not used. compose.yaml runs the same versions.
set -euo pipefail
if command -v promtool >/dev/null 2>&1 && command -v prometheus >/dev/null 2>&1 \
  && command -v amtool >/dev/null 2>&1 \
  && command -v prometheus-postgres-exporter >/dev/null 2>&1; then exit 0; fi
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq prometheus prometheus-alertmanager \
  prometheus-postgres-exporter >/dev/null
