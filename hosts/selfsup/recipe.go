package main

import (
	"bytes"
	"fmt"
	"os"

	"gopkg.in/yaml.v3"

	"github.com/selfsup/selfsup/sdk/augment"
	"github.com/selfsup/selfsup/sdk/train"
)

// recipe is a pre-training recipe file (YAML): which method, on which data,
// how to train and evaluate. Flags override it field by field. See
// recipes/*.yaml for complete examples to copy.
type recipe struct {
	// Method is the method id ("simclr", "moco", ...).
	Method string       `yaml:"method"`
	Data   dataConfig   `yaml:"data"`
	Train  train.Config `yaml:"train"`
	Eval   evalConfig   `yaml:"eval"`
	// Augment overrides built-in augmentation recipes by name.
	Augment map[string]augment.Recipe `yaml:"augment,omitempty"`
}

// dataConfig says where the images come from.
type dataConfig struct {
	// Source is "fashion-mnist" (Debian's dataset-fashion-mnist) or a
	// folder of images (class subfolders give labels for evaluation).
	Source string `yaml:"source"`
	// Dir is the Fashion-MNIST folder (default /usr/share/datasets/fashion-mnist).
	Dir string `yaml:"dir,omitempty"`
	// Test is the folder of the test split when Source is a folder.
	Test string `yaml:"test,omitempty"`
	// Size and Channels of folder images after loading (default 32, 3).
	Size     int `yaml:"size,omitempty"`
	Channels int `yaml:"channels,omitempty"`
	// Subset uses only the first N training images (quick runs).
	Subset int `yaml:"subset,omitempty"`
}

// evalConfig is the evaluation protocol.
type evalConfig struct {
	// K and T of the weighted kNN (default 200, 0.1).
	K int     `yaml:"k,omitempty"`
	T float64 `yaml:"t,omitempty"`
	// LinearEpochs of the linear probe (default 30).
	LinearEpochs int `yaml:"linear_epochs,omitempty"`
	// NoBaselines skips the raw-pixel and random-init rows.
	NoBaselines bool `yaml:"no_baselines,omitempty"`
	// SaveProbe, when set, is where the evaluated trunk's linear probe on
	// raw features is written (safetensors: "weight" [C, D], "bias" [C],
	// float32): the teacher_head of simclrv2_distill.
	SaveProbe string `yaml:"save_probe,omitempty"`
}

func loadRecipe(path string) (recipe, error) {
	var r recipe
	b, err := os.ReadFile(path)
	if err != nil {
		return r, fmt.Errorf("recipe: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("recipe %s: %w (see recipes/ for the format)", path, err)
	}
	return r, nil
}
