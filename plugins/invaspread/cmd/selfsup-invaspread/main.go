// Command selfsup-invaspread serves the invaspread method as a selfsup
// plugin binary.
package main

import (
	"github.com/selfsup/selfsup/plugins/invaspread"
	"github.com/selfsup/selfsup/sdk/plugin"
)

func main() { plugin.Serve(invaspread.Constructors()...) }
