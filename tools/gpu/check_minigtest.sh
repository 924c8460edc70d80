#!/usr/bin/env bash
# The GPU tests (tests/engine/cuda/*_test.cpp) build on the GPU machine against
# tools/gpu/minigtest, a small GoogleTest subset (tools/gpu/check.sh), not against GoogleTest.
# This compiles each of them here with -fsyntax-only and check.sh's flags, so a test that uses
# a GoogleTest feature minigtest lacks fails `make test` instead of the GPU run.
# Usage: bash tools/gpu/check_minigtest.sh   (CXX: the compiler, default c++)
set -uo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
CXX=${CXX:-c++}
NL=/usr/include
[ -f "$ROOT/.gpu-deps/nlohmann/json.hpp" ] && NL=$ROOT/.gpu-deps
fail=0
for f in tests/engine/cuda/*_test.cpp; do
  if ! out=$("$CXX" -std=c++20 -fsyntax-only -Wall -Wextra -Wno-restrict -pthread \
      -I"$ROOT/tools/gpu/shim" -I"$ROOT/tools/gpu/minigtest" -I"$ROOT/src" -I"$ROOT/tests" \
      -I"$NL" -DMLXM_SOURCE_DIR="\"$ROOT\"" -DMLXM_BINARY_DIR="\"$ROOT/build-gpucheck\"" \
      "$f" 2>&1); then
    echo "FAIL: $f does not build against tools/gpu/minigtest:"
    echo "$out" | grep -E "error" | head -10
    fail=1
  fi
done
[ $fail -eq 0 ] && echo "ok: every tests/engine/cuda test builds against minigtest"
exit $fail
