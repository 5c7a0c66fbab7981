#!/usr/bin/env bash
# One step from a fresh Debian 12 machine to a running cadre:
#   ./bootstrap.sh run    install missing packages, build, run scenarios/feature-team.yaml
#   ./bootstrap.sh test   install missing packages, build, run the whole test suite (ctest)
# Idempotent: installs only what is missing and rebuilds only what changed.
set -euo pipefail
cd "$(dirname "$0")"

mode="${1:-run}"
case "$mode" in
  run|test) shift || true ;;
  -h|--help) sed -n '2,5p' "$0"; exit 0 ;;
  *) echo "bootstrap.sh: unknown mode '$mode' (use: run | test)" >&2; exit 2 ;;
esac

packages=(
  g++ make cmake ccache pkg-config
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev
  libyaml-cpp-dev libcli11-dev nlohmann-json3-dev libcurl4-openssl-dev libgtest-dev
  python3 python3-zmq python3-msgpack
  iproute2  # the network-namespace partition test (tests/cluster)
)
# test: also Debian's chromium, to render report.html headless (tests/integration).
if [ "$mode" = test ]; then packages+=(--test); fi
ci/install-missing.sh "${packages[@]}"

build_dir="${CADRE_BUILD_DIR:-build}"
jobs="$(nproc)"
# -O1 without debug info: on 2 cores it compiles in about half the time of RelWithDebInfo, which
# keeps README's first command under a minute. Benchmarks build their own way (bench/RESULTS.md).
cmake -S . -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS_RELEASE="-O1 -DNDEBUG" \
  >/dev/null

case "$mode" in
  run)
    # Only the cadre binary: the demo should not wait for the test suite to compile.
    cmake --build "$build_dir" --target cadre -j"$jobs"
    exec "$build_dir/cli/cadre" run scenarios/feature-team.yaml "$@" ;;
  test)
    cmake --build "$build_dir" -j"$jobs"
    exec ctest --test-dir "$build_dir" --output-on-failure -j"$jobs" "$@" ;;
esac
