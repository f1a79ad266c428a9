package envs

import (
	"fmt"
	"slices"
	"strings"

	"github.com/selfsup/selfsup/envs/render"
)

// Option configures an environment made by Make.
type Option func(*Config)

// Config is what Options set. Its zero value is not valid; Make starts from
// DefaultConfig.
type Config struct {
	// PixelWidth and PixelHeight give the size of pixel observations; 0
	// turns pixel observations off.
	PixelWidth, PixelHeight int
	// State turns state observations on.
	State bool
	// Style is the visual style of pixels and Render.
	Style render.Style
	// RenderWidth and RenderHeight are the size of Render's images.
	RenderWidth, RenderHeight int
	// MaxEpisodeSteps overrides the task's time limit when >= 0 (0 means
	// no limit); -1 keeps dm_control's limit.
	MaxEpisodeSteps int
}

// DefaultConfig returns the configuration Make starts from: state
// observations only, flat style, 240x240 renders, dm_control's time limit.
func DefaultConfig() Config {
	return Config{State: true, Style: render.Flat, RenderWidth: 240, RenderHeight: 240, MaxEpisodeSteps: -1}
}

// WithPixels adds channels-first (3, h, w) uint8 pixel observations rendered
// at w x h (84 x 84 as in CURL, 100 x 100 before a random crop, or any size).
func WithPixels(w, h int) Option {
	return func(c *Config) { c.PixelWidth, c.PixelHeight = w, h }
}

// WithState turns the state observation on or off (it is on by default;
// pixel-only agents turn it off).
func WithState(on bool) Option { return func(c *Config) { c.State = on } }

// WithStyle sets the visual style of pixel observations and renders.
func WithStyle(s render.Style) Option { return func(c *Config) { c.Style = s } }

// WithRenderSize sets the size of Render's images.
func WithRenderSize(w, h int) Option {
	return func(c *Config) { c.RenderWidth, c.RenderHeight = w, h }
}

// WithMaxEpisodeSteps overrides the time limit in steps (0: no limit).
func WithMaxEpisodeSteps(n int) Option { return func(c *Config) { c.MaxEpisodeSteps = n } }

func (c Config) validate() error {
	const maxSide = 8192
	if c.PixelWidth < 0 || c.PixelHeight < 0 || c.PixelWidth > maxSide || c.PixelHeight > maxSide ||
		(c.PixelWidth == 0) != (c.PixelHeight == 0) {
		return fmt.Errorf("pixel size %dx%d is invalid: give both sides in 1..%d, or 0x0 for no pixels", c.PixelWidth, c.PixelHeight, maxSide)
	}
	if c.RenderWidth <= 0 || c.RenderHeight <= 0 || c.RenderWidth > maxSide || c.RenderHeight > maxSide {
		return fmt.Errorf("render size %dx%d is invalid: give both sides in 1..%d", c.RenderWidth, c.RenderHeight, maxSide)
	}
	if !c.State && c.PixelWidth == 0 {
		return fmt.Errorf("no observations: keep state observations on or add WithPixels")
	}
	if c.MaxEpisodeSteps < -1 {
		return fmt.Errorf("max episode steps %d is invalid: use >= 0, or -1 for the task's default", c.MaxEpisodeSteps)
	}
	if c.Style != render.Flat && c.Style != render.Textured {
		return fmt.Errorf("unknown style %v: use render.Flat or render.Textured", c.Style)
	}
	return nil
}

// Factory makes an environment from a configuration.
type Factory func(Config) (Env, error)

// Registry maps environment names to factories, as Gymnasium's registry.
// NewRegistry returns one holding the built-in tasks; callers may register
// their own environments in it. A Registry is not safe for concurrent
// registration.
type Registry struct {
	factories map[string]Factory
	specs     map[string]Spec
}

// NewRegistry returns a registry holding every built-in task.
func NewRegistry() *Registry {
	r := &Registry{factories: map[string]Factory{}, specs: map[string]Spec{}}
	for _, b := range builtins() {
		b := b
		ts := b.make().spec()
		spec := ts.publicSpec(DefaultConfig())
		r.factories[spec.ID] = func(c Config) (Env, error) { return newTaskEnv(b.make(), c), nil }
		r.specs[spec.ID] = spec
	}
	return r
}

// Register adds an environment under id; spec describes it for List and
// Specs (its ID is set to id).
func (r *Registry) Register(id string, spec Spec, f Factory) error {
	id = normalizeID(id)
	if id == "" || f == nil {
		return fmt.Errorf("envs: register needs a name and a factory")
	}
	if _, ok := r.factories[id]; ok {
		return fmt.Errorf("envs: %q is already registered: pick another name", id)
	}
	spec.ID = id
	r.factories[id] = f
	r.specs[id] = spec
	return nil
}

// Make returns a new environment by name, configured by opts. Names are
// dm_control's domain and task joined by a hyphen ("cartpole-swingup");
// underscores and a slash are accepted too ("ball_in_cup/catch").
func (r *Registry) Make(id string, opts ...Option) (Env, error) {
	c := DefaultConfig()
	for _, o := range opts {
		o(&c)
	}
	key := normalizeID(id)
	f, ok := r.factories[key]
	if !ok {
		return nil, fmt.Errorf("envs: unknown environment %q: known are %s (run `selfsup-rl envs` to list them)", id, strings.Join(r.List(), ", "))
	}
	if err := c.validate(); err != nil {
		return nil, fmt.Errorf("envs: make %s: %w", key, err)
	}
	return f(c)
}

// List returns the registered names, sorted.
func (r *Registry) List() []string {
	ids := make([]string, 0, len(r.factories))
	for id := range r.factories {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Specs returns the registered environments' specs, sorted by name.
func (r *Registry) Specs() []Spec {
	out := make([]Spec, 0, len(r.specs))
	for _, id := range r.List() {
		out = append(out, r.specs[id])
	}
	return out
}

// Make returns a new built-in environment by name; see Registry.Make.
func Make(id string, opts ...Option) (Env, error) { return NewRegistry().Make(id, opts...) }

// List returns the names of the built-in environments, sorted.
func List() []string { return NewRegistry().List() }

// Specs returns the built-in environments' specs, sorted by name.
func Specs() []Spec { return NewRegistry().Specs() }

func normalizeID(id string) string {
	id = strings.ToLower(strings.TrimSpace(id))
	id = strings.NewReplacer("_", "-", "/", "-", ":", "-").Replace(id)
	return id
}

type builtin struct{ make func() task }

// builtins lists the built-in tasks.
func builtins() []builtin {
	return []builtin{
		{func() task { return newCartpole(true, false) }},
		{func() task { return newCartpole(false, false) }},
		{func() task { return newCartpole(true, true) }},
		{func() task { return newCartpole(false, true) }},
		{func() task { return newPendulum() }},
		{func() task { return newReacher(reacherEasy) }},
		{func() task { return newReacher(reacherHard) }},
		{func() task { return newPointMass(false) }},
		{func() task { return newPointMass(true) }},
		{func() task { return newBallInCup() }},
	}
}
