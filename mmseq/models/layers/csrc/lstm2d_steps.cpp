// Step loops of the fused BiLSTM2D on CPU: all directions' recurrences advance together, one
// batched matmul per step for the recurrent products and one fused element-wise pass for
// the gates, the cell update and the writes into the (B, H, W, ndir * D) output.
//
// Layouts (all float32, contiguous):
//   gates  (B, H, W, ndir, 4D)  input projections W_ih x, gate order (i, f, g, o) as nn.LSTM
//   bias   (ndir, 4D)           b_ih + b_hh, added here (saves a pass over the gates)
//   w_hh_t (ndir, D, 4D)        recurrent weights, transposed, same gate order
//   out    (B, H, W, ndir, D)   hidden state of every direction at every token
// A direction has an orientation (0: along H, i.e. columns are sequences; 1: along W) and a
// reverse flag. Directions of one orientation share a sequence length and a row count, so
// they are processed as one group; with H == W all directions form one group.
#include <torch/extension.h>
#include <ATen/Parallel.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cmath>
#include <vector>

namespace {

struct Group {
  int64_t length;               // time steps
  int64_t rows;                 // sequences per direction: B * (the other spatial size)
  std::vector<int64_t> slots;   // direction indices into the ndir axis
};

struct Geometry {
  int64_t B, H, W, ndir, D;
  std::vector<int64_t> orient, reverse;
  std::vector<Group> groups;

  // Token (flattened b, y, x) read by direction `slot` at step t for sequence `row`.
  inline int64_t token(int64_t slot, int64_t row, int64_t t, int64_t length) const {
    const int64_t step = reverse[slot] ? length - 1 - t : t;
    if (orient[slot] == 0) {  // row = b * W + x, time runs over y
      const int64_t b = row / W, x = row % W;
      return (b * H + step) * W + x;
    }
    const int64_t b = row / H, y = row % H;  // row = b * H + y, time runs over x
    return (b * H + y) * W + step;
  }
};

Geometry make_geometry(const at::Tensor& gates, int64_t D, const std::vector<int64_t>& orient,
                       const std::vector<int64_t>& reverse) {
  TORCH_CHECK(gates.dim() == 5 && gates.is_contiguous() && gates.scalar_type() == at::kFloat,
              "gates must be a contiguous float32 (B, H, W, ndir, 4D) tensor");
  Geometry g{gates.size(0), gates.size(1), gates.size(2), gates.size(3), D, orient, reverse, {}};
  TORCH_CHECK(static_cast<int64_t>(orient.size()) == g.ndir &&
                  static_cast<int64_t>(reverse.size()) == g.ndir,
              "one orientation and one reverse flag per direction");
  TORCH_CHECK(gates.size(4) == 4 * D, "gates' last dim must be 4 * hidden size");
  if (g.H == g.W) {
    Group all{g.H, g.B * g.W, {}};
    for (int64_t s = 0; s < g.ndir; ++s) all.slots.push_back(s);
    g.groups.push_back(all);
  } else {
    for (int64_t o = 0; o < 2; ++o) {
      Group grp{o == 0 ? g.H : g.W, o == 0 ? g.B * g.W : g.B * g.H, {}};
      for (int64_t s = 0; s < g.ndir; ++s)
        if (orient[s] == o) grp.slots.push_back(s);
      if (!grp.slots.empty()) g.groups.push_back(grp);
    }
  }
  return g;
}

// exp without a libm call, so the gate loops vectorise with no spills around calls:
// 2^n * p(r) with x = n ln2 + r, |r| <= ln2 / 2, Cephes' degree-6 polynomial (float ulp-level).
inline float exp_inline(float x) {
  x = std::min(std::max(x, -87.0f), 88.0f);
  const float n = std::floor(x * 1.44269504088896341f + 0.5f);
  const float r = x - n * 0.693359375f + n * 2.12194440e-4f;
  float p = 1.9875691500e-4f;
  p = p * r + 1.3981999507e-3f;
  p = p * r + 8.3334519073e-3f;
  p = p * r + 4.1665795894e-2f;
  p = p * r + 1.6666665459e-1f;
  p = p * r + 5.0000001201e-1f;
  p = p * r * r + r + 1.0f;
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  return p * std::bit_cast<float>(bits);
}

inline float sigmoid(float v) { return 1.f / (1.f + exp_inline(-v)); }

inline float tanh_fast(float v) { return 1.f - 2.f / (exp_inline(2.f * v) + 1.f); }

at::Tensor gather_weights(const at::Tensor& w, const std::vector<int64_t>& slots) {
  std::vector<at::Tensor> parts;
  for (auto s : slots) parts.push_back(w[s]);
  return at::stack(parts).contiguous();
}

}  // namespace

