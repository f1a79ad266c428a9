// Command selfsup-simclrv2 serves the simclrv2 method family (simclrv2,
// simclrv2_distill) as a selfsup plugin binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/simclrv2"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(simclrv2.Constructors()...) }
