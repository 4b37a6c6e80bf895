#!/usr/bin/env bash
# Debian packages the test suite needs: SLURM (with accounting, so submitit sees killed jobs) and
# LaTeX (the report tests compile every table). Idempotent; skips what is installed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
packages=()
while read -r pkg; do
  [[ -z "$pkg" || "$pkg" == \#* ]] && continue
  dpkg -s "$pkg" >/dev/null 2>&1 || packages+=("$pkg")
done < <(cat "$here"/apt-*.txt 2>/dev/null)
if (( ${#packages[@]} )); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "ci/install-system-deps.sh: need root to install: ${packages[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi
