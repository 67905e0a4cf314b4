// The CUDA plugin's behaviour that needs NO device, so it runs on every machine that builds with CUDA
// (label cuda, not gpu): the factory's precise refusals (ABI, device count, no GPU), open_devices' fallback
// to the cpu backend, and the kernel params' host-side checks (launchers refuse bad params before touching
// CUDA).
#include <cstring>
#include <memory>

#include "cuda_test_util.hpp"
#include "gpu/backend.hpp"
#include "gpu/cuda/kernels.hpp"
#include "gpu/cuda_plugin.hpp"

using namespace sy;
using namespace sy::gpu;
using namespace sy::gpu::test;

namespace {

bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}

void factory_refusals(tally& t) {
  char err[512] = {0};
  backend_options o;
  o.kind = backend_kind::cuda;
  o.devices = 1;
  std::unique_ptr<backend> b{sy_cuda_create_backend(SY_CUDA_PLUGIN_ABI + 1, &o, err, sizeof err)};
  t.check(!b && contains(err, "plugin ABI"), std::string{"a wrong ABI version is refused with a reason: "} + err);

  std::memset(err, 0, sizeof err);
  o.devices = 0;
  b.reset(sy_cuda_create_backend(SY_CUDA_PLUGIN_ABI, &o, err, sizeof err));
  t.check(!b && contains(err, "positive device count"), std::string{"zero devices are refused: "} + err);

  std::memset(err, 0, sizeof err);
  auto count = cuda::probe_devices();
  o.devices = count ? *count + 1 : 1;
  b.reset(sy_cuda_create_backend(SY_CUDA_PLUGIN_ABI, &o, err, sizeof err));
  if (count)
    t.check(!b && contains(err, "GPUs found, " + std::to_string(*count + 1) + " requested"),
            std::string{"more GPUs than present are refused: "} + err);
  else
    t.check(!b && contains(err, "no CUDA device: cudaGetDeviceCount") && count.err().message == err,
            std::string{"without a GPU the factory says why: "} + err);

  char tiny[8];
  std::memset(tiny, 'x', sizeof tiny);
  o.devices = 0;
  b.reset(sy_cuda_create_backend(SY_CUDA_PLUGIN_ABI, &o, tiny, sizeof tiny));
  t.check(!b && std::strlen(tiny) == sizeof tiny - 1, "the reason is truncated to the caller's buffer, NUL included");
}

void automatic_fallback(tally& t) {
  auto count = cuda::probe_devices();
  auto b = open_devices(backend_kind::automatic, 1, std::size_t{64} << 20);
  t.check(b.ok() && (*b)->kind() == (count ? backend_kind::cuda : backend_kind::cpu),
          std::string{"open_devices(auto) picks "} + (count ? "cuda with a GPU" : "cpu without a GPU") +
            (b.ok() ? ": " + (*b)->describe() : ": " + b.err().to_string()));
  if (!count) {
    auto c = open_devices(backend_kind::cuda, 1, 0);
    t.check(!c.ok() && contains(c.err().message, "no CUDA device"),
            "open_devices(cuda) without a GPU fails with the reason" + (c.ok() ? std::string{} : ": " + c.err().message));
  }
}

void params_checks(tally& t) {
  int dummy[4] = {0};
  void* p = dummy;
  cuda::attention_params a;
  a.q = a.k = a.v = p;
  a.out = dummy + 1;
  a.batch = 1;
  a.seq = 8;
  a.heads = 2;
  a.head_dim = 300;
  auto st = a.check();
  t.check(!st && contains(st.err().message, "head_dim must be in [1, 256], found 300"),
          "attention rejects head_dim 300: " + (st ? std::string{} : st.err().message));
  t.check(cuda::invoke_attention(a, nullptr) == cudaErrorInvalidValue,
          "invoke_attention refuses bad params without launching");
  a.head_dim = 64;
  a.out = p;
  st = a.check();
  t.check(!st && contains(st.err().message, "alias"), "attention rejects out aliasing q");
  a.out = dummy + 1;
  a.k_stride = 100;
  st = a.check();
  t.check(!st && contains(st.err().message, "k_stride"), "attention rejects a k_stride below heads*head_dim");

  cuda::layer_norm_params ln;
  ln.in = ln.gamma = ln.beta = p;
  ln.out = p;
  ln.rows = 4;
  ln.cols = 64;
  ln.in_stride = 32;
  st = ln.check();
  t.check(!st && contains(st.err().message, "in_stride must be 0 or at least cols, found 32"),
          "layer_norm rejects a stride shorter than a row");
  t.check(cuda::invoke_layer_norm(ln, nullptr) == cudaErrorInvalidValue, "invoke_layer_norm refuses it too");
  ln.in_stride = 0;
  t.check(ln.check().ok(), "layer_norm accepts packed rows");

  cuda::embedding_params e;
  e.tokens = reinterpret_cast<const std::int32_t*>(dummy);
  e.tok_table = e.pos_table = p;
  e.out = p;
  e.batch = 1;
  e.seq = 10;
  e.hidden = 8;
  e.vocab = 5;
  e.max_seq = 8;
  st = e.check();
  t.check(!st && contains(st.err().message, "pos_offset + seq must be at most max_seq (8), found 10"),
          "embedding rejects more positions than the table has");

  cuda::bias_act_params ba;
  ba.in = ba.out = p;
  ba.rows = 2;
  ba.cols = 3;
  ba.act = static_cast<activation>(9);
  t.check(!ba.check() && cuda::invoke_bias_act(ba, nullptr) == cudaErrorInvalidValue,
          "bias_act rejects an unknown activation");

  cuda::convert_params cv;
  cv.src = cv.dst = p;
  cv.count = 0;
  t.check(!cv.check(), "convert rejects a zero count");
}

} // namespace

int main() {
  tally t;
  factory_refusals(t);
  automatic_fallback(t);
  params_checks(t);
  return t.exit_code();
}
