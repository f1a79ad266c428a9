// Command selfsup-pixpro serves the pixpro method family as a selfsup
// plugin binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/pixpro"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(pixpro.Constructors()...) }
