#!/usr/bin/env bash
# Installs the system packages abliterate needs (OpenBLAS, LAPACKE, pkg-config, unzip) when missing.
set -euo pipefail
missing=()
for pkg in libopenblas-dev liblapacke-dev pkg-config; do
  dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg")
done
if [ ${#missing[@]} -eq 0 ]; then exit 0; fi
echo "installing: ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
