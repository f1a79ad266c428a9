// gotch_compat.h adapts gotch v0.9.1's generated C++ wrapper (written for
// libtorch 2.1) to the libtorch that is installed, without touching gotch's
// files. It is force-included into every C++ compile of the build with
//
//   CGO_CXXFLAGS="-I/usr/include/torch/csrc/api/include -include <abs>/gotch_compat.h -DGOTCH_COMPAT_SHA=<sha>"
//
// (the Makefile and sdk/backend/env.sh set this up; see README.md beside this
// file). It does nothing outside gotch's libtch package and nothing when the
// installed libtorch is the one gotch was generated for.
//
// Three kinds of entries, each in its own section below:
//   1. stubs for operators that libtorch 1.13 lacks: they throw a
//      std::runtime_error naming the operator and the libtorch version, which
//      gotch's PROTECT turns into a Go error;
//   2. adapters for operators whose signature changed between 1.13 and 2.1,
//      declared in namespace torch next to a `using at::op;` so that the 1.13
//      overloads stay visible to qualified lookup;
//   3. adapters for Tensor methods that 2.1 added (called as self->op(...)),
//      as function-like macros that route the call to a free function.
#pragma once

#if defined(__cplusplus) && __has_include("torch_api_generated.cpp.h")

// Everything torch_api.cpp includes comes first, so that no macro defined
// below can reach a torch header.
#include <ATen/autocast_mode.h>
#include <ATen/core/interned_strings.h>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <torch/csrc/autograd/engine.h>
#include <torch/csrc/jit/passes/fixup_trace_scope_blocks.h>
#include <torch/csrc/jit/passes/normalize_ops.h>
#include <torch/csrc/jit/runtime/graph_executor.h>
#include <torch/script.h>
#include <torch/torch.h>
#include <torch/version.h>
#include <tuple>
#include <vector>

#if TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR == 1
// The version gotch v0.9.1 was generated for (for example a CUDA libtorch
// 2.1 build): nothing to adapt.
#elif TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR == 11
// libtorch 2.11 (the one inside PyTorch 2.11 wheels, CUDA 13): three
// operators changed their signatures since 2.1 (measured: these are the only
// compile errors). They are stubs here: CUDA sparse and fp8 matmul kernels
// that selfsup does not use.
namespace gotch_compat {
[[noreturn]] inline void missing(const char *op) {
  throw std::runtime_error(std::string(op) +
                           " has a signature in libtorch " TORCH_VERSION
                           " that gotch v0.9.1 cannot call; see "
                           "sdk/backend/README.md");
}
} // namespace gotch_compat
namespace torch {
template <class... A> at::Tensor _cslt_sparse_mm(A &&...) {
  ::gotch_compat::missing("_cslt_sparse_mm");
}
template <class... A> std::tuple<at::Tensor, at::Tensor> _scaled_mm(A &&...) {
  ::gotch_compat::missing("_scaled_mm");
}
template <class... A>
std::tuple<at::Tensor, at::Tensor> _scaled_mm_out(A &&...) {
  ::gotch_compat::missing("_scaled_mm_out");
}
} // namespace torch
#elif TORCH_VERSION_MAJOR == 1 && TORCH_VERSION_MINOR == 13

