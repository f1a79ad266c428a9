// layout.h declares memory-layout conversions gotch v0.9.1 does not wrap;
// see layout.cpp. Each returns NULL or a malloc'd error message the caller
// frees; a result is a new gotch handle (torch::Tensor*).
#ifndef SELFSUP_BACKEND_LAYOUT_H
#define SELFSUP_BACKEND_LAYOUT_H
#ifdef __cplusplus
extern "C" {
#endif
char *selfsup_channels_last(void *in, void **out);
#ifdef __cplusplus
}
#endif
#endif
