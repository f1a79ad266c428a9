#!/bin/sh
# gen.sh regenerates the committed Python gRPC stubs gen/method_pb2.py and
# gen/method_pb2_grpc.py from proto/selfsup/v1/method.proto. Running the
# plugin does not need it; after a change to method.proto it needs protoc and
# gRPC's Python generator:
#
#   apt-get install -y protobuf-compiler protobuf-compiler-grpc
set -eu
here=$(cd "$(dirname "$0")" && pwd)
for tool in protoc grpc_python_plugin; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "gen.sh: $tool not found; see the install line at the top of $0" >&2
		exit 1
	fi
done
mkdir -p "$here/gen"
protoc -I "$here/../../proto/selfsup/v1" \
	--python_out="$here/gen" \
	--grpc_out="$here/gen" --plugin=protoc-gen-grpc="$(command -v grpc_python_plugin)" \
	method.proto
