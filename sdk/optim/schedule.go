package optim

import "github.com/selfsup/selfsup/sdk/schedule"

// Schedule is the learning rate's warm-up + cosine (schedule.WarmupCosine).
type Schedule = schedule.WarmupCosine

// CosineSchedule is a half cosine from Start to End (schedule.Cosine), as
// main_dino.py's weight decay 0.04 → 0.4.
type CosineSchedule = schedule.Cosine
