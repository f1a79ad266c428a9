// Package augment makes the augmented views of a batch of images that
// self-supervised methods learn from, on tensors with libtorch ops: a batch
// of N images goes through each op at once, each image with its own random
// parameters.
//
// A Recipe is data (a struct, or YAML) that says what one view does, in a
// fixed order: random (resized) crop, horizontal flip, colour jitter,
// grayscale, Gaussian blur, solarize, rotation by multiples of 90°, and
// normalisation. Builtin returns the named recipes method Specs refer to
// ("simclr", "mocov2", "byol1", "byol2", "dino-global", "dino-global2",
// "dino-local", "curl-crop", "identity", "rotation"), scaled to the data's
// size; copy one, edit it, and save it as YAML to make your own.
//
// A Pipeline turns images into named views, one recipe per view (FromSpec
// builds one from a method Spec), and implements Augmenter. Random draws
// come from a PCG generator seeded by the request's (Seed, Step) and the
// view's position, never from global state: the same request gives the
// same views, bit for bit on the CPU.
//
// ShowGrid draws a few images and their views into one picture, so a
// person can see what a recipe does.
package augment
