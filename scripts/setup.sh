#!/usr/bin/env bash
# Installs the Debian packages elmrun needs (only those missing), then
# configures and builds it in ./build. Safe to rerun.
#   ELMRUN  an elmrun built elsewhere: no build here; linked as build/elmrun
#           where that is absent (the docs test runs the README's commands so)
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(g++ make cmake libhdf5-dev hdf5-tools libboost-program-options-dev libgtest-dev libpng-dev zlib1g-dev libdeflate-dev
          libopenmpi-dev openmpi-bin python3-torch python3-h5py python3-numpy dataset-fashion-mnist
          python3-pandas python3-matplotlib python3-pytest chromium slurmctld slurmd slurm-client munge iproute2)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ -n "${ELMRUN:-}" ]; then
  [ -x "$ELMRUN" ] || { echo "setup: ELMRUN=$ELMRUN is not an executable" >&2; exit 1; }
  [ -e build/elmrun ] || { mkdir -p build && ln -s "$(realpath "$ELMRUN")" build/elmrun; }
  echo "setup: using ELMRUN=$ELMRUN, not building"
  exit 0
fi
cmake -S . -B build -DCMAKE_BUILD_TYPE=Release >/dev/null
cmake --build build -j "$(nproc)"
