#!/usr/bin/env bash
# Packs what `ctest -L gpu` needs on the GPU machine from a CMake build of this repository
# (`make test` builds one in build/; CI=true compiles CUDA for sm_90 only): every CTest file of
# the build (ctest reads the whole tree before it filters by label), the gpu-labelled test
# binaries (build/tests/*_cuda_tests) and the shared libraries they load apart from glibc and
# libstdc++.
# Usage: bash tools/gpu/pack_ctest.sh [BUILD_DIR] [OUT_TGZ]   (defaults: build, .gpu-ctest.tgz)
# On the GPU machine, in the carried copy of the repository (the CTest files name the building
# machine's source and build paths, so that source path is linked to the copy):
#   tar xzf .gpu-ctest.tgz && ln -sfn "$PWD" <SOURCE_DIR printed below>
#   cd build && LD_LIBRARY_PATH="$PWD/../.gpu-ctest-lib:<CUDA lib64>" ctest -L gpu
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:-build}
OUT=${2:-.gpu-ctest.tgz}
SRC=$(sed -n 's/^CMAKE_HOME_DIRECTORY:INTERNAL=//p' "$BUILD/CMakeCache.txt")
[ -x "$BUILD/tests/engine_cuda_tests" ] ||
  { echo "pack_ctest.sh: $BUILD/tests/engine_cuda_tests missing (a CUDA build: nvcc found at configure)"; exit 1; }
BINS=$(cd "$BUILD/tests" && ls -- *_cuda_tests)
[ "$(realpath "$BUILD")" = "$(realpath "$SRC")/build" ] ||
  { echo "pack_ctest.sh: the build must be <source>/build (the copy's layout)"; exit 1; }
LIST=$(mktemp)
LIBS=$(mktemp -d)
trap 'rm -rf "$LIST" "$LIBS"' EXIT
( cd "$SRC" && find build -name CTestTestfile.cmake &&
  find build/tests \( -name '*_tests.cmake' -o -name '*_include.cmake' \) -not -path '*/CMakeFiles/*' &&
  for b in $BINS; do echo "build/tests/$b"; done ) | sort -u > "$LIST"
mkdir -p "$LIBS/.gpu-ctest-lib"
for b in $BINS; do ldd "$BUILD/tests/$b"; done | awk '/=> \//{print $3}' | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|ld-linux*|libstdc++.so*|libgcc_s.so*) ;;
    *) cp -L "$lib" "$LIBS/.gpu-ctest-lib/" ;;
  esac
done
tar czf "$OUT" -C "$SRC" -T "$LIST" -C "$LIBS" .gpu-ctest-lib
case "$OUT" in
  /*) ;;
  *) grep -qx "/$OUT" .git/info/exclude 2>/dev/null || echo "/$OUT" >> .git/info/exclude ;;
esac
echo "$OUT: $(wc -l < "$LIST") files, $(du -h "$OUT" | cut -f1); SOURCE_DIR $SRC"
