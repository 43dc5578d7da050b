#!/usr/bin/env bash
# Install the Debian packages in tools/debian-packages.txt that are missing: as root
# with apt-get, otherwise stop and print the exact command to run.
set -euo pipefail
list="$(dirname "$0")/debian-packages.txt"
mapfile -t wanted < <(sed -e 's/#.*//' "$list" | awk 'NF {print $1}')
if ! command -v dpkg-query >/dev/null; then
  echo "make setup: not a Debian system; install these by hand: ${wanted[*]}" >&2
  exit 1
fi
missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed" || missing+=("$package")
done
((${#missing[@]})) || exit 0
if [ "$(id -u)" != 0 ]; then
  echo "make setup: missing Debian packages; run: sudo apt-get install -y --no-install-recommends ${missing[*]}" >&2
  exit 1
fi
echo "make setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}"