namespace gotch_compat {

// missing throws the error that a stubbed operator reports to Go.
[[noreturn]] inline void missing(const char *op) {
  throw std::runtime_error(std::string(op) +
                           " is not available in libtorch " TORCH_VERSION
                           " (gotch v0.9.1 targets libtorch 2.1); build "
                           "against libtorch 2.1 to use it, see "
                           "sdk/backend/README.md");
}

// unsupported throws for a 2.1 argument that 1.13 cannot honour.
[[noreturn]] inline void unsupported(const char *op, const char *what) {
  throw std::runtime_error(std::string(op) + ": " + what +
                           " is not supported by libtorch " TORCH_VERSION);
}

// ints copies an integer tensor (2.1 passes some lengths/offsets as tensors)
// into the vector that 1.13 takes as an IntArrayRef.
inline std::vector<int64_t> ints(const at::Tensor &t) {
  auto c = t.to(at::kLong).contiguous().cpu();
  const int64_t *p = c.data_ptr<int64_t>();
  return std::vector<int64_t>(p, p + c.numel());
}

// correction turns 2.1's Scalar correction into 1.13's integer correction.
inline c10::optional<int64_t> correction(const char *op, const c10::Scalar &s) {
  double v = s.toDouble();
  if (v != std::floor(v)) {
    unsupported(op, "a fractional correction");
  }
  return static_cast<int64_t>(v);
}

// sortedDims wraps negative dims and sorts them from last to first, so that
// squeezing one dim never shifts a dim still to be squeezed.
inline std::vector<int64_t> sortedDims(const at::Tensor &t,
                                       at::IntArrayRef dims) {
  std::vector<int64_t> out;
  int64_t n = t.dim();
  for (int64_t d : dims) {
    int64_t w = d < 0 ? d + std::max<int64_t>(n, 1) : d;
    if (w < 0 || w >= std::max<int64_t>(n, 1)) {
      throw std::runtime_error("squeeze: dim " + std::to_string(d) +
                               " out of range for a tensor of rank " +
                               std::to_string(n));
    }
    out.push_back(w);
  }
  std::sort(out.begin(), out.end(), std::greater<int64_t>());
  out.erase(std::unique(out.begin(), out.end()), out.end());
  return out;
}

// copyInto resizes out like src and copies src into it (the out= convention).
inline at::Tensor &copyInto(at::Tensor &out, const at::Tensor &src) {
  out.resize_(src.sizes());
  out.copy_(src);
  return out;
}

// Recv carries a Tensor-method call that 1.13 lacks; see section 3.
template <class F> struct Recv {
  F f;
};
template <class F> Recv<F> recv(F f) { return Recv<F>{f}; }
template <class F> auto operator|(bool, Recv<F> r) { return r.f(); }

// ---- 3. Tensor-method adapters (free functions behind the macros below) ----

inline at::Tensor method_to_dense(const at::Tensor &t,
                           c10::optional<at::ScalarType> dtype,
                           bool /*masked_grad*/) {
  // masked_grad only changes the autograd of masked (sparse) semantics in
  // 2.1; 1.13 always uses the unmasked gradient. 1.13's compressed layouts
  // reject any dtype argument, so the tensor's own dtype is passed as none.
  if (dtype.has_value() && *dtype == t.scalar_type()) {
    dtype = c10::nullopt;
  }
  return t.to_dense(dtype);
}
inline at::Tensor method__to_dense(const at::Tensor &t,
                            c10::optional<at::ScalarType> dtype,
                            bool /*masked_grad*/) {
  if (dtype.has_value() && *dtype == t.scalar_type()) {
    dtype = c10::nullopt;
  }
  return t._to_dense(dtype);
}
inline at::Tensor method_to_sparse(const at::Tensor &t) { return t.to_sparse(); }
inline at::Tensor method_to_sparse(const at::Tensor &t, int64_t sparse_dim) {
  return t.to_sparse(sparse_dim);
}
inline at::Tensor method_to_sparse(const at::Tensor &t, c10::optional<at::Layout> layout,
                            at::OptionalIntArrayRef blocksize,
                            c10::optional<int64_t> dense_dim) {
  if (dense_dim.has_value() && *dense_dim != 0) {
    unsupported("to_sparse", "dense_dim");
  }
  at::Layout l = layout.value_or(at::kSparse);
  switch (l) {
  case at::kSparse:
    return t.to_sparse();
  case at::kSparseCsr:
    return t.to_sparse_csr();
  case at::kSparseCsc:
    return t.to_sparse_csc();
  case at::kSparseBsr:
  case at::kSparseBsc:
    if (!blocksize.has_value()) {
      unsupported("to_sparse", "a block layout without blocksize");
    }
    return l == at::kSparseBsr ? t.to_sparse_bsr(*blocksize)
                               : t.to_sparse_bsc(*blocksize);
  default:
    unsupported("to_sparse", "this layout");
  }
}
inline at::Tensor method_to_sparse_csr(const at::Tensor &t,
                                c10::optional<int64_t> dense_dim) {
  if (dense_dim.has_value() && *dense_dim != 0) {
    unsupported("to_sparse_csr", "dense_dim");
  }
  return t.to_sparse_csr();
}
inline at::Tensor method_to_sparse_csc(const at::Tensor &t,
                                c10::optional<int64_t> dense_dim) {
  if (dense_dim.has_value() && *dense_dim != 0) {
    unsupported("to_sparse_csc", "dense_dim");
  }
  return t.to_sparse_csc();
}
inline at::Tensor method_to_sparse_bsr(const at::Tensor &t, at::IntArrayRef blocksize,
                                c10::optional<int64_t> dense_dim) {
  if (dense_dim.has_value() && *dense_dim != 0) {
    unsupported("to_sparse_bsr", "dense_dim");
  }
  return t.to_sparse_bsr(blocksize);
}
inline at::Tensor method_to_sparse_bsc(const at::Tensor &t, at::IntArrayRef blocksize,
                                c10::optional<int64_t> dense_dim) {
  if (dense_dim.has_value() && *dense_dim != 0) {
    unsupported("to_sparse_bsc", "dense_dim");
  }
  return t.to_sparse_bsc(blocksize);
}
inline at::Tensor method_squeeze_(const at::Tensor &t) { return t.squeeze_(); }
inline at::Tensor method_squeeze_(const at::Tensor &t, int64_t dim) {
  return t.squeeze_(dim);
}
inline at::Tensor method_squeeze_(const at::Tensor &t, at::IntArrayRef dims) {
  for (int64_t d : sortedDims(t, dims)) {
    t.squeeze_(d);
  }
  return t;
}
template <class... A> at::Tensor method__sparse_mask_projection(A &&...) {
  missing("_sparse_mask_projection");
}

} // namespace gotch_compat

