// layout.cpp: a 4-d tensor in channels-last (NHWC) memory order, with
// autograd. oneDNN convolves NHWC activations directly; NCHW ones it
// reorders to its blocked layout and back on every call, which costs as much
// as the convolution itself for the small-channel stacks of RL encoders.
#include "layout.h"

#include <ATen/ATen.h>

#include <cstdlib>
#include <cstring>
#include <exception>
#include <string>

extern "C" {

char *selfsup_channels_last(void *in, void **out) {
  try {
    const at::Tensor &x = *static_cast<at::Tensor *>(in);
    *out = new at::Tensor(x.contiguous(at::MemoryFormat::ChannelsLast));
    return nullptr;
  } catch (const std::exception &e) {
    std::string s = e.what();
    char *msg = static_cast<char *>(std::malloc(s.size() + 1));
    std::memcpy(msg, s.c_str(), s.size() + 1);
    return msg;
  }
}
}
