// cuda_check.cpp drives gotch v0.9.1's C layer (compiled with selfsup's
// gotch_compat.h) on a CUDA libtorch: a matmul on the GPU checked against the
// CPU, a stubbed operator that must report an error, and a timing.
// torch_api.h defines gotch's error slot; only torch_api.cpp may own it.
#define torch_last_err cuda_check_unused_err_slot
#include "torch_api.h"
#undef torch_last_err
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstring>

static int fail(const char *what) {
  char *e = get_and_reset_last_err();
  std::printf("FAIL %s: %s\n", what, e ? e : "(no error)");
  return 1;
}

int main() {
  at_manual_seed(0);
  int64_t size[2] = {2048, 2048};
  tensor a[1], b[1], c[1], ac[1], bc[1], cc[1], s[1];
  atg_randn(a, size, 2, 6, 0); // float32 on cuda:0
  if (get_and_reset_last_err()) return fail("randn on cuda");
  atg_randn(b, size, 2, 6, 0);
  std::printf("device of a: %d (0 = cuda:0)\n", at_device(a[0]));
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; i++) {
    atg_matmul(c, a[0], b[0]);
    at_free(c[0]);
  }
  atg_matmul(c, a[0], b[0]);
  atg_sum(s, c[0], 6);
  int64_t idx[1] = {0};
  double gpu = at_double_value_at_indexes(s[0], idx, 0); // syncs
  double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count() / 21;
  if (get_and_reset_last_err()) return fail("matmul on cuda");
  atg_to(ac, a[0], -1); // to CPU
  atg_to(bc, b[0], -1);
  atg_matmul(cc, ac[0], bc[0]);
  tensor sc[1];
  atg_sum(sc, cc[0], 6);
  double cpu = at_double_value_at_indexes(sc[0], idx, 0);
  std::printf("sum(A@B) cuda %.6g cpu %.6g; %.2f ms per 2048^3 fp32 matmul (%.1f TFLOP/s)\n", gpu, cpu, ms, 2.0 * 2048 * 2048 * 2048 / (ms * 1e-3) / 1e12);
  if (std::fabs(gpu - cpu) > 1e-3 * (1 + std::fabs(cpu))) return fail("cuda and cpu disagree");
  tensor o[2];
  atg__scaled_mm(o, a[0], b[0], nullptr, -1, nullptr, nullptr, nullptr);
  char *e = get_and_reset_last_err();
  if (!e || !std::strstr(e, "_scaled_mm")) return fail("stubbed _scaled_mm did not report an error");
  std::printf("stub reports: %.80s...\n", e);
  std::printf("OK gotch v0.9.1 + gotch_compat.h on CUDA libtorch\n");
  return 0;
}
