#!/usr/bin/env bash
# ci/install-missing.sh [--test] PACKAGE...: installs the Debian packages that are not installed yet
# (as root, or with sudo); does nothing when all are there. Shared by bootstrap.sh and the CI
# scripts. --test adds what only the test suite needs: Debian's chromium (and a font), which
# renders report.html headless in tests/integration/report_render_test.cpp.
set -euo pipefail
test_packages=(chromium fonts-dejavu-core)
wanted=()
for package in "$@"; do
  if [ "$package" = --test ]; then wanted+=("${test_packages[@]}"); else wanted+=("$package"); fi
done
missing=()
for package in ${wanted[@]+"${wanted[@]}"}; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" \
    || missing+=("$package")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
echo "installing ${missing[*]}"
as_root=()
[ "$(id -u)" -eq 0 ] || as_root=(sudo)
"${as_root[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${as_root[@]}" apt-get install -y -qq --no-install-recommends \
  "${missing[@]}"
