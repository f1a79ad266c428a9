// Command selfsup-barlowtwins serves the barlowtwins method as a selfsup
// plugin binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/barlowtwins"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(barlowtwins.Constructors()...) }
