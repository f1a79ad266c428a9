// Command selfsup-swav serves the swav method family as a selfsup plugin
// binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/swav"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(swav.Constructors()...) }
