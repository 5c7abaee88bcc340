// Step loops of the fused BiLSTM2D on CPU. Every sequence (a column for the vertical
// directions, a row for the horizontal ones) is independent of the others, so the rows of all
// directions are split once between the threads and each thread runs its rows through every
// time step alone: per step and block of rows one small GEMM (oneDNN's brgemm micro-kernel)
// for the recurrent product and one vectorised pass for the gates, the cell update and the
// writes into the (B, H, W, ndir * D) output. No barrier or threaded matmul per step, and the
// hidden and cell states stay in the thread's cache.
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
#include <ATen/native/CPUBlas.h>

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
  int64_t B, H, W, ndir;
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
  Geometry g{gates.size(0), gates.size(1), gates.size(2), gates.size(3), orient, reverse, {}};
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

// c (m, n) = a (m, kk) @ b (kk, n), all row-major and dense. oneDNN's batch-reduce GEMM
// micro-kernel: no dispatch, no threading, meant for calls inside a parallel region.
inline void small_gemm(int64_t m, int64_t n, int64_t kk, const float* a, const float* b,
                       float* c) {
  at::native::cpublas::brgemm(m, n, kk, kk, n, n, false, a, b, c, false);
}

// Asks for [p, p + bytes) to be brought into L2 (read) ahead of use.
inline void prefetch_range(const void* p, int64_t bytes, bool write) {
  const char* c = static_cast<const char*>(p);
  for (int64_t off = 0; off < bytes; off += 64) {
    if (write) __builtin_prefetch(c + off, 1, 2);
    else __builtin_prefetch(c + off, 0, 2);
  }
}

// One row of one step: gates from the input projection gi, the folded bias bi and the
// recurrent product gr; the new cell and hidden state (hn also goes to the output on).
// Training (Save) also keeps the activated gates in act.
template <bool Save>
inline void cell_row(int64_t D, const float* __restrict gi, const float* __restrict bi,
                     const float* __restrict gr, float* __restrict hn, float* __restrict cn,
                     float* __restrict on, float* __restrict act) {
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
    if constexpr (Save) {
      act[e] = ig;
      act[D + e] = fg;
      act[2 * D + e] = gg;
      act[3 * D + e] = og;
    }
  }
}

// Rows of one thread, in time-step blocks that keep the recurrent product in cache.
constexpr int64_t kRowBlock = 128;

// Calls fn(slot index j, first row, end row) for the parts of [begin, end) (rows of all
// directions laid end to end, R per direction) that belong to one direction each.
template <typename Fn>
void for_each_direction_part(int64_t begin, int64_t end, int64_t R, const Fn& fn) {
  for (int64_t j = begin / R; j * R < end; ++j) {
    const int64_t r0 = std::max(begin, j * R) - j * R, r1 = std::min(end, (j + 1) * R) - j * R;
    if (r1 > r0) fn(j, r0, r1);
  }
}

}  // namespace

// Returns out (B, H, W, ndir * D) and, when `save`, per group the activated gates
// (L, k, rows, 4D) and the cell states (L, k, rows, D) that the backward needs.
//
// Every sequence (row) is independent of the others, so each thread runs its rows through
// all L steps on its own: one parallel region per group instead of a fork/join and a
// threaded matmul per step; h, c and the recurrent product stay in the thread's cache.
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
  const float* whp = w_hh_t.data_ptr<float>();
  std::vector<at::Tensor> results{out};

  for (const Group& grp : geo.groups) {
    const int64_t k = grp.slots.size(), R = grp.rows, L = grp.length;
    at::Tensor saved_g, saved_c;
    if (save) {
      saved_g = at::empty({L, k, R, G4}, gates.options());
      saved_c = at::empty({L, k, R, D}, gates.options());
    }
    float* sgp = save ? saved_g.data_ptr<float>() : nullptr;
    float* scp = save ? saved_c.data_ptr<float>() : nullptr;
    at::parallel_for(0, k * R, 1, [&](int64_t begin, int64_t end) {
      for_each_direction_part(begin, end, R, [&](int64_t j, int64_t r0, int64_t r1) {
        const int64_t slot = grp.slots[j], m = r1 - r0;
        const float* w = whp + slot * D * G4;
        const float* __restrict bi = biasp + slot * G4;
        std::vector<float> h(m * D, 0.f), c(m * D, 0.f), rec(kRowBlock * G4);
        for (int64_t t = 0; t < L; ++t) {
          for (int64_t b0 = 0; b0 < m; b0 += kRowBlock) {
            const int64_t mb = std::min(kRowBlock, m - b0);
            // h_{-1} = 0: rec keeps its zeros for step 0 (c_{-1} = 0: c starts as zeros).
            if (t > 0) small_gemm(mb, G4, D, h.data() + b0 * D, w, rec.data());
            for (int64_t i = 0; i < mb; ++i) {
              const int64_t r = r0 + b0 + i, n = j * R + r;
              const int64_t tok = geo.token(slot, r, t, L);
              if (t + 1 < L) {
                // A row's tokens are far apart from the next row's (W tokens for the
                // horizontal directions), too many streams for the hardware prefetcher:
                // fetch this row's next step now, it is used one pass over the rows later.
                const int64_t next = geo.token(slot, r, t + 1, L);
                prefetch_range(gin + (next * ndir + slot) * G4, G4 * sizeof(float), false);
                prefetch_range(outp + (next * ndir + slot) * D, D * sizeof(float), true);
              }
              const float* __restrict gi = gin + (tok * ndir + slot) * G4;
              const float* __restrict gr = rec.data() + i * G4;
              float* __restrict hn = h.data() + (b0 + i) * D;
              float* __restrict cn = c.data() + (b0 + i) * D;
              float* __restrict on = outp + (tok * ndir + slot) * D;
              if (save) {
                cell_row<true>(D, gi, bi, gr, hn, cn, on, sgp + (t * k * R + n) * G4);
              } else {
                cell_row<false>(D, gi, bi, gr, hn, cn, on, nullptr);
              }
              if (save) std::copy(cn, cn + D, scp + (t * k * R + n) * D);
            }
          }
        }
      });
      at::native::cpublas::brgemm_release(false);
    });
    if (save) {
      results.push_back(saved_g);
      results.push_back(saved_c);
    }
  }
  return results;
}

