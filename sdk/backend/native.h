// native.h declares the few libtorch calls that gotch v0.9.1 does not wrap
// (seeding, thread count, build configuration); native.cpp defines them.
#ifndef SELFSUP_BACKEND_NATIVE_H
#define SELFSUP_BACKEND_NATIVE_H
#include <stdint.h>
#ifdef __cplusplus
extern "C" {
#endif
void selfsup_manual_seed(uint64_t seed);
void selfsup_set_num_threads(int n);
int selfsup_get_num_threads(void);
int selfsup_cuda_device_count(void);
// Autograd's grad mode of the calling OS thread.
int selfsup_grad_enabled(void);
void selfsup_set_grad_enabled(int on);
// The returned strings are malloc'd; the caller frees them.
char *selfsup_torch_version(void);
char *selfsup_torch_config(void);
#ifdef __cplusplus
}
#endif
#endif
