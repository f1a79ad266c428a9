// kernels.cpp: fused parameter updates (optimizers, EMA) run as one native
// call each. Going through gotch's generated bindings instead costs a Go↔C
// round trip per elementary op, leaks a small allocation per op (its
// out-pointer slot), and its in-place methods leak the handle they replace;
// these loops do the same arithmetic as PyTorch's optimizers with none of
// that. Tensors arrive as gotch's handles (torch::Tensor*).
#include "kernels.h"

#include <ATen/ATen.h>
#include <c10/core/GradMode.h>

#include <cmath>
#include <exception>
#include <string>
#include <cstring>
#include <cstdlib>
#include <vector>

namespace {

at::Tensor &T(void *p) { return *static_cast<at::Tensor *>(p); }

char *fail(const std::exception &e) {
  std::string s = e.what();
  char *out = static_cast<char *>(std::malloc(s.size() + 1));
  std::memcpy(out, s.c_str(), s.size() + 1);
  return out;
}

} // namespace

extern "C" {

char *selfsup_adam_step(void **params, void **exp_avg, void **exp_avg_sq,
                        const uint8_t *no_decay, int n, double lr, double b1,
                        double b2, double eps, double wd, int decoupled,
                        int64_t step) {
  try {
    c10::NoGradGuard guard;
    const double bc1 = 1 - std::pow(b1, static_cast<double>(step));
    const double bc2 = 1 - std::pow(b2, static_cast<double>(step));
    for (int i = 0; i < n; i++) {
      at::Tensor &p = T(params[i]);
      const at::Tensor &g0 = p.grad();
      if (!g0.defined()) {
        continue;
      }
      at::Tensor g = g0;
      const bool decay = wd != 0 && !no_decay[i];
      if (decay && decoupled) {
        p.mul_(1 - lr * wd);
      } else if (decay) {
        g = g0.add(p, wd);
      }
      at::Tensor &m = T(exp_avg[i]);
      at::Tensor &v = T(exp_avg_sq[i]);
      m.mul_(b1).add_(g, 1 - b1);
      v.mul_(b2).addcmul_(g, g, 1 - b2);
      at::Tensor denom = (v.sqrt() / std::sqrt(bc2)).add_(eps);
      p.addcdiv_(m, denom, -lr / bc1);
    }
  } catch (const std::exception &e) {
    return fail(e);
  }
  return nullptr;
}

char *selfsup_sgd_step(void **params, void **bufs, const uint8_t *no_decay,
                       int n, double lr, double momentum, double wd,
                       int nesterov, int lars, double eta, int first) {
  try {
    c10::NoGradGuard guard;
    for (int i = 0; i < n; i++) {
      at::Tensor &p = T(params[i]);
      const at::Tensor &g0 = p.grad();
      if (!g0.defined()) {
        continue;
      }
      at::Tensor d = g0;
      if (wd != 0 && !no_decay[i]) {
        d = g0.add(p, wd);
      }
      if (lars && !no_decay[i]) {
        const double pn = p.norm().item<double>();
        const double gn = d.norm().item<double>();
        if (pn > 0 && gn > 0) {
          d = d.mul(eta * pn / gn);
        }
      }
      if (momentum != 0) {
        at::Tensor &buf = T(bufs[i]);
        if (first) {
          buf.copy_(d);
        } else {
          buf.mul_(momentum).add_(d);
        }
        d = nesterov ? d.add(buf, momentum) : buf;
      }
      p.add_(d, -lr);
    }
  } catch (const std::exception &e) {
    return fail(e);
  }
  return nullptr;
}

char *selfsup_ema(void **target, void **online, int n, double m) {
  try {
    c10::NoGradGuard guard;
    for (int i = 0; i < n; i++) {
      at::Tensor &t = T(target[i]);
      const at::Tensor &o = T(online[i]);
      if (t.is_floating_point()) {
        t.mul_(m).add_(o, 1 - m); // t = m*t + (1-m)*o
      } else {
        t.copy_(o); // integer buffers (num_batches_tracked)
      }
    }
  } catch (const std::exception &e) {
    return fail(e);
  }
  return nullptr;
}

char *selfsup_copy(void **dst, void **src, int n) {
  try {
    c10::NoGradGuard guard;
    for (int i = 0; i < n; i++) {
      T(dst[i]).copy_(T(src[i]));
    }
  } catch (const std::exception &e) {
    return fail(e);
  }
  return nullptr;
}

char *selfsup_zero_grad(void **params, int n) {
  try {
    for (int i = 0; i < n; i++) {
      at::Tensor &p = T(params[i]);
      if (p.grad().defined()) {
        p.mutable_grad().zero_();
      }
    }
  } catch (const std::exception &e) {
    return fail(e);
  }
  return nullptr;
}

// selfsup_clip_grad is DINO's utils.clip_gradients: for every parameter with
// a gradient, norm = ||grad||_2, coef = clip / (norm + 1e-6), and when
// coef < 1 the gradient is multiplied by coef in place. The arithmetic is
// PyTorch's, in the gradient's dtype: p.grad.data.norm(2) is
// linalg_vector_norm, and `clip / tensor` is Tensor.__rtruediv__,
// reciprocal(tensor) * clip. The test coef < 1 runs on the device (a
// where, no host sync per parameter; NaN < 1 is false, as in Python). The
// norms (before clipping) go to norms[i] with has_grad[i] = 1; parameters
// without a gradient get has_grad[i] = 0 and norms[i] = 0.
char *selfsup_clip_grad(void **params, int n, double clip, double *norms,
                        uint8_t *has_grad) {
  try {
    c10::NoGradGuard guard;
    std::vector<at::Tensor> found;
    for (int i = 0; i < n; i++) {
      has_grad[i] = 0;
      norms[i] = 0;
      at::Tensor &p = T(params[i]);
      if (!p.grad().defined()) {
        continue;
      }
      at::Tensor &g = p.mutable_grad();
      at::Tensor norm = at::linalg_vector_norm(g, 2);
      at::Tensor coef = (norm + 1e-6).reciprocal() * clip;
      g.mul_(at::where(coef < 1, coef, at::ones_like(coef)));
      has_grad[i] = 1;
      found.push_back(norm.to(at::kDouble));
    }
    if (!found.empty()) {
      at::Tensor all = at::stack(found).to(at::kCPU).contiguous();
      const double *v = all.data_ptr<double>();
      for (int i = 0, k = 0; i < n; i++) {
        if (has_grad[i]) {
          norms[i] = v[k++];
        }
      }
    }
  } catch (const std::exception &e) {
    return fail(e);
  }
  return nullptr;
}
}
