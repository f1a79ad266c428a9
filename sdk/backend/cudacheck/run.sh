#!/usr/bin/env bash
# run.sh checks the gotch bridge on a CUDA libtorch without Go: it compiles
# gotch v0.9.1's C layer (torch_api.cpp, from the Go module cache or from
# $GOTCH_SRC) with sdk/backend/gotch_compat.h against $LIBTORCH, links the
# C++ harness cuda_check.cpp, and runs it on the GPU: a matmul on cuda:0
# checked against the CPU, and a stubbed operator that must report an error.
#
#   LIBTORCH=/opt/libtorch sdk/backend/cudacheck/run.sh
#   LIBTORCH=$(python3 -c "import torch,os;print(os.path.dirname(torch.__file__))") sdk/backend/cudacheck/run.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
: "${LIBTORCH:?set LIBTORCH to a CUDA libtorch folder (include/ and lib/), e.g. a PyTorch wheel's torch folder}"
src=${GOTCH_SRC:-$(go env GOMODCACHE 2>/dev/null)/github.com/sugarme/gotch@v0.9.1/libtch}
[ -f "$src/torch_api.cpp" ] || { echo "no gotch sources in $src: set GOTCH_SRC to a copy of gotch v0.9.1's libtch folder" >&2; exit 2; }
abi=${CXX11_ABI:-1}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
flags=(-std=c++17 -O0 -w -D_GLIBCXX_USE_CXX11_ABI="$abi" -I"$src" -I"$LIBTORCH/include" -I"$LIBTORCH/include/torch/csrc/api/include" -include "$here/../gotch_compat.h")
g++ "${flags[@]}" -c "$src/torch_api.cpp" -o "$work/torch_api.o" &
g++ "${flags[@]}" -c "$here/cuda_check.cpp" -o "$work/cuda_check.o"
wait
g++ "$work/torch_api.o" "$work/cuda_check.o" -L"$LIBTORCH/lib" -Wl,--no-as-needed -ltorch -ltorch_cuda -lc10_cuda -ltorch_cpu -lc10 -Wl,-rpath,"$LIBTORCH/lib" -o "$work/cuda_check"
"$work/cuda_check"
