// kernels.h declares fused parameter updates; see kernels.cpp. Each returns
// NULL or a malloc'd error message the caller frees. Tensor arguments are
// gotch handles (torch::Tensor*).
#ifndef SELFSUP_BACKEND_KERNELS_H
#define SELFSUP_BACKEND_KERNELS_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
char *selfsup_adam_step(void **params, void **exp_avg, void **exp_avg_sq,
                        const uint8_t *no_decay, int n, double lr, double b1,
                        double b2, double eps, double wd, int decoupled,
                        int64_t step);
char *selfsup_sgd_step(void **params, void **bufs, const uint8_t *no_decay,
                       int n, double lr, double momentum, double wd,
                       int nesterov, int lars, double eta, int first);
char *selfsup_ema(void **target, void **online, int n, double m);
char *selfsup_copy(void **dst, void **src, int n);
char *selfsup_zero_grad(void **params, int n);
char *selfsup_clip_grad(void **params, int n, double clip, double *norms,
                        uint8_t *has_grad);
#ifdef __cplusplus
}
#endif
#endif
