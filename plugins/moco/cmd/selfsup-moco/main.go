// Command selfsup-moco serves the moco method family (moco, mocov3, curl)
// as a selfsup plugin binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/moco"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(moco.Constructors()...) }