// Gradients of the gate pre-activations, (B, H, W, ndir, 4D), from the output gradient and
// what `forward` saved. w_hh (ndir, 4D, D) is the untransposed recurrent weight. Rows are
// independent here too: each thread runs its rows back through all steps.
at::Tensor backward(const at::Tensor& grad_out, const at::Tensor& w_hh,
                    std::vector<at::Tensor> saved, std::vector<int64_t> orient,
                    std::vector<int64_t> reverse) {
  TORCH_CHECK(grad_out.is_contiguous() && grad_out.scalar_type() == at::kFloat,
              "grad_out must be contiguous float32");
  TORCH_CHECK(w_hh.is_contiguous(), "w_hh must be contiguous");
  const int64_t D = w_hh.size(2), G4 = 4 * D;
  at::Tensor dgates = at::empty({grad_out.size(0), grad_out.size(1), grad_out.size(2),
                                 w_hh.size(0), G4}, grad_out.options());  // all written below
  const Geometry geo = make_geometry(dgates, D, orient, reverse);
  TORCH_CHECK(static_cast<int64_t>(saved.size()) == 2 * static_cast<int64_t>(geo.groups.size()),
              "saved tensors do not match the directions");
  const int64_t ndir = geo.ndir;
  float* dgp = dgates.data_ptr<float>();
  const float* gop = grad_out.data_ptr<float>();
  const float* whp = w_hh.data_ptr<float>();

  for (size_t gi_ = 0; gi_ < geo.groups.size(); ++gi_) {
    const Group& grp = geo.groups[gi_];
    TORCH_CHECK(saved[2 * gi_].is_contiguous() && saved[2 * gi_ + 1].is_contiguous(),
                "saved tensors must be contiguous");
    const float* sgp = saved[2 * gi_].data_ptr<float>();
    const float* scp = saved[2 * gi_ + 1].data_ptr<float>();
    const int64_t k = grp.slots.size(), R = grp.rows, L = grp.length;
    at::parallel_for(0, k * R, 1, [&](int64_t begin, int64_t end) {
      for_each_direction_part(begin, end, R, [&](int64_t j, int64_t r0, int64_t r1) {
        const int64_t slot = grp.slots[j], m = r1 - r0;
        const float* w = whp + slot * G4 * D;
        // dh_rec: the recurrent part of dh_t (from step t + 1); dc_next likewise for dc.
        std::vector<float> dh_rec(m * D, 0.f), dc_next(m * D, 0.f), dg(kRowBlock * G4);
        const std::vector<float> zeros(D, 0.f);  // c_{-1}
        for (int64_t t = L - 1; t >= 0; --t) {
          for (int64_t b0 = 0; b0 < m; b0 += kRowBlock) {
            const int64_t mb = std::min(kRowBlock, m - b0);
            for (int64_t i = 0; i < mb; ++i) {
              const int64_t r = r0 + b0 + i, n = j * R + r;
              const int64_t tok = geo.token(slot, r, t, L);
              if (t > 0) {  // as in the forward: the row's next (here: earlier) step
                const int64_t next = geo.token(slot, r, t - 1, L);
                prefetch_range(gop + (next * ndir + slot) * D, D * sizeof(float), false);
                prefetch_range(dgp + (next * ndir + slot) * G4, G4 * sizeof(float), true);
              }
              const float* __restrict go = gop + (tok * ndir + slot) * D;
              const float* __restrict g = sgp + (t * k * R + n) * G4;
              const float* __restrict cv = scp + (t * k * R + n) * D;
              const float* __restrict cp = t > 0 ? scp + ((t - 1) * k * R + n) * D : zeros.data();
              const float* __restrict dhn = dh_rec.data() + (b0 + i) * D;
              float* __restrict dcn = dc_next.data() + (b0 + i) * D;
              float* __restrict dgn = dg.data() + i * G4;
#pragma omp simd
              for (int64_t e = 0; e < D; ++e) {
                const float ig = g[e], fg = g[D + e], gg = g[2 * D + e], og = g[3 * D + e];
                const float dh = go[e] + dhn[e];
                const float tc = tanh_fast(cv[e]);
                const float dc = dh * og * (1.f - tc * tc) + dcn[e];
                dgn[e] = dc * gg * ig * (1.f - ig);
                dgn[D + e] = dc * cp[e] * fg * (1.f - fg);
                dgn[2 * D + e] = dc * ig * (1.f - gg * gg);
                dgn[3 * D + e] = dh * tc * og * (1.f - og);
                dcn[e] = dc * fg;
              }
              std::copy(dgn, dgn + G4, dgp + (tok * ndir + slot) * G4);
            }
            if (t > 0) small_gemm(mb, D, G4, dg.data(), w, dh_rec.data() + b0 * D);
          }
        }
      });
      at::native::cpublas::brgemm_release(false);
    });
  }
  return dgates;
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.def("forward", &forward, "fused BiLSTM2D step loop (forward)");
  m.def("backward", &backward, "fused BiLSTM2D step loop (gate gradients)");
}
