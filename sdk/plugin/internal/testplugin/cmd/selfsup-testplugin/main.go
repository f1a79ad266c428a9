// Command selfsup-testplugin serves the toy methods of sdk/plugin's tests.
package main

import (
	"github.com/selfsup/selfsup/sdk/plugin"
	"github.com/selfsup/selfsup/sdk/plugin/internal/testplugin"
)

func main() { plugin.Serve(testplugin.Constructors()...) }
