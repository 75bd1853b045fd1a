#!/usr/bin/env bash
# The native code under the sanitizers, zero reports allowed (CI runs this):
#   1. ASan + UBSan: the binding built with -fsanitize=address,undefined, then
#      the in-process test files (every call path, errors and the fuzz
#      properties included) run against it, libasan preloaded into Node.
#   2. valgrind memcheck: Node (--jitless) running test/sanitize/exercise.cjs,
#      which drives every binding function, success and failure, on real sockets.
# Both run in a scratch copy: build/ (your own build) is left alone.
# Needs g++ (libasan, libubsan) and valgrind.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
if [ -z "${npm_config_nodedir:-}" ] && [ -f /usr/include/node/node_api.h ]; then export npm_config_nodedir=/usr; fi
node_gyp="$(dirname "$(readlink -f "$(command -v npm)")")/../node_modules/node-gyp/bin/node-gyp.js"

scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cp -r "$root"/{binding.gyp,vendor,package.json,tsconfig.json,tsconfig.build.json,vitest.config.mts,native,lib,test} "$scratch/"
ln -s "$root/node_modules" "$scratch/node_modules"
cd "$scratch"
npx tsc -p tsconfig.build.json # dist/: the test children load the package as users do

echo "== ASan + UBSan"
flags="-fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer -g -O1"
CXXFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" node "$node_gyp" rebuild --loglevel=warn >/dev/null
reports="$scratch/reports"
mkdir "$reports"
# Node itself is not instrumented: its exit-time allocations are not ours, so no leak check.
# Every report is written to $reports; one report fails the run.
LD_PRELOAD="$(g++ -print-file-name=libasan.so) $(g++ -print-file-name=libubsan.so)" \
  ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:log_path=$reports/asan" \
  UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1:log_path=$reports/ubsan" \
  TCP_KEEPALIVE_FUZZ_RUNS="${TCP_KEEPALIVE_FUZZ_RUNS:-20000}" \
  npx vitest run test/native.test.ts test/configure.test.ts test/validation.test.ts test/lifecycle.test.ts \
  test/sticky.test.ts test/properties.test.ts test/lookup.test.ts || status=$?
if compgen -G "$reports/*" >/dev/null; then
  cat "$reports"/*
  echo "sanitize: ASan/UBSan reported the errors above" >&2
  exit 1
fi
if [ "${status:-0}" != 0 ]; then exit "$status"; fi
echo "ASan + UBSan: 0 reports"

echo "== valgrind memcheck"
node "$node_gyp" rebuild --loglevel=warn >/dev/null # the plain build: valgrind replaces ASan
valgrind --tool=memcheck --error-exitcode=1 --errors-for-leak-kinds=definite --leak-check=full \
  --show-leak-kinds=definite --track-origins=yes --quiet \
  node --jitless test/sanitize/exercise.cjs
echo "valgrind: 0 errors, 0 definite leaks"
