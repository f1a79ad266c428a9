// ops.h declares libtorch ops whose gotch v0.9.1 bindings lack arguments we
// need; see ops.cpp. Each returns NULL or a malloc'd error message the
// caller frees; a result is a new gotch handle (torch::Tensor*).
#ifndef SELFSUP_BACKEND_OPS_H
#define SELFSUP_BACKEND_OPS_H
#ifdef __cplusplus
extern "C" {
#endif
char *selfsup_leaky_relu(void *in, double slope, void **out);
char *selfsup_instance_norm(void *in, double eps, void **out);
#ifdef __cplusplus
}
#endif
#endif
