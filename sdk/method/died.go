package method

import (
	"context"
	"errors"
)

// ErrDied marks the error of a call whose method lived in a process that
// died (a plugin killed or crashed): the method's state since it was last
// saved or loaded is gone. Test with errors.Is(err, method.ErrDied).
var ErrDied = errors.New("the method's process died")

// Restarter is a Method that can come back after ErrDied: Restart starts a
// new process and sets the method up as the last Setup did. What state it
// then holds is not the caller's to assume: a training host Loads the
// snapshot it replays from (sdk/recovery).
type Restarter interface {
	Restart(ctx context.Context) error
}
