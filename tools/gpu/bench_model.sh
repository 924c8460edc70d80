# Sourced (not run) by the scripts that run check.sh's engine bench again: ab_decode.sh,
# attn_timeline.sh, profile_decode.sh, profile_gemv.sh. From the repository root it sets OUT
# and BIN (and exits 1 when check.sh has not built BIN; MLXM_CHECK_BUILD_DIR picks check.sh's
# build directory as there), and defines `bench_model TAG SHAPE`, which sets M to MODEL_DIR,
# or to a model of SHAPE (QUANT, default q4) made under a new temp dir MD (the caller removes
# MD).
cd "$(dirname "${BASH_SOURCE[0]}")/../.." || exit 1
BD=${MLXM_CHECK_BUILD_DIR:-build-gpucheck}
OUT=${OUT:-$PWD/$BD/out}
BIN=$BD/bench_cuda_engine
[ -x "$BIN" ] || { echo "$(basename "$0"): $BIN missing (run check.sh first)"; exit 1; }
bench_model() {
  MD=$(mktemp -d "${TMPDIR:-/tmp}/mlxm_$1_XXXXXX")
  M=${MODEL_DIR:-$MD/m}
  [ -f "$M/config.json" ] ||
    "$BIN" --shape "$2" --quant "${QUANT:-q4}" --prompt 64 --gen 1 --dir "$M" > /dev/null 2>&1
}
