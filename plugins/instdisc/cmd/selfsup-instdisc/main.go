// Command selfsup-instdisc serves the instdisc method family as a selfsup
// plugin binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/instdisc"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(instdisc.Constructors()...) }
