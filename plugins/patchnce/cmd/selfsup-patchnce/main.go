// Command selfsup-patchnce serves the patchnce method family (PatchNCE of
// CUT and FastCUT) as a selfsup plugin binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/patchnce"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(patchnce.Constructors()...) }