namespace torch {

// ---- 1. Stubs: operators that libtorch 1.13 does not have ----
// Declared directly in torch (with no using at::op), so they also hide a 1.13
// operator of the same name whose signature no longer fits; the result type
// keeps 2.1's tuple arity because gotch reads it with std::get<N>.
#define GOTCH_COMPAT_STUB(op, R)                                               \
  template <class... A> R op(A &&...) { ::gotch_compat::missing(#op); }
using T_ = at::Tensor;
using T2_ = std::tuple<T_, T_>;
using T3_ = std::tuple<T_, T_, T_>;
using T4_ = std::tuple<T_, T_, T_, T_>;
using T6_ = std::tuple<T_, T_, T_, T_, T_, T_>;
using T7_ = std::tuple<T_, T_, T_, T_, T_, T_, T_>;
GOTCH_COMPAT_STUB(_cslt_compress, T_)
GOTCH_COMPAT_STUB(_cslt_sparse_mm, T_)
GOTCH_COMPAT_STUB(_efficient_attention_backward, T4_)
GOTCH_COMPAT_STUB(_fill_mem_eff_dropout_mask_, T_)
GOTCH_COMPAT_STUB(_flash_attention_backward, T3_)
GOTCH_COMPAT_STUB(_functional_assert_async, T_)
GOTCH_COMPAT_STUB(_functional_sym_constrain_range, T_)
GOTCH_COMPAT_STUB(_functional_sym_constrain_range_for_size, T_)
GOTCH_COMPAT_STUB(_fused_sdp_choice, int64_t)
GOTCH_COMPAT_STUB(_lstm_mps, T6_)
GOTCH_COMPAT_STUB(_lstm_mps_out, T6_)
GOTCH_COMPAT_STUB(_make_dep_token, T_)
GOTCH_COMPAT_STUB(_propagate_xla_data, void)
GOTCH_COMPAT_STUB(_scaled_dot_product_attention_math, T2_)
GOTCH_COMPAT_STUB(_scaled_dot_product_efficient_attention, T4_)
GOTCH_COMPAT_STUB(_scaled_dot_product_flash_attention_backward, T3_)
GOTCH_COMPAT_STUB(_scaled_mm, T2_)
GOTCH_COMPAT_STUB(_scaled_mm_out, T2_)
GOTCH_COMPAT_STUB(_sparse_mask_projection_out, T_)
GOTCH_COMPAT_STUB(_sparse_mm_reduce_impl, T2_)
GOTCH_COMPAT_STUB(_sparse_semi_structured_linear, T_)
GOTCH_COMPAT_STUB(_test_check_tensor, T_)
GOTCH_COMPAT_STUB(_test_functorch_fallback, T_)
GOTCH_COMPAT_STUB(_test_functorch_fallback_out, T_)
GOTCH_COMPAT_STUB(_to_sparse_bsc_out, T_)
GOTCH_COMPAT_STUB(_to_sparse_bsr_out, T_)
GOTCH_COMPAT_STUB(_to_sparse_csc_out, T_)
GOTCH_COMPAT_STUB(_to_sparse_csr_out, T_)
GOTCH_COMPAT_STUB(_to_sparse_out, T_)
GOTCH_COMPAT_STUB(_to_sparse_semi_structured, T2_)
GOTCH_COMPAT_STUB(max_pool2d_backward, T_)
GOTCH_COMPAT_STUB(max_pool2d_backward_out, T_)
GOTCH_COMPAT_STUB(mkldnn_rnn_layer, T4_)
GOTCH_COMPAT_STUB(mkldnn_rnn_layer_out, T4_)
GOTCH_COMPAT_STUB(mkldnn_rnn_layer_backward, T7_)
GOTCH_COMPAT_STUB(mkldnn_rnn_layer_backward_out, T7_)
GOTCH_COMPAT_STUB(quantized_max_pool3d, T_)
GOTCH_COMPAT_STUB(quantized_max_pool3d_out, T_)
GOTCH_COMPAT_STUB(sym_constrain_range, void)
GOTCH_COMPAT_STUB(sym_constrain_range_for_size, void)
#undef GOTCH_COMPAT_STUB

// 2.1 added a string reduce argument; the two-argument form stays.
using at::_sparse_mm;
inline at::Tensor _sparse_mm(const at::Tensor &, const at::Tensor &,
                             c10::string_view) {
  ::gotch_compat::missing("_sparse_mm(reduce)");
}

// ---- 2. Adapters: same operator, changed or new signature ----

// 2.1 takes the CTC lengths as tensors.
using at::_ctc_loss_out;
inline std::tuple<at::Tensor &, at::Tensor &>
_ctc_loss_out(at::Tensor &out0, at::Tensor &out1, const at::Tensor &log_probs,
              const at::Tensor &targets, const at::Tensor &input_lengths,
              const at::Tensor &target_lengths, int64_t blank,
              bool zero_infinity) {
  auto il = ::gotch_compat::ints(input_lengths);
  auto tl = ::gotch_compat::ints(target_lengths);
  return at::_ctc_loss_out(out0, out1, log_probs, targets, il, tl, blank,
                           zero_infinity);
}

// 2.1 takes the nested offsets as a tensor.
using at::_nested_view_from_buffer;
inline at::Tensor _nested_view_from_buffer(const at::Tensor &self,
                                           const at::Tensor &nested_size,
                                           const at::Tensor &nested_strides,
                                           const at::Tensor &offsets) {
  return at::_nested_view_from_buffer(self, nested_size, nested_strides,
                                      ::gotch_compat::ints(offsets));
}
using at::_nested_view_from_buffer_copy;
inline at::Tensor _nested_view_from_buffer_copy(const at::Tensor &self,
                                                const at::Tensor &nested_size,
                                                const at::Tensor &nested_strides,
                                                const at::Tensor &offsets) {
  return at::_nested_view_from_buffer_copy(self, nested_size, nested_strides,
                                           ::gotch_compat::ints(offsets));
}
using at::_nested_view_from_buffer_copy_out;
inline at::Tensor &_nested_view_from_buffer_copy_out(
    at::Tensor &out, const at::Tensor &self, const at::Tensor &nested_size,
    const at::Tensor &nested_strides, const at::Tensor &offsets) {
  return at::_nested_view_from_buffer_copy_out(
      out, self, nested_size, nested_strides, ::gotch_compat::ints(offsets));
}

// 2.1 added is_coalesced to the sparse COO constructors.
inline at::Tensor _sparse_coo_tensor_unsafe(const at::Tensor &indices,
                                            const at::Tensor &values,
                                            at::IntArrayRef size,
                                            at::TensorOptions options,
                                            bool is_coalesced) {
  auto r = torch::_sparse_coo_tensor_unsafe(indices, values, size, options);
  return is_coalesced ? r._coalesced_(true) : r;
}
inline at::Tensor _sparse_coo_tensor_with_dims_and_tensors(
    int64_t sparse_dim, int64_t dense_dim, at::IntArrayRef size,
    const at::Tensor &indices, const at::Tensor &values,
    at::TensorOptions options, bool is_coalesced) {
  auto r = torch::_sparse_coo_tensor_with_dims_and_tensors(
      sparse_dim, dense_dim, size, indices, values, options);
  return is_coalesced ? r._coalesced_(true) : r;
}
using at::_sparse_coo_tensor_with_dims_and_tensors_out;
inline at::Tensor &_sparse_coo_tensor_with_dims_and_tensors_out(
    at::Tensor &out, int64_t sparse_dim, int64_t dense_dim,
    at::IntArrayRef size, const at::Tensor &indices, const at::Tensor &values,
    bool is_coalesced) {
  at::_sparse_coo_tensor_with_dims_and_tensors_out(out, sparse_dim, dense_dim,
                                                   size, indices, values);
  if (is_coalesced) {
    out._coalesced_(true);
  }
  return out;
}
inline at::Tensor sparse_coo_tensor(const at::Tensor &indices,
                                    const at::Tensor &values,
                                    at::TensorOptions options,
                                    bool is_coalesced) {
  auto r = torch::sparse_coo_tensor(indices, values, options);
  return is_coalesced ? r.coalesce() : r;
}
inline at::Tensor sparse_coo_tensor(const at::Tensor &indices,
                                    const at::Tensor &values,
                                    at::IntArrayRef size,
                                    at::TensorOptions options,
                                    bool is_coalesced) {
  auto r = torch::sparse_coo_tensor(indices, values, size, options);
  return is_coalesced ? r.coalesce() : r;
}

// 2.1 added masked_grad.
using at::_to_dense_out;
inline at::Tensor &_to_dense_out(at::Tensor &out, const at::Tensor &self,
                                 c10::optional<at::ScalarType> dtype,
                                 bool /*masked_grad*/) {
  return at::_to_dense_out(out, self, dtype);
}
using at::to_dense_backward;
inline at::Tensor to_dense_backward(const at::Tensor &grad,
                                    const at::Tensor &input,
                                    bool /*masked_grad*/) {
  return at::to_dense_backward(grad, input);
}

// 2.1's _unsafe_index(_put) are index(_put) without bounds checks.
inline at::Tensor
_unsafe_index(const at::Tensor &self,
              const c10::List<c10::optional<at::Tensor>> &indices) {
  return at::index(self, indices);
}
inline at::Tensor
_unsafe_index_put(const at::Tensor &self,
                  const c10::List<c10::optional<at::Tensor>> &indices,
                  const at::Tensor &values, bool accumulate) {
  return at::index_put(self, indices, values, accumulate);
}

// empty_permuted: an empty tensor of logical shape size whose memory is laid
// out in the order physical_layout.
inline at::Tensor empty_permuted(at::IntArrayRef size,
                                 at::IntArrayRef physical_layout,
                                 at::TensorOptions options) {
  if (size.size() != physical_layout.size()) {
    throw std::runtime_error("empty_permuted: size and physical_layout "
                             "differ in length");
  }
  std::vector<int64_t> phys(size.size()), inv(size.size());
  for (size_t i = 0; i < size.size(); i++) {
    phys[i] = size[physical_layout[i]];
    inv[physical_layout[i]] = static_cast<int64_t>(i);
  }
  return at::empty(phys, options).permute(inv);
}
inline at::Tensor &empty_permuted_out(at::Tensor &out, at::IntArrayRef size,
                                      at::IntArrayRef /*physical_layout*/) {
  out.resize_(size);
  return out;
}

// max/min of all elements into out (2.1's max.unary_out, min.unary_out).
using at::max_out;
inline at::Tensor &max_out(at::Tensor &out, const at::Tensor &self) {
  return ::gotch_compat::copyInto(out, at::max(self));
}
using at::min_out;
inline at::Tensor &min_out(at::Tensor &out, const at::Tensor &self) {
  return ::gotch_compat::copyInto(out, at::min(self));
}

// 2.1 added input_size, a hint 1.13 does not need.
using at::mkldnn_reorder_conv2d_weight;
inline at::Tensor mkldnn_reorder_conv2d_weight(
    const at::Tensor &self, at::IntArrayRef padding, at::IntArrayRef stride,
    at::IntArrayRef dilation, int64_t groups,
    at::OptionalIntArrayRef /*input_size*/) {
  return at::mkldnn_reorder_conv2d_weight(self, padding, stride, dilation,
                                          groups);
}
using at::mkldnn_reorder_conv2d_weight_out;
inline at::Tensor &mkldnn_reorder_conv2d_weight_out(
    at::Tensor &out, const at::Tensor &self, at::IntArrayRef padding,
    at::IntArrayRef stride, at::IntArrayRef dilation, int64_t groups,
    at::OptionalIntArrayRef /*input_size*/) {
  return at::mkldnn_reorder_conv2d_weight_out(out, self, padding, stride,
                                              dilation, groups);
}

// nonzero_static: the first size rows of nonzero(self), padded with
// fill_value when there are fewer.
inline at::Tensor nonzero_static(const at::Tensor &self, int64_t size,
                                 int64_t fill_value) {
  auto nz = at::nonzero(self);
  int64_t n = nz.size(0);
  if (n >= size) {
    return nz.narrow(0, 0, size).contiguous();
  }
  auto pad = at::full({size - n, nz.size(1)}, fill_value, nz.options());
  return at::cat({nz, pad}, 0);
}
inline at::Tensor &nonzero_static_out(at::Tensor &out, const at::Tensor &self,
                                      int64_t size, int64_t fill_value) {
  return ::gotch_compat::copyInto(out, nonzero_static(self, size, fill_value));
}

// scaled_dot_product_attention, computed from its definition:
// softmax(q k^T * scale + mask) v, with optional causal mask and dropout.
inline at::Tensor scaled_dot_product_attention(
    const at::Tensor &query, const at::Tensor &key, const at::Tensor &value,
    const at::Tensor &attn_mask, double dropout_p, bool is_causal,
    c10::optional<double> scale) {
  double s = scale.has_value() ? *scale
                               : 1.0 / std::sqrt(static_cast<double>(
                                           query.size(-1)));
  auto scores = at::matmul(query, key.transpose(-2, -1)) * s;
  if (is_causal) {
    int64_t L = query.size(-2), S = key.size(-2);
    auto keep = at::ones({L, S}, query.options().dtype(at::kBool)).tril();
    scores = scores.masked_fill(keep.logical_not(),
                                -std::numeric_limits<double>::infinity());
  }
  if (attn_mask.defined()) {
    if (attn_mask.scalar_type() == at::kBool) {
      scores = scores.masked_fill(attn_mask.logical_not(),
                                  -std::numeric_limits<double>::infinity());
    } else {
      scores = scores + attn_mask;
    }
  }
  auto attn = at::softmax(scores, -1);
  if (dropout_p > 0) {
    attn = at::dropout(attn, dropout_p, true);
  }
  return at::matmul(attn, value);
}

// squeeze over a list of dims (2.1's squeeze.dims).
using at::squeeze;
inline at::Tensor squeeze(const at::Tensor &self, at::IntArrayRef dims) {
  at::Tensor r = self;
  for (int64_t d : ::gotch_compat::sortedDims(self, dims)) {
    r = at::squeeze(r, d);
  }
  return r;
}
using at::squeeze_copy;
inline at::Tensor squeeze_copy(const at::Tensor &self, at::IntArrayRef dims) {
  return squeeze(self, dims).clone(at::MemoryFormat::Contiguous);
}
using at::squeeze_copy_out;
inline at::Tensor &squeeze_copy_out(at::Tensor &out, const at::Tensor &self,
                                    at::IntArrayRef dims) {
  return ::gotch_compat::copyInto(out, squeeze(self, dims));
}

// std/var with 2.1's Scalar correction.
using at::std;
inline at::Tensor std(const at::Tensor &self, at::OptionalIntArrayRef dim,
                      const c10::Scalar &correction, bool keepdim) {
  return at::std(self, dim, ::gotch_compat::correction("std", correction),
                 keepdim);
}
using at::std_out;
inline at::Tensor &std_out(at::Tensor &out, const at::Tensor &self,
                           at::OptionalIntArrayRef dim,
                           const c10::Scalar &correction, bool keepdim) {
  return at::std_out(out, self, dim,
                     ::gotch_compat::correction("std", correction), keepdim);
}
using at::std_mean;
inline std::tuple<at::Tensor, at::Tensor>
std_mean(const at::Tensor &self, at::OptionalIntArrayRef dim,
         const c10::Scalar &correction, bool keepdim) {
  return at::std_mean(self, dim,
                      ::gotch_compat::correction("std_mean", correction),
                      keepdim);
}
using at::std_mean_out;
inline std::tuple<at::Tensor &, at::Tensor &>
std_mean_out(at::Tensor &out0, at::Tensor &out1, const at::Tensor &self,
             at::OptionalIntArrayRef dim, const c10::Scalar &correction,
             bool keepdim) {
  return at::std_mean_out(out0, out1, self, dim,
                          ::gotch_compat::correction("std_mean", correction),
                          keepdim);
}
using at::var;
inline at::Tensor var(const at::Tensor &self, at::OptionalIntArrayRef dim,
                      const c10::Scalar &correction, bool keepdim) {
  return at::var(self, dim, ::gotch_compat::correction("var", correction),
                 keepdim);
}
using at::var_out;
inline at::Tensor &var_out(at::Tensor &out, const at::Tensor &self,
                           at::OptionalIntArrayRef dim,
                           const c10::Scalar &correction, bool keepdim) {
  return at::var_out(out, self, dim,
                     ::gotch_compat::correction("var", correction), keepdim);
}
using at::var_mean;
inline std::tuple<at::Tensor, at::Tensor>
var_mean(const at::Tensor &self, at::OptionalIntArrayRef dim,
         const c10::Scalar &correction, bool keepdim) {
  return at::var_mean(self, dim,
                      ::gotch_compat::correction("var_mean", correction),
                      keepdim);
}
using at::var_mean_out;
inline std::tuple<at::Tensor &, at::Tensor &>
var_mean_out(at::Tensor &out0, at::Tensor &out1, const at::Tensor &self,
             at::OptionalIntArrayRef dim, const c10::Scalar &correction,
             bool keepdim) {
  return at::var_mean_out(out0, out1, self, dim,
                          ::gotch_compat::correction("var_mean", correction),
                          keepdim);
}

// Small operators 2.1 added that 1.13 expresses with others.
inline at::Tensor _is_all_true(const at::Tensor &self) { return self.all(); }
inline at::Tensor _is_any_true(const at::Tensor &self) { return self.any(); }
inline at::Tensor _prelu_kernel(const at::Tensor &self,
                                const at::Tensor &weight) {
  return at::prelu(self, weight);
}
inline std::tuple<at::Tensor, at::Tensor>
_prelu_kernel_backward(const at::Tensor &grad_output, const at::Tensor &self,
                       const at::Tensor &weight) {
  return at::prelu_backward(grad_output, self, weight);
}
inline at::Tensor _int_mm(const at::Tensor &self, const at::Tensor &mat2) {
  return at::mm(self.to(at::kInt), mat2.to(at::kInt));
}
inline at::Tensor &_int_mm_out(at::Tensor &out, const at::Tensor &self,
                               const at::Tensor &mat2) {
  return at::mm_out(out, self.to(at::kInt), mat2.to(at::kInt));
}
inline at::Tensor _reshape_copy(const at::Tensor &self, at::IntArrayRef size) {
  return at::reshape(self, size).clone(at::MemoryFormat::Contiguous);
}

// 2.1 split native_batch_norm into _native_batch_norm_legit variants.
inline std::tuple<at::Tensor, at::Tensor, at::Tensor>
_native_batch_norm_legit(const at::Tensor &input, const at::Tensor &weight,
                         const at::Tensor &bias, at::Tensor &running_mean,
                         at::Tensor &running_var, bool training,
                         double momentum, double eps) {
  return at::native_batch_norm(input, weight, bias, running_mean, running_var,
                               training, momentum, eps);
}
inline std::tuple<at::Tensor, at::Tensor, at::Tensor>
_native_batch_norm_legit(const at::Tensor &input, const at::Tensor &weight,
                         const at::Tensor &bias, bool training, double momentum,
                         double eps) {
  return at::native_batch_norm(input, weight, bias, at::Tensor(), at::Tensor(),
                               training, momentum, eps);
}
inline std::tuple<at::Tensor, at::Tensor, at::Tensor, at::Tensor, at::Tensor>
_native_batch_norm_legit_functional(const at::Tensor &input,
                                    const at::Tensor &weight,
                                    const at::Tensor &bias,
                                    const at::Tensor &running_mean,
                                    const at::Tensor &running_var,
                                    bool training, double momentum,
                                    double eps) {
  auto rm = running_mean.clone();
  auto rv = running_var.clone();
  auto r = at::native_batch_norm(input, weight, bias, rm, rv, training,
                                 momentum, eps);
  return {std::get<0>(r), std::get<1>(r), std::get<2>(r), rm, rv};
}
inline std::tuple<at::Tensor, at::Tensor, at::Tensor>
_native_batch_norm_legit_no_training(const at::Tensor &input,
                                     const at::Tensor &weight,
                                     const at::Tensor &bias,
                                     const at::Tensor &running_mean,
                                     const at::Tensor &running_var,
                                     double momentum, double eps) {
  return at::native_batch_norm(input, weight, bias, running_mean, running_var,
                               false, momentum, eps);
}
inline std::tuple<at::Tensor &, at::Tensor &, at::Tensor &>
_native_batch_norm_legit_out(at::Tensor &out, at::Tensor &save_mean,
                             at::Tensor &save_invstd, const at::Tensor &input,
                             const at::Tensor &weight, const at::Tensor &bias,
                             at::Tensor &running_mean, at::Tensor &running_var,
                             bool training, double momentum, double eps) {
  return at::native_batch_norm_out(out, save_mean, save_invstd, input, weight,
                                   bias, running_mean, running_var, training,
                                   momentum, eps);
}
inline std::tuple<at::Tensor &, at::Tensor &, at::Tensor &>
_native_batch_norm_legit_out(at::Tensor &out, at::Tensor &save_mean,
                             at::Tensor &save_invstd, const at::Tensor &input,
                             const at::Tensor &weight, const at::Tensor &bias,
                             bool training, double momentum, double eps) {
  return at::native_batch_norm_out(out, save_mean, save_invstd, input, weight,
                                   bias, at::Tensor(), at::Tensor(), training,
                                   momentum, eps);
}
inline std::tuple<at::Tensor &, at::Tensor &, at::Tensor &>
_native_batch_norm_legit_no_training_out(
    at::Tensor &out0, at::Tensor &out1, at::Tensor &out2,
    const at::Tensor &input, const at::Tensor &weight, const at::Tensor &bias,
    const at::Tensor &running_mean, const at::Tensor &running_var,
    double momentum, double eps) {
  return at::native_batch_norm_out(out0, out1, out2, input, weight, bias,
                                   running_mean, running_var, false, momentum,
                                   eps);
}

} // namespace torch

// ---- 3. Tensor methods that 2.1 added, called by gotch as self->op(...) ----
// Each macro turns `self->op(args)` into
//   `self->defined() | recv([&]{ return gotch_compat::method_op(*self, args); })`:
// the receiver is gotch's `self` argument, the call runs exactly once, and the
// operator| result is the method's result. The macros cover every spelling of
// these methods in gotch's generated file (checked by the backend tests).
#define GOTCH_COMPAT_METHOD(op, ...)                                           \
  defined() | ::gotch_compat::recv(                                            \
                  [&] { return ::gotch_compat::method_##op(*self __VA_OPT__(, ) __VA_ARGS__); })
#define _sparse_mask_projection(...)                                           \
  GOTCH_COMPAT_METHOD(_sparse_mask_projection, __VA_ARGS__)
#define _to_dense(...) GOTCH_COMPAT_METHOD(_to_dense, __VA_ARGS__)
#define _to_sparse(...) GOTCH_COMPAT_METHOD(to_sparse, __VA_ARGS__)
#define _to_sparse_bsc(...) GOTCH_COMPAT_METHOD(to_sparse_bsc, __VA_ARGS__)
#define _to_sparse_bsr(...) GOTCH_COMPAT_METHOD(to_sparse_bsr, __VA_ARGS__)
#define _to_sparse_csc(...) GOTCH_COMPAT_METHOD(to_sparse_csc, __VA_ARGS__)
#define _to_sparse_csr(...) GOTCH_COMPAT_METHOD(to_sparse_csr, __VA_ARGS__)
#define squeeze_(...) GOTCH_COMPAT_METHOD(squeeze_, __VA_ARGS__)
#define to_dense(...) GOTCH_COMPAT_METHOD(to_dense, __VA_ARGS__)
#define to_sparse(...) GOTCH_COMPAT_METHOD(to_sparse, __VA_ARGS__)
#define to_sparse_bsc(...) GOTCH_COMPAT_METHOD(to_sparse_bsc, __VA_ARGS__)
#define to_sparse_bsr(...) GOTCH_COMPAT_METHOD(to_sparse_bsr, __VA_ARGS__)
#define to_sparse_csc(...) GOTCH_COMPAT_METHOD(to_sparse_csc, __VA_ARGS__)
#define to_sparse_csr(...) GOTCH_COMPAT_METHOD(to_sparse_csr, __VA_ARGS__)

#else
#error "gotch_compat.h: no section for this libtorch version; add one (see sdk/backend/README.md)"
#endif

#endif // __cplusplus && gotch's libtch
