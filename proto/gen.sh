#!/bin/sh
# gen.sh regenerates the Go code of the selfsup protocol from its .proto
# files (called by `make proto`). It needs protoc and the Go generators:
#
#   apt-get install -y protobuf-compiler
#   go install google.golang.org/protobuf/cmd/protoc-gen-go@v1.36.12
#   go install google.golang.org/grpc/cmd/protoc-gen-go-grpc@v1.6.2
set -eu
here=$(cd "$(dirname "$0")" && pwd)
PATH="$PATH:$(go env GOPATH)/bin"
for tool in protoc protoc-gen-go protoc-gen-go-grpc; do
	if ! command -v "$tool" >/dev/null 2>&1; then
		echo "gen.sh: $tool not found; see the install lines at the top of $0" >&2
		exit 1
	fi
done
cd "$here"
protoc -I . \
	--go_out=. --go_opt=paths=source_relative \
	--go-grpc_out=. --go-grpc_opt=paths=source_relative \
	selfsup/v1/*.proto
