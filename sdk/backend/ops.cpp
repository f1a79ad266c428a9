// ops.cpp: libtorch ops with the arguments gotch's bindings do not pass —
// leaky_relu's slope (gotch fixes 0.01) and instance_norm without affine
// weights or running statistics (gotch cannot pass undefined tensors). Both
// are recorded by autograd.
#include "ops.h"

#include <ATen/ATen.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

namespace {

char *fail(const std::exception &e) {
  std::string s = e.what();
  char *msg = static_cast<char *>(std::malloc(s.size() + 1));
  std::memcpy(msg, s.c_str(), s.size() + 1);
  return msg;
}

} // namespace

extern "C" {

char *selfsup_leaky_relu(void *in, double slope, void **out) {
  try {
    const at::Tensor &x = *static_cast<at::Tensor *>(in);
    *out = new at::Tensor(at::leaky_relu(x, slope));
    return nullptr;
  } catch (const std::exception &e) {
    return fail(e);
  }
}

char *selfsup_instance_norm(void *in, double eps, void **out) {
  try {
    const at::Tensor &x = *static_cast<at::Tensor *>(in);
    *out = new at::Tensor(at::instance_norm(x, {}, {}, {}, {}, /*use_input_stats=*/true, /*momentum=*/0.1, eps, /*cudnn_enabled=*/false));
    return nullptr;
  } catch (const std::exception &e) {
    return fail(e);
  }
}
}
