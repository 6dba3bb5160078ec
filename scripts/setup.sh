#!/usr/bin/env bash
# Installs what dnafam needs on a fresh Debian machine (as root, or with sudo), and does
# nothing when it is all there already. Used by both README commands and by .ci/run.
set -euo pipefail
# clang, libclang-rt-dev (libFuzzer and the sanitizer runtimes; only a Recommends of clang)
# and libomp-dev (clang's OpenMP): the fuzz targets of tests/fuzz (`make fuzz`).
PKGS=(build-essential pkg-config libopenblas-dev openmpi-bin libopenmpi-dev libhdf5-dev
      hdf5-tools zlib1g-dev libcjson-dev dataset-fashion-mnist gnuplot-nox python3
      clang libclang-rt-dev libomp-dev)
missing=()
for p in "${PKGS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
echo "setup: installing ${missing[*]}"
SUDO=""
[ "$(id -u)" -ne 0 ] && SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
