#!/usr/bin/env bash
# Install the Debian 12 packages custseg needs to build, test and run (as root, or with sudo).
# Idempotent: does nothing when everything is already installed.
set -euo pipefail
pkgs=(build-essential cmake pkg-config
      openmpi-bin libopenmpi-dev libhdf5-openmpi-dev hdf5-tools
      libcmocka-dev libinih-dev libcjson-dev libxxhash-dev librandom123-dev libcsv-dev
      python3 python3-h5py python3-numpy python3-pandas python3-scipy python3-sklearn python3-xxhash time
      chromium strace)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#pkgs[@]} packages present"
  exit 0
fi
sudo=""
[ "$(id -u)" = 0 ] || sudo=sudo
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get -o DPkg::Lock::Timeout=600 update -qq
$sudo apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
