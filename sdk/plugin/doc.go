// Package plugin runs selfsup methods out of process, as hashicorp/go-plugin
// binaries speaking the gRPC protocol of proto/selfsup/v1. Authors serve a
// method family with Serve; hosts open a method by name or path with Open
// and get a method.Method they cannot tell from an in-process one.
package plugin
