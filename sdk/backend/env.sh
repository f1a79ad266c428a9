#!/bin/sh
# env.sh prints the environment that builds selfsup (and anything importing
# its SDK) against Debian's CPU libtorch through gotch v0.9.1:
#
#   eval "$(sh sdk/backend/env.sh)"   # then plain `go build`, `go test` work
#
# It creates, idempotently, a folder of empty static archives named after the
# CUDA libraries that gotch's lib.go links (so a CPU link succeeds and adds no
# run-time dependency), and force-includes gotch_compat.h into gotch's C++
# compile. The header's hash is passed as a define, so editing the header
# rebuilds gotch (Go's build cache does not key on -include'd files).
#
# Variables: SELFSUP_BUILD (default <repo>/build), SELFSUP_TORCH=cpu|cuda,
# LIBTORCH (a libtorch 2.1 folder, for SELFSUP_TORCH=cuda; see README.md).
set -eu
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=${SELFSUP_BUILD:-$root/build}
torch=${SELFSUP_TORCH:-cpu}
hdr="$here/gotch_compat.h"
sha=$(sha256sum "$hdr" | cut -c1-16)
mkdir -p "$build/gotch-cache"
case "$torch" in
cpu)
	stubs="$build/cudastub"
	mkdir -p "$stubs"
	for l in cuda cudart cublas cudnn caffe2_nvrtc nvrtc-builtins nvrtc nvToolsExt c10_cuda torch_cuda; do
		[ -f "$stubs/lib$l.a" ] || ar rc "$stubs/lib$l.a"
	done
	inc=/usr/include/torch/csrc/api/include
	if [ ! -f "$inc/torch/torch.h" ] || [ ! -e /usr/lib/x86_64-linux-gnu/libtorch.so ]; then
		echo "selfsup: libtorch is not installed (no $inc/torch/torch.h or libtorch.so)." >&2
		echo "selfsup: run 'make setup' (or: apt-get install libtorch-dev libopenblas0-pthread) and try again." >&2
		exit 3
	fi
	ldflags="-L$stubs"
	;;
cuda)
	: "${LIBTORCH:?set LIBTORCH to a CUDA libtorch 2.1 folder (with include/ and lib/)}"
	cudalib=${CUDA_HOME:-/usr/local/cuda}/lib64
	inc="$LIBTORCH/include -I$LIBTORCH/include/torch/csrc/api/include"
	ldflags="-L$LIBTORCH/lib -Wl,-rpath,$LIBTORCH/lib -L$cudalib -Wl,--no-as-needed -ltorch_cuda -lc10_cuda -Wl,--as-needed"
	echo "export LD_LIBRARY_PATH=\"$LIBTORCH/lib:$cudalib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}\""
	;;
*)
	echo "env.sh: SELFSUP_TORCH must be cpu or cuda, not $torch" >&2
	exit 2
	;;
esac
echo "export CGO_ENABLED=1"
echo "export CGO_CXXFLAGS=\"-I$inc -include $hdr -DGOTCH_COMPAT_SHA=$sha\""
echo "export CGO_LDFLAGS=\"$ldflags\""
echo "export GOTCH_CACHE=\"$build/gotch-cache\""
echo "export OMP_WAIT_POLICY=\"\${OMP_WAIT_POLICY:-PASSIVE}\""
