// Package translate is the CUT image-translation model (Park, Efros, Zhang,
// Zhu, ECCV 2020; taesungp/contrastive-unpaired-translation): the ResNet
// generator and the PatchGAN discriminator as the official networks.py
// builds them (same layers, same variable names, so official checkpoints
// load after "module." is stripped), their xavier initialisation, and the
// training step that pairs them with the PatchNCE method plugin. The CLI
// selfsup-translate (hosts/translate) parses flags over it.
package translate
