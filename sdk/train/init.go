package train

import (
	"fmt"
	"os"
	"path/filepath"
)

// InitPath resolves Config.Init: a checkpoint file, or a run folder, which
// stands for its CheckpointFile.
func InitPath(init string) string {
	if fi, err := os.Stat(init); err == nil && fi.IsDir() {
		return filepath.Join(init, CheckpointFile)
	}
	return init
}

// loadInit copies the trunk weights and buffers ("trunk/" tensors) of the
// pre-training checkpoint cfg.Init into the freshly built trunk. build calls
// it before the EMA target is copied from the trunk and before the optimizer
// is made, so the target starts from the same weights (for
// simclrv2_distill, the frozen teacher trunk). Only the trunk is taken: the
// checkpoint's target, optimizer state, method state and step are not. A
// resumed run loads its own checkpoint after New, over these weights.
func (t *Trainer) loadInit() error {
	path := InitPath(t.cfg.Init)
	tensors, st, err := readCheckpoint(path)
	if err != nil {
		return fmt.Errorf("train: init: %w (init takes the %s of a pretrain run folder)", err, CheckpointFile)
	}
	defer dropAll(tensors)
	if st.Encoder != t.trunk.Name() {
		return fmt.Errorf("train: init %s: a %s trunk, but this run's encoder is %s; set encoder: %s (--encoder %s) to start from it", path, st.Encoder, t.trunk.Name(), st.Encoder, st.Encoder)
	}
	if st.InChannels != t.ds.C {
		return fmt.Errorf("train: init %s: a trunk for %d-channel images, but this run's data has %d channels; start from a checkpoint trained on the same kind of images", path, st.InChannels, t.ds.C)
	}
	if err := loadVars("trunk/", t.trunk.VarStore(), tensors); err != nil {
		return fmt.Errorf("train: init %s: %w", path, err)
	}
	t.log.Info().Str("init", path).Str("from_method", st.Method).Int64("from_step", st.Step).Msg("trunk initialised from checkpoint")
	return nil
}
