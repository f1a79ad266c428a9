// Package replay is the replay buffer of the RL agents (sdk/rl/sac): it
// keeps the last Capacity transitions of pixel observations made of k
// stacked frames, storing every frame once. An observation is the stack
// of the k newest frames of its episode (the first frame repeated at the
// start, as a frame-stack wrapper fills itself on reset); the next
// observation of a transition is the same stack one frame later. So a
// transition costs one frame instead of the 2k of storing the
// observation and the next one whole: 100,000 transitions of 3 stacked
// 100×100 RGB frames take 3 GB, not 18.
//
// Sample draws transitions uniformly, gathers their stacks and crops
// them in one copy (Crop: the random crop of CURL and RAD, the centre
// crop for acting, DrQ's random shift), with the same crop for every
// frame of a stack. State vectors, for agents on the environment's state,
// are kept the same way, one per frame.
//
// A Buffer is written whole by WriteTo and read back by ReadFrom, so a
// resumed run samples exactly what an uninterrupted one would.
package replay
