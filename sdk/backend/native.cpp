// native.cpp: libtorch calls that gotch v0.9.1 does not wrap. Kept tiny so it
// compiles fast; see native.h.
#include "native.h"

#include <ATen/Context.h>
#include <ATen/Parallel.h>
#include <ATen/Version.h>
#include <c10/core/GradMode.h>
#include <c10/core/DeviceType.h>
#include <torch/version.h>

#include <cstdlib>
#include <cstring>
#include <string>

static char *dup(const std::string &s) {
  char *p = static_cast<char *>(std::malloc(s.size() + 1));
  std::memcpy(p, s.c_str(), s.size() + 1);
  return p;
}

extern "C" {

void selfsup_manual_seed(uint64_t seed) { at::manual_seed(seed); }

void selfsup_set_num_threads(int n) { at::set_num_threads(n); }

int selfsup_get_num_threads(void) { return at::get_num_threads(); }

int selfsup_cuda_device_count(void) {
  if (!at::hasCUDA()) {
    return 0;
  }
  return static_cast<int>(at::getNumGPUs());
}

int selfsup_grad_enabled(void) { return c10::GradMode::is_enabled() ? 1 : 0; }

void selfsup_set_grad_enabled(int on) { c10::GradMode::set_enabled(on != 0); }

char *selfsup_torch_version(void) { return dup(TORCH_VERSION); }

char *selfsup_torch_config(void) { return dup(at::show_config()); }
}