// Returns out (B, H, W, ndir * D) and, when `save`, per group the activated gates
// (L, k, rows, 4D) and the cell states (L, k, rows, D) that the backward needs.
std::vector<at::Tensor> forward(const at::Tensor& gates, const at::Tensor& bias,
                                const at::Tensor& w_hh_t, std::vector<int64_t> orient,
                                std::vector<int64_t> reverse, bool save) {
  const int64_t D = w_hh_t.size(1);
  const Geometry geo = make_geometry(gates, D, orient, reverse);
  TORCH_CHECK(w_hh_t.is_contiguous() && w_hh_t.size(0) == geo.ndir && w_hh_t.size(2) == 4 * D,
              "w_hh_t must be a contiguous (ndir, D, 4D) tensor");
  const int64_t ndir = geo.ndir, G4 = 4 * D;
  TORCH_CHECK(bias.is_contiguous() && bias.numel() == ndir * G4, "bias must be (ndir * 4D,)");
  const float* biasp = bias.data_ptr<float>();
  at::Tensor out = at::empty({geo.B, geo.H, geo.W, ndir * D}, gates.options());
  const float* gin = gates.data_ptr<float>();
  float* outp = out.data_ptr<float>();
  std::vector<at::Tensor> results{out};

  for (const Group& grp : geo.groups) {
    const int64_t k = grp.slots.size(), R = grp.rows, L = grp.length;
    at::Tensor w = gather_weights(w_hh_t, grp.slots);           // (k, D, 4D)
    at::Tensor h = at::zeros({k, R, D}, gates.options());      // h_{t-1}, bmm operand
    at::Tensor c = at::zeros({k, R, D}, gates.options());
    at::Tensor rec = at::empty({k, R, G4}, gates.options());
    at::Tensor saved_g, saved_c;
    if (save) {
      saved_g = at::empty({L, k, R, G4}, gates.options());
      saved_c = at::empty({L, k, R, D}, gates.options());
    }
    for (int64_t t = 0; t < L; ++t) {
      if (t > 0) {
        at::bmm_out(rec, h, w);
      } else {
        rec.zero_();  // h_{-1} = 0 (and c_{-1} = 0: c starts as zeros)
      }
      const float* recp = rec.data_ptr<float>();
      float* hp = h.data_ptr<float>();
      float* cp = c.data_ptr<float>();
      float* sg = save ? saved_g[t].data_ptr<float>() : nullptr;
      float* sc = save ? saved_c[t].data_ptr<float>() : nullptr;
      at::parallel_for(0, k * R, 16, [&](int64_t begin, int64_t end) {
        std::vector<float> scratch(save ? 0 : G4);  // activated gates nobody keeps
        for (int64_t n = begin; n < end; ++n) {
          const int64_t j = n / R, r = n % R, slot = grp.slots[j];
          const int64_t tok = geo.token(slot, r, t, L);
          const float* __restrict gi = gin + (tok * ndir + slot) * G4;
          const float* __restrict gr = recp + n * G4;
          const float* __restrict bi = biasp + slot * G4;
          float* __restrict hn = hp + n * D;
          float* __restrict cn = cp + n * D;
          float* __restrict on = outp + (tok * ndir + slot) * D;
          float* __restrict act = save ? sg + n * G4 : scratch.data();
#pragma omp simd
          for (int64_t e = 0; e < D; ++e) {
            const float ig = sigmoid(gi[e] + bi[e] + gr[e]);
            const float fg = sigmoid(gi[D + e] + bi[D + e] + gr[D + e]);
            const float gg = tanh_fast(gi[2 * D + e] + bi[2 * D + e] + gr[2 * D + e]);
            const float og = sigmoid(gi[3 * D + e] + bi[3 * D + e] + gr[3 * D + e]);
            const float cv = fg * cn[e] + ig * gg;
            const float hv = og * tanh_fast(cv);
            cn[e] = cv;
            hn[e] = hv;
            on[e] = hv;
            act[e] = ig;
            act[D + e] = fg;
            act[2 * D + e] = gg;
            act[3 * D + e] = og;
          }
          if (sc) std::copy(cn, cn + D, sc + n * D);
        }
      });
    }
    if (save) {
      results.push_back(saved_g);
      results.push_back(saved_c);
    }
  }
  return results;
}

