#!/usr/bin/env bash
# Fuzzing CI step: builds the libFuzzer targets of fuzz/ with clang-14 (ASan + UBSan) in
# build-fuzz/ and runs each on a copy of its seed corpus for a bounded time. Fails when any target
# crashes, leaks, hangs past -timeout or runs out of memory; the input that did it is saved as
# build-fuzz/artifacts/<target>-crash-... (reproduce: build-fuzz/fuzz/<target> <that file>).
#   ci/fuzz.sh [SECONDS_PER_TARGET]      default 60
# The targets run at the same time (the run takes SECONDS_PER_TARGET, not three times it).
# CADRE_FUZZ_TARGETS="fuzz_envelope fuzz_journal" runs only those (default: all three).
# Idempotent: installs only what is missing, reuses build-fuzz/ and ccache, starts each run from
# a fresh copy of fuzz/corpus/<target>/ (the checked-in seeds are never modified).
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
case "$seconds" in
  ''|*[!0-9]*) echo "fuzz.sh: SECONDS_PER_TARGET must be a whole number, got '$seconds'" >&2; exit 2 ;;
esac
build_dir="${CADRE_FUZZ_BUILD_DIR:-build-fuzz}"
read -r -a targets <<<"${CADRE_FUZZ_TARGETS:-fuzz_envelope fuzz_scenario fuzz_journal}"
for target in "${targets[@]}"; do
  case "$target" in
    fuzz_envelope|fuzz_scenario|fuzz_journal) ;;
    *) echo "fuzz.sh: unknown target '$target' in CADRE_FUZZ_TARGETS" >&2; exit 2 ;;
  esac
done
jobs="$(nproc)"
export CCACHE_DIR="${CCACHE_DIR:-$HOME/.cache/ccache}"
say() { echo "fuzz.sh: $*"; }
start=$(date +%s)

# --- packages: clang-14, and libclang-rt-14-dev, which holds libFuzzer
# (libclang_rt.fuzzer*.a) and the sanitizer runtimes; the rest is what any cadre build needs.
packages=(
  clang-14 libclang-rt-14-dev cmake make ccache pkg-config
  libzmq3-dev cppzmq-dev libmsgpack-cxx-dev libyaml-cpp-dev libcli11-dev nlohmann-json3-dev
  libcurl4-openssl-dev
)
ci/install-missing.sh "${packages[@]}"

# --- build: only the fuzz targets and the layers they link (no tests, no CLI).
# A build directory configured for another compiler is started afresh: CMake would drop its cache
# on the switch, and with it the options given below.
cxx_path="$(command -v clang++-14)"
if [ -f "$build_dir/CMakeCache.txt" ] &&
   ! grep -qx "CMAKE_CXX_COMPILER:[A-Z]*=$cxx_path" "$build_dir/CMakeCache.txt"; then
  say "$build_dir was configured with another compiler; starting it afresh"
  rm -rf "$build_dir"
fi
# -O1 -g: fast enough to fuzz, quick to compile, symbolized reports.
CC=clang-14 CXX=clang++-14 cmake -S . -B "$build_dir" \
  -DCMAKE_CXX_COMPILER="$cxx_path" \
  -DCADRE_FUZZ=ON -DCADRE_BUILD_TESTS=OFF \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
  >/dev/null
cmake --build "$build_dir" -j"$jobs" --target "${targets[@]}"
built=$(date +%s)
say "build took $((built - start)) s"

# --- run
work="$build_dir/fuzz-run"
artifacts="$build_dir/artifacts"
rm -rf "$work" "$artifacts"  # this run's inputs and findings only
mkdir -p "$work" "$artifacts"
# Reports go to the logs; the sanitizers make any finding fatal.
export ASAN_OPTIONS="abort_on_error=1:detect_leaks=1${ASAN_OPTIONS:+:$ASAN_OPTIONS}"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1${UBSAN_OPTIONS:+:$UBSAN_OPTIONS}"

declare -A max_len=([fuzz_envelope]=16384 [fuzz_scenario]=16384 [fuzz_journal]=16384)
declare -A extra_seeds=([fuzz_envelope]="" [fuzz_scenario]="scenarios" [fuzz_journal]="")
declare -A pids=()
for target in "${targets[@]}"; do
  name="${target#fuzz_}"
  corpus="$work/$name"
  mkdir -p "$corpus"
  cp -r "fuzz/corpus/$name/." "$corpus/"
  # shellcheck disable=SC2086 # extra_seeds is a list of directories (or nothing)
  "$build_dir/fuzz/$target" "$corpus" ${extra_seeds[$target]} \
    -max_total_time="$seconds" -max_len="${max_len[$target]}" -timeout=10 -rss_limit_mb=2048 \
    -artifact_prefix="$artifacts/$target-" -print_final_stats=1 \
    >"$work/$target.log" 2>&1 &
  pids[$target]=$!
done

failed=()
for target in "${targets[@]}"; do
  if wait "${pids[$target]}"; then
    runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$work/$target.log" | grep -o '[0-9]*$' || true)
    say "$target: ok (${runs:-?} inputs in ${seconds} s)"
  else
    failed+=("$target")
    say "$target: FAILED; end of its log ($work/$target.log):"
    tail -n 60 "$work/$target.log"
  fi
done
say "total $(( $(date +%s) - start )) s"
if [ "${#failed[@]}" -gt 0 ]; then
  say "failing targets: ${failed[*]}; inputs saved in $artifacts/"
  exit 1
fi
