#!/usr/bin/env bash
# The SASS of one kernel instantiation and its opcode counts, on the GPU machine (the
# development machine has nvcc but no cuobjdump): the functions of OBJ (an object or binary)
# whose mangled name contains PATTERN, written to OUT.sass, then the opcodes by count, the
# highest register and the spills. Carry the object
# (e.g. build-x/obj/src_engine_kernels_cuda_gemv_bulk.cu.o).
# Usage: bash tools/gpu/sass_dump.sh OBJ PATTERN OUT
#   e.g. PATTERN 'gemv_bulk_kernelILi4ENS1_7weights7BF16TagELi1ELb0ELb0ELi3ELi4E' (4-bit,
#   bf16 scales, one activation row, no RoPE, no tickets, 3-slot rings, 4 units of x in
#   registers).
set -uo pipefail
[ $# -eq 3 ] || { sed -n '2,10p' "$0"; exit 2; }
OBJ=$1 PATTERN=$2 OUT=$3
CO=${CUOBJDUMP:-$(command -v cuobjdump || echo /usr/local/cuda/bin/cuobjdump)}
"$CO" -sass "$OBJ" | awk -v pat="$PATTERN" '/Function : /{p = index($0, pat) > 0} p' \
  > "$OUT.sass" || { echo "sass_dump.sh: cuobjdump failed on $OBJ"; exit 1; }
[ -s "$OUT.sass" ] || { echo "sass_dump.sh: no function matching $PATTERN"; exit 1; }
grep -c "Function : " "$OUT.sass" | sed 's/^/functions: /'
# Opcodes without predicates or modifiers, by count.
grep -oE '^ +/\*[0-9a-f]{4,}\*/ +[^;]*' "$OUT.sass" |
  sed -E 's@^ +/\*[0-9a-f]+\*/ +@@; s/^@!?U?P[T0-9]+ +//; s/[ .].*//' | sort | uniq -c |
  sort -rn | head -40
echo "highest register: R$(grep -oE '\bR[0-9]+\b' "$OUT.sass" | tr -d R | sort -n | tail -1)"
echo "local memory (spills): $(grep -cE '\b(STL|LDL)\b' "$OUT.sass") instructions"
