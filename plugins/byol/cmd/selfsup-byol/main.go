// Command selfsup-byol serves the byol method family (byol, simsiam) as a
// selfsup plugin binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/byol"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(byol.Constructors()...) }
