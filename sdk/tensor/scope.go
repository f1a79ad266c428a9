package tensor

import "github.com/sugarme/gotch/ts"

// Scope collects the tensors a step makes so that one deferred Close frees
// them all. Keep the ones that outlive the step with Detach. A Scope is for
// one goroutine.
//
//	s := tensor.NewScope()
//	defer s.Close()
//	h := s.T(x.MustMatmul(w, false))
type Scope struct {
	ts []*ts.Tensor
}

// NewScope returns an empty scope.
func NewScope() *Scope { return &Scope{} }

// T tracks t (nil is ignored) and returns it, so calls nest.
func (s *Scope) T(t *ts.Tensor) *ts.Tensor {
	if t != nil {
		s.ts = append(s.ts, t)
	}
	return t
}

// Detach stops tracking t, which then outlives the scope, and returns it.
func (s *Scope) Detach(t *ts.Tensor) *ts.Tensor {
	for i := len(s.ts) - 1; i >= 0; i-- {
		if s.ts[i] == t {
			s.ts = append(s.ts[:i], s.ts[i+1:]...)
			break
		}
	}
	return t
}

// Owns reports whether the scope tracks t.
func (s *Scope) Owns(t *ts.Tensor) bool {
	for _, x := range s.ts {
		if x == t {
			return true
		}
	}
	return false
}

// Len is the number of tracked tensors.
func (s *Scope) Len() int { return len(s.ts) }

// Close frees every tracked tensor (newest first) and empties the scope.
func (s *Scope) Close() {
	for i := len(s.ts) - 1; i >= 0; i-- {
		s.ts[i].MustDrop()
	}
	s.ts = s.ts[:0]
}