// Gradients of the gate pre-activations, (B, H, W, ndir, 4D), from the output gradient and
// what `forward` saved. w_hh (ndir, 4D, D) is the untransposed recurrent weight.
at::Tensor backward(const at::Tensor& grad_out, const at::Tensor& w_hh,
                    std::vector<at::Tensor> saved, std::vector<int64_t> orient,
                    std::vector<int64_t> reverse) {
  TORCH_CHECK(grad_out.is_contiguous() && grad_out.scalar_type() == at::kFloat,
              "grad_out must be contiguous float32");
  const int64_t D = w_hh.size(2), G4 = 4 * D;
  at::Tensor shape_probe = at::empty({grad_out.size(0), grad_out.size(1), grad_out.size(2),
                                      w_hh.size(0), G4}, grad_out.options());
  const Geometry geo = make_geometry(shape_probe, D, orient, reverse);
  TORCH_CHECK(static_cast<int64_t>(saved.size()) == 2 * static_cast<int64_t>(geo.groups.size()),
              "saved tensors do not match the directions");
  const int64_t ndir = geo.ndir;
  at::Tensor dgates = shape_probe;  // every entry is written below
  float* dgp = dgates.data_ptr<float>();
  const float* gop = grad_out.data_ptr<float>();

  for (size_t gi_ = 0; gi_ < geo.groups.size(); ++gi_) {
    const Group& grp = geo.groups[gi_];
    const at::Tensor& saved_g = saved[2 * gi_];
    const at::Tensor& saved_c = saved[2 * gi_ + 1];
    const int64_t k = grp.slots.size(), R = grp.rows, L = grp.length;
    at::Tensor w = gather_weights(w_hh, grp.slots);            // (k, 4D, D)
    at::Tensor dh_rec = at::zeros({k, R, D}, grad_out.options());
    at::Tensor dc_next = at::zeros({k, R, D}, grad_out.options());
    at::Tensor dg = at::empty({k, R, G4}, grad_out.options());
    at::Tensor zeros = at::zeros({k, R, D}, grad_out.options());  // c_{-1}
    for (int64_t t = L - 1; t >= 0; --t) {
      const float* sg = saved_g[t].data_ptr<float>();
      const float* sc = saved_c[t].data_ptr<float>();
      const float* sc_prev = t > 0 ? saved_c[t - 1].data_ptr<float>() : zeros.data_ptr<float>();
      const float* dhr = dh_rec.data_ptr<float>();
      float* dcn_all = dc_next.data_ptr<float>();
      float* dgbuf = dg.data_ptr<float>();
      at::parallel_for(0, k * R, 16, [&](int64_t begin, int64_t end) {
        for (int64_t n = begin; n < end; ++n) {
          const int64_t j = n / R, r = n % R, slot = grp.slots[j];
          const int64_t tok = geo.token(slot, r, t, L);
          const float* __restrict go = gop + (tok * ndir + slot) * D;
          const float* __restrict g = sg + n * G4;
          const float* __restrict cv = sc + n * D;
          const float* __restrict cp = sc_prev + n * D;
          const float* __restrict dhn = dhr + n * D;
          float* __restrict dcn = dcn_all + n * D;
          float* __restrict dgn = dgbuf + n * G4;
          float* __restrict dgt = dgp + (tok * ndir + slot) * G4;
#pragma omp simd
          for (int64_t e = 0; e < D; ++e) {
            const float ig = g[e], fg = g[D + e], gg = g[2 * D + e], og = g[3 * D + e];
            const float dh = go[e] + dhn[e];  // dh_rec and dc_next start as zeros
            const float tc = tanh_fast(cv[e]);
            const float dc = dh * og * (1.f - tc * tc) + dcn[e];
            const float c_prev = cp[e];
            dgn[e] = dc * gg * ig * (1.f - ig);
            dgn[D + e] = dc * c_prev * fg * (1.f - fg);
            dgn[2 * D + e] = dc * ig * (1.f - gg * gg);
            dgn[3 * D + e] = dh * tc * og * (1.f - og);
            dcn[e] = dc * fg;
          }
          std::copy(dgn, dgn + G4, dgt);
        }
      });
      if (t > 0) at::bmm_out(dh_rec, dg, w);
    }
  }
  return dgates;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "fused BiLSTM2D step loop (forward)");
  m.def("backward", &backward, "fused BiLSTM2D step loop (gate gradients)");
}
