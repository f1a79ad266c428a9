// Command selfsup-simclr serves the simclr method family as a selfsup
// plugin binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/simclr"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(simclr.Constructors()...) }
