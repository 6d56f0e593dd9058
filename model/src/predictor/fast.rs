//! The screening path: the predictor's inference in plain Rust, several
//! times faster than the burn network it is folded from.
//!
//! Three things make it fast:
//!
//! 1. **Folded embeddings.** A layer's input to the LSTM gates is
//!    `[e_ty | e_kw | e_kh | e_ch | e_pos] W_ih + b`. Each part of that sum
//!    depends on one small table only, so every table is multiplied through
//!    its slice of `W_ih` once, when the path is built, and the folded
//!    tables are pre-summed in pairs (TY with CH plus the bias, KW with
//!    KH). At run time the input half of the gates is the sum of two
//!    looked-up rows of width `4 * hidden` (three with positions): no
//!    input matmul.
//! 2. **A register-blocked GEMM** for the recurrent product `h W_hh`, the
//!    only real arithmetic left (8.2 MFLOP per 40-layer architecture), and
//!    vectorised gate nonlinearities. Both are written once over `pulp`'s
//!    safe SIMD types and dispatched at run time to AVX-512, AVX2 or
//!    whatever the CPU has.
//! 3. **Length-sorted batches.** Sequences are sorted by length, so at step
//!    `t` the sequences still running are a prefix of the batch and the GEMM
//!    shrinks instead of computing masked-out rows.
//!
//! The head folds batch norm into the linear layers before it (inference
//! statistics are constants) and the epoch embedding through the first
//! layer, the same way as the layer tables.
//!
//! Outputs equal [`super::net::Net`]'s to within 1e-5 (tested); the
//! nonlinearities use a rational approximation of tanh accurate to a few
//! 1e-7.

use pulp::{Arch, Simd, WithSimd};

use super::encoding::Token;
use super::weights::{Dense, Matrix, NORM_EPSILON, Norm, Weights};

/// One predictor network, folded for fast inference.
#[derive(Debug, Clone)]
pub struct FastNet {
    hidden: usize,
    /// Folded tables, `[rows, 4 hidden]` each, pre-summed in pairs: row
    /// `ty * ratio_rows + ch` holds TY's and CH's parts plus the LSTM bias,
    /// row `kw * kernel_rows + kh` KW's and KH's.
    type_ratio: Matrix,
    kernels: Matrix,
    ratio_rows: usize,
    kernel_rows: usize,
    position: Option<Matrix>,
    /// `[hidden, 4 hidden]`, packed in column panels when the width
    /// allows it.
    recurrent: Matrix,
    packed: Option<Packed>,
    /// First head layer, batch norm folded in: the structural-feature
    /// rows of its weight, and the epoch table folded through the epoch
    /// rows with the bias added, `[epochs, head]`.
    head1: Matrix,
    epoch1: Matrix,
    head2: Dense,
    output: Dense,
    target_mean: f64,
    target_scale: f64,
}

/// `table [r, d] x w[rows offset..offset + d, :]`.
fn fold(table: &Matrix, w: &Matrix, offset: usize) -> Matrix {
    let mut out = Matrix::zeros(table.rows, w.cols);
    for r in 0..table.rows {
        let row = &mut out.data[r * w.cols..(r + 1) * w.cols];
        for (k, &e) in table.row(r).iter().enumerate() {
            for (o, &x) in row.iter_mut().zip(w.row(offset + k)) {
                *o += e * x;
            }
        }
    }
    out
}

/// `dense` followed by inference batch norm, as one dense layer.
fn fold_norm(dense: &Dense, norm: &Norm) -> Dense {
    let mut out = dense.clone();
    let cols = out.weight.cols;
    for j in 0..cols {
        let scale = norm.gamma[j] / (f64::from(norm.var[j]) + NORM_EPSILON).sqrt() as f32;
        for r in 0..out.weight.rows {
            out.weight.data[r * cols + j] *= scale;
        }
        out.bias[j] = (out.bias[j] - norm.mean[j]) * scale + norm.beta[j];
    }
    out
}

impl FastNet {
    /// Folds `w`. Costs a few small matrix products.
    pub fn new(w: &Weights) -> FastNet {
        let d = w.dims;
        let mut offset = 0;
        let mut next = |table: &Matrix, width: usize| {
            let folded = fold(table, &w.lstm_input, offset);
            offset += width;
            folded
        };
        let ty = next(&w.type_table, d.d_type);
        let kw = next(&w.kernel_table, d.d_kernel);
        let kh = next(&w.kernel_table, d.d_kernel);
        let ch = next(&w.ratio_table, d.d_ratio);
        let position = (d.d_position > 0).then(|| next(&w.position_table, d.d_position));

        // Two lookups per layer instead of four: sum the tables in pairs.
        let pairs = |a: &Matrix, b: &Matrix, bias: Option<&[f32]>| {
            let mut out = Matrix::zeros(a.rows * b.rows, a.cols);
            for (i, row) in out.data.chunks_exact_mut(a.cols).enumerate() {
                let (x, y) = (a.row(i / b.rows), b.row(i % b.rows));
                for (j, o) in row.iter_mut().enumerate() {
                    *o = x[j] + y[j] + bias.map_or(0.0, |b| b[j]);
                }
            }
            out
        };
        let type_ratio = pairs(&ty, &ch, Some(&w.lstm_bias));
        let kernels = pairs(&kw, &kh, None);

        // Head: split the first layer's rows into feature and epoch parts.
        let dense1 = fold_norm(&w.dense1, &w.norm1);
        let head = dense1.weight.cols;
        let head1 = Matrix {
            rows: d.hidden,
            cols: head,
            data: dense1.weight.data[..d.hidden * head].to_vec(),
        };
        let mut epoch1 = fold(&w.epoch_table, &dense1.weight, d.hidden);
        for r in 0..epoch1.rows {
            for (x, b) in epoch1.data[r * head..(r + 1) * head]
                .iter_mut()
                .zip(&dense1.bias)
            {
                *x += b;
            }
        }
        FastNet {
            hidden: d.hidden,
            type_ratio,
            kernels,
            ratio_rows: ch.rows,
            kernel_rows: kh.rows,
            position,
            recurrent: w.lstm_hidden.clone(),
            packed: Packed::new(&w.lstm_hidden),
            head1,
            epoch1,
            head2: fold_norm(&w.dense2, &w.norm2),
            output: w.output.clone(),
            target_mean: f64::from(w.target_mean),
            target_scale: f64::from(w.target_scale),
        }
    }

    /// Runs only the recurrent products of a batch of `batch` sequences of
    /// `steps` layers on one thread, `repeats` times: the part of
    /// [`FastNet::predict`] that no folding removes, and so its ceiling.
    pub fn recurrent_products_only(&self, batch: usize, steps: usize, repeats: usize) {
        let arch = Arch::new();
        let h = vec![0.01f32; batch * self.hidden];
        let mut gates = vec![0.0f32; batch * 4 * self.hidden];
        for _ in 0..repeats {
            for _ in 1..steps {
                let (a, c) = (&h[..], &mut gates[..]);
                match &self.packed {
                    Some(b) => arch.dispatch(PackedGemm { m: batch, a, b, c }),
                    None => arch.dispatch(Gemm {
                        m: batch,
                        k: self.hidden,
                        n: 4 * self.hidden,
                        a,
                        b: &self.recurrent.data,
                        c,
                    }),
                }
            }
        }
    }

    /// The LSTM's hidden state after each layer of one sequence, `[len,
    /// hidden]`; the last row is the structural feature the head reads.
    /// Plain scalar code: for analyses, not for screening.
    pub fn hidden_states(&self, tokens: &[Token]) -> Vec<Vec<f32>> {
        let hidden = self.hidden;
        let mut h = vec![0.0f32; hidden];
        let mut c = vec![0.0f32; hidden];
        let mut states = Vec::with_capacity(tokens.len());
        for token in tokens {
            let code = token.code;
            let (ty, ch) = (usize::from(code.ty), usize::from(code.ch));
            let (kw, kh) = (usize::from(code.kw), usize::from(code.kh));
            let mut gates: Vec<f32> = self
                .type_ratio
                .row(ty * self.ratio_rows + ch)
                .iter()
                .zip(self.kernels.row(kw * self.kernel_rows + kh))
                .map(|(a, b)| a + b)
                .collect();
            if let Some(p) = &self.position {
                let row = p.row(usize::from(token.position));
                gates.iter_mut().zip(row).for_each(|(g, x)| *g += x);
            }
            for (k, &hk) in h.iter().enumerate() {
                let row = self.recurrent.row(k);
                gates.iter_mut().zip(row).for_each(|(g, w)| *g += hk * w);
            }
            for j in 0..hidden {
                let i = sigmoid(gates[j]);
                let f = sigmoid(gates[hidden + j]);
                let g = tanh(gates[2 * hidden + j]);
                let o = sigmoid(gates[3 * hidden + j]);
                c[j] = f * c[j] + i * g;
                h[j] = o * tanh(c[j]);
            }
            states.push(h.clone());
        }
        states
    }

    /// Predicted accuracy of each sequence at its epoch. Sequences must be
    /// non-empty with codes inside the tables (see
    /// [`super::Encoding::tokens`]) and epochs below the epoch table's size.
    /// Splits the batch over `threads` threads.
    pub fn predict(&self, sequences: &[&[Token]], epochs: &[usize], threads: usize) -> Vec<f64> {
        let n = sequences.len();
        let threads = threads.clamp(1, n.max(1));
        let mut out = vec![0.0; n];
        if threads == 1 {
            self.predict_chunk(sequences, epochs, &mut out);
            return out;
        }
        let chunk = n.div_ceil(threads);
        std::thread::scope(|scope| {
            for ((seqs, eps), out) in sequences
                .chunks(chunk)
                .zip(epochs.chunks(chunk))
                .zip(out.chunks_mut(chunk))
            {
                scope.spawn(move || self.predict_chunk(seqs, eps, out));
            }
        });
        out
    }

    fn predict_chunk(&self, sequences: &[&[Token]], epochs: &[usize], out: &mut [f64]) {
        let arch = Arch::new();
        let n = sequences.len();
        let hidden = self.hidden;
        let gates_width = 4 * hidden;

        // Longest first, so running sequences are always a prefix.
        let mut order: Vec<usize> = (0..n).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(sequences[i].len()));
        let longest = order.first().map_or(0, |&i| sequences[i].len());

        let mut h = vec![0.0f32; n * hidden];
        let mut c = vec![0.0f32; n * hidden];
        let mut gates = vec![0.0f32; n * gates_width];
        for t in 0..longest {
            let active = order.partition_point(|&i| sequences[i].len() > t);

            // Input half of the gates: sum of folded table rows.
            for (r, &i) in order[..active].iter().enumerate() {
                let token = sequences[i][t];
                let code = token.code;
                let row = &mut gates[r * gates_width..(r + 1) * gates_width];
                let (ty, ch) = (usize::from(code.ty), usize::from(code.ch));
                let (kw, kh) = (usize::from(code.kw), usize::from(code.kh));
                let parts = [
                    self.type_ratio.row(ty * self.ratio_rows + ch),
                    self.kernels.row(kw * self.kernel_rows + kh),
                ];
                let position = self
                    .position
                    .as_ref()
                    .map(|p| p.row(usize::from(token.position)));
                arch.dispatch(SumRows {
                    out: row,
                    parts,
                    extra: position,
                });
            }

            // Recurrent half (nothing at the first step, where h = 0),
            // then the cell update.
            let out = &mut gates[..active * gates_width];
            let (c, h) = (&mut c[..active * hidden], &mut h[..active * hidden]);
            match &self.packed {
                _ if t == 0 => arch.dispatch(CellUpdate {
                    hidden,
                    gates: out,
                    c,
                    h,
                }),
                Some(b) => arch.dispatch(FusedStep {
                    b,
                    gates: out,
                    c,
                    h,
                }),
                None => {
                    arch.dispatch(Gemm {
                        m: active,
                        k: hidden,
                        n: gates_width,
                        a: h,
                        b: &self.recurrent.data,
                        c: out,
                    });
                    arch.dispatch(CellUpdate {
                        hidden,
                        gates: out,
                        c,
                        h,
                    });
                }
            }
        }

        // Head, on rows in sorted order.
        let head = self.head1.cols;
        let mut z1 = vec![0.0f32; n * head];
        for (r, &i) in order.iter().enumerate() {
            z1[r * head..(r + 1) * head].copy_from_slice(self.epoch1.row(epochs[i]));
        }
        arch.dispatch(Gemm {
            m: n,
            k: hidden,
            n: head,
            a: &h,
            b: &self.head1.data,
            c: &mut z1,
        });
        z1.iter_mut().for_each(|x| *x = x.max(0.0));
        let mut z2 = vec![0.0f32; n * head];
        for r in 0..n {
            z2[r * head..(r + 1) * head].copy_from_slice(&self.head2.bias);
        }
        arch.dispatch(Gemm {
            m: n,
            k: head,
            n: head,
            a: &z1,
            b: &self.head2.weight.data,
            c: &mut z2,
        });
        z2.iter_mut().for_each(|x| *x = x.max(0.0));
        for (r, &i) in order.iter().enumerate() {
            let z: f32 = z2[r * head..(r + 1) * head]
                .iter()
                .zip(&self.output.weight.data)
                .map(|(a, b)| a * b)
                .sum::<f32>()
                + self.output.bias[0];
            out[i] = self.target_mean + self.target_scale * f64::from(z);
        }
    }
}

/// `out = a + b (+ extra)`, elementwise.
struct SumRows<'a> {
    out: &'a mut [f32],
    parts: [&'a [f32]; 2],
    extra: Option<&'a [f32]>,
}

impl WithSimd for SumRows<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, _simd: S) {
        // Plain loops: inside `dispatch` they compile with the detected
        // target features, and LLVM vectorises them.
        let [a, b] = self.parts;
        for ((o, x), y) in self.out.iter_mut().zip(a).zip(b) {
            *o = x + y;
        }
        if let Some(e) = self.extra {
            for (o, x) in self.out.iter_mut().zip(e) {
                *o += x;
            }
        }
    }
}

/// `c[m, n] += a[m, k] b[k, n]`, all row-major and contiguous.
struct Gemm<'a> {
    m: usize,
    k: usize,
    n: usize,
    a: &'a [f32],
    b: &'a [f32],
    c: &'a mut [f32],
}

/// Rows per micro-kernel tile; with two vectors of columns that is 12
/// accumulators, which fits the 16 registers of AVX2.
const MR: usize = 6;

impl WithSimd for Gemm<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let Gemm { m, k, n, a, b, c } = self;
        let lanes = S::F32_LANES;
        let nr = 2 * lanes;
        let n_main = n / nr * nr;

        // Column panels of two vectors; within a panel, tiles of MR rows.
        for j in (0..n_main).step_by(nr) {
            let mut i = 0;
            while i + MR <= m {
                tile::<S, MR>(simd, k, n, &a[i * k..], b, &mut c[i * n..], j);
                i += MR;
            }
            while i < m {
                tile::<S, 1>(simd, k, n, &a[i * k..], b, &mut c[i * n..], j);
                i += 1;
            }
        }

        // Leftover columns (none for the predictor's sizes).
        if n_main < n {
            for i in 0..m {
                for p in 0..k {
                    let x = a[i * k + p];
                    for jj in n_main..n {
                        c[i * n + jj] += x * b[p * n + jj];
                    }
                }
            }
        }
    }
}

/// One `R x (2 lanes)` tile of `c` at column `j`, accumulated in registers.
#[inline(always)]
fn tile<S: Simd, const R: usize>(
    simd: S,
    k: usize,
    n: usize,
    a: &[f32],
    b: &[f32],
    c: &mut [f32],
    j: usize,
) {
    let lanes = S::F32_LANES;
    let load = |s: &[f32], at: usize| S::as_simd_f32s(&s[at..at + lanes]).0[0];
    let mut acc = [[simd.splat_f32s(0.0); 2]; R];
    for (r, acc) in acc.iter_mut().enumerate() {
        acc[0] = load(c, r * n + j);
        acc[1] = load(c, r * n + j + lanes);
    }
    for p in 0..k {
        let b0 = load(b, p * n + j);
        let b1 = load(b, p * n + j + lanes);
        for (r, acc) in acc.iter_mut().enumerate() {
            let x = simd.splat_f32s(a[r * k + p]);
            acc[0] = simd.mul_add_f32s(x, b0, acc[0]);
            acc[1] = simd.mul_add_f32s(x, b1, acc[1]);
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let at = r * n + j;
        let (out, _) = S::as_mut_simd_f32s(&mut c[at..at + 2 * lanes]);
        out[0] = acc[0];
        out[1] = acc[1];
    }
}

/// Columns per packed panel of [`Packed`]: two AVX-512 or four AVX2
/// vectors.
const PANEL: usize = 32;

/// A `[k, n]` matrix stored panel after panel, each panel the `k` rows of
/// `PANEL` consecutive columns. The GEMM reads a panel front to back; in
/// row-major order the same reads would stride `n` floats apart and
/// collide in a few L1 cache sets.
#[derive(Debug, Clone)]
struct Packed {
    k: usize,
    n: usize,
    data: Vec<f32>,
}

impl Packed {
    /// `None` unless the width is a whole number of panels.
    fn new(b: &Matrix) -> Option<Packed> {
        if !b.cols.is_multiple_of(PANEL) {
            return None;
        }
        let mut data = Vec::with_capacity(b.rows * b.cols);
        for j in (0..b.cols).step_by(PANEL) {
            for p in 0..b.rows {
                data.extend_from_slice(&b.row(p)[j..j + PANEL]);
            }
        }
        Some(Packed {
            k: b.rows,
            n: b.cols,
            data,
        })
    }
}

/// `c[m, n] += a[m, k] b[k, n]` with `b` packed.
struct PackedGemm<'a> {
    m: usize,
    a: &'a [f32],
    b: &'a Packed,
    c: &'a mut [f32],
}

impl WithSimd for PackedGemm<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        // Tiles sized to the register file: 8 x 2 vectors of 16 lanes
        // (AVX-512, 32 registers), 3 x 4 vectors of 8 (AVX2, 16).
        match S::F32_LANES {
            16 => packed_gemm::<S, 8, 2>(simd, self),
            8 => packed_gemm::<S, 3, 4>(simd, self),
            _ => {
                let PackedGemm { m, a, b, c } = self;
                let (k, n) = (b.k, b.n);
                for (panel, bp) in b.data.chunks_exact(k * PANEL).enumerate() {
                    for i in 0..m {
                        let row = &mut c[i * n + panel * PANEL..][..PANEL];
                        for p in 0..k {
                            let x = a[i * k + p];
                            for (o, w) in row.iter_mut().zip(&bp[p * PANEL..][..PANEL]) {
                                *o += x * w;
                            }
                        }
                    }
                }
            }
        }
    }
}

#[inline(always)]
fn packed_gemm<S: Simd, const R: usize, const NV: usize>(simd: S, g: PackedGemm<'_>) {
    let PackedGemm { m, a, b, c } = g;
    let (k, n) = (b.k, b.n);
    for (panel, bp) in b.data.chunks_exact(k * PANEL).enumerate() {
        let col = panel * PANEL;
        let mut i = 0;
        while i + R <= m {
            packed_tile::<S, R, NV>(simd, k, n, &a[i * k..], bp, &mut c[i * n + col..]);
            i += R;
        }
        while i < m {
            packed_tile::<S, 1, NV>(simd, k, n, &a[i * k..], bp, &mut c[i * n + col..]);
            i += 1;
        }
    }
}

/// One `R x PANEL` tile of `c` (row stride `n`) from a packed panel.
#[inline(always)]
fn packed_tile<S: Simd, const R: usize, const NV: usize>(
    simd: S,
    k: usize,
    n: usize,
    a: &[f32],
    panel: &[f32],
    c: &mut [f32],
) {
    let mut acc = [[simd.splat_f32s(0.0); NV]; R];
    for (r, acc) in acc.iter_mut().enumerate() {
        let (row, _) = S::as_simd_f32s(&c[r * n..r * n + PANEL]);
        acc.copy_from_slice(&row[..NV]);
    }
    for (p, bp) in panel.chunks_exact(PANEL).take(k).enumerate() {
        let (bv, _) = S::as_simd_f32s(bp);
        for (r, acc) in acc.iter_mut().enumerate() {
            let x = simd.splat_f32s(a[r * k + p]);
            for v in 0..NV {
                acc[v] = simd.mul_add_f32s(x, bv[v], acc[v]);
            }
        }
    }
    for (r, acc) in acc.iter().enumerate() {
        let (row, _) = S::as_mut_simd_f32s(&mut c[r * n..r * n + PANEL]);
        row[..NV].copy_from_slice(acc);
    }
}

/// One LSTM step with packed recurrent weights, a block of rows at a
/// time: the block's gates (input half already in `gates`) get the
/// recurrent product, then the block's cell update runs while its gates
/// are still in L1. A block's product reads only the block's own rows of
/// `h`, so the update may overwrite them.
struct FusedStep<'a> {
    b: &'a Packed,
    gates: &'a mut [f32],
    c: &'a mut [f32],
    h: &'a mut [f32],
}

impl WithSimd for FusedStep<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        match S::F32_LANES {
            16 => fused_step::<S, 8, 2>(simd, self),
            8 => fused_step::<S, 3, 4>(simd, self),
            _ => {
                let FusedStep { b, gates, c, h } = self;
                let hidden = b.k;
                let m = h.len() / hidden;
                PackedGemm {
                    m,
                    a: h,
                    b,
                    c: gates,
                }
                .with_simd(simd);
                CellUpdate {
                    hidden,
                    gates,
                    c,
                    h,
                }
                .with_simd(simd);
            }
        }
    }
}

#[inline(always)]
fn fused_step<S: Simd, const R: usize, const NV: usize>(simd: S, step: FusedStep<'_>) {
    let FusedStep { b, gates, c, h } = step;
    let (k, n) = (b.k, b.n);
    let blocks = gates
        .chunks_mut(R * n)
        .zip(c.chunks_mut(R * k))
        .zip(h.chunks_mut(R * k));
    for ((gates, c), h) in blocks {
        let rows = h.len() / k;
        for (panel, bp) in b.data.chunks_exact(k * PANEL).enumerate() {
            let col = panel * PANEL;
            if rows == R {
                packed_tile::<S, R, NV>(simd, k, n, h, bp, &mut gates[col..]);
            } else {
                for r in 0..rows {
                    let out = &mut gates[r * n + col..];
                    packed_tile::<S, 1, NV>(simd, k, n, &h[r * k..], bp, out);
                }
            }
        }
        CellUpdate {
            hidden: k,
            gates,
            c,
            h,
        }
        .with_simd(simd);
    }
}

/// LSTM cell update for each row: gates `[i | f | g | o]` in, `c` and `h`
/// updated in place.
struct CellUpdate<'a> {
    hidden: usize,
    gates: &'a [f32],
    c: &'a mut [f32],
    h: &'a mut [f32],
}

impl WithSimd for CellUpdate<'_> {
    type Output = ();

    #[inline(always)]
    fn with_simd<S: Simd>(self, simd: S) {
        let hidden = self.hidden;
        let rows = self.c.len() / hidden;
        for r in 0..rows {
            let g = &self.gates[r * 4 * hidden..(r + 1) * 4 * hidden];
            let c = &mut self.c[r * hidden..(r + 1) * hidden];
            let h = &mut self.h[r * hidden..(r + 1) * hidden];
            let (gi, rest) = g.split_at(hidden);
            let (gf, rest) = rest.split_at(hidden);
            let (gg, go) = rest.split_at(hidden);

            let (ci, ct) = S::as_mut_simd_f32s(c);
            let (hi, ht) = S::as_mut_simd_f32s(h);
            let (gi_v, gi_t) = S::as_simd_f32s(gi);
            let (gf_v, gf_t) = S::as_simd_f32s(gf);
            let (gg_v, gg_t) = S::as_simd_f32s(gg);
            let (go_v, go_t) = S::as_simd_f32s(go);
            let half = simd.splat_f32s(0.5);
            for v in 0..ci.len() {
                // Four tanh as numerator / denominator, then one division
                // for all four: 1/q_i = q_f q_g q_o / (q_i q_f q_g q_o).
                // Divisions cost several times a multiply.
                let (pi, qi) = tanh_ratio(simd, simd.mul_f32s(half, gi_v[v]));
                let (pf, qf) = tanh_ratio(simd, simd.mul_f32s(half, gf_v[v]));
                let (pg, qg) = tanh_ratio(simd, gg_v[v]);
                let (po, qo) = tanh_ratio(simd, simd.mul_f32s(half, go_v[v]));
                let (qif, qgo) = (simd.mul_f32s(qi, qf), simd.mul_f32s(qg, qo));
                let inv = simd.div_f32s(simd.splat_f32s(1.0), simd.mul_f32s(qif, qgo));
                let (inv_if, inv_go) = (simd.mul_f32s(inv, qgo), simd.mul_f32s(inv, qif));
                let sig = |p, other_q, inv_pair| {
                    let t = simd.mul_f32s(p, simd.mul_f32s(other_q, inv_pair));
                    simd.mul_add_f32s(half, t, half)
                };
                let i = sig(pi, qf, inv_if);
                let f = sig(pf, qi, inv_if);
                let o = sig(po, qg, inv_go);
                let cand = simd.mul_f32s(pg, simd.mul_f32s(qo, inv_go));
                let cell = simd.mul_add_f32s(f, ci[v], simd.mul_f32s(i, cand));
                ci[v] = cell;
                hi[v] = simd.mul_f32s(o, tanh_simd(simd, cell));
            }
            for v in 0..ct.len() {
                let i = sigmoid(gi_t[v]);
                let f = sigmoid(gf_t[v]);
                let o = sigmoid(go_t[v]);
                let cell = f * ct[v] + i * tanh(gg_t[v]);
                ct[v] = cell;
                ht[v] = o * tanh(cell);
            }
        }
    }
}

/// Beyond this |x|, tanh(x) is 1 to within 3e-7 in f32.
const TANH_CLAMP: f32 = 7.905_311;

// Rational minimax approximation of tanh on [-TANH_CLAMP, TANH_CLAMP]
// (numerator odd, degree 13; denominator even, degree 6), the one Eigen
// uses for float; checked against `f32::tanh` in the tests below.
const ALPHA: [f32; 7] = [
    4.893_524_6e-3,
    6.372_619_3e-4,
    1.485_722_4e-5,
    5.122_297e-8,
    -8.604_672e-11,
    2.000_188e-13,
    -2.760_768_5e-16,
];
const BETA: [f32; 4] = [4.893_525e-3, 2.268_434_6e-3, 1.185_347_1e-4, 1.198_258_4e-6];

/// Numerator and denominator of the rational tanh of `x`.
#[inline(always)]
fn tanh_ratio<S: Simd>(simd: S, x: S::f32s) -> (S::f32s, S::f32s) {
    let x = simd.min_f32s(
        simd.max_f32s(x, simd.splat_f32s(-TANH_CLAMP)),
        simd.splat_f32s(TANH_CLAMP),
    );
    let x2 = simd.mul_f32s(x, x);
    let mut p = simd.splat_f32s(ALPHA[6]);
    for &a in ALPHA[..6].iter().rev() {
        p = simd.mul_add_f32s(p, x2, simd.splat_f32s(a));
    }
    let p = simd.mul_f32s(p, x);
    let mut q = simd.splat_f32s(BETA[3]);
    for &b in BETA[..3].iter().rev() {
        q = simd.mul_add_f32s(q, x2, simd.splat_f32s(b));
    }
    (p, q)
}

#[inline(always)]
fn tanh_simd<S: Simd>(simd: S, x: S::f32s) -> S::f32s {
    let (p, q) = tanh_ratio(simd, x);
    simd.div_f32s(p, q)
}

/// Scalar twin of [`tanh_simd`], for tails.
fn tanh(x: f32) -> f32 {
    let x = x.clamp(-TANH_CLAMP, TANH_CLAMP);
    let x2 = x * x;
    let p = ALPHA.iter().rev().fold(0.0, |acc, &a| acc * x2 + a) * x;
    let q = BETA.iter().rev().fold(0.0, |acc, &b| acc * x2 + b);
    p / q
}

fn sigmoid(x: f32) -> f32 {
    0.5 * tanh(0.5 * x) + 0.5
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rational_tanh_is_accurate() {
        let mut worst = 0.0f32;
        for i in -20_000..=20_000 {
            let x = i as f32 * 1e-3;
            worst = worst.max((tanh(x) - x.tanh()).abs());
            worst = worst.max((sigmoid(x) - 1.0 / (1.0 + (-x).exp())).abs());
        }
        assert!(worst < 1e-6, "worst error {worst}");

        // The SIMD version computes the same thing.
        let xs: Vec<f32> = (-100..100).map(|i| i as f32 * 0.13).collect();
        struct Apply<'a>(&'a mut [f32]);
        impl WithSimd for Apply<'_> {
            type Output = ();
            fn with_simd<S: Simd>(self, simd: S) {
                let (head, tail) = S::as_mut_simd_f32s(self.0);
                for v in head {
                    *v = tanh_simd(simd, *v);
                }
                for x in tail {
                    *x = tanh(*x);
                }
            }
        }
        let mut ys = xs.clone();
        Arch::new().dispatch(Apply(&mut ys));
        for (x, y) in xs.iter().zip(&ys) {
            assert!((y - x.tanh()).abs() < 1e-6, "tanh({x}) = {y}");
        }
    }

    #[test]
    fn gemm_matches_naive() {
        for (m, k, n) in [
            (1, 3, 5),
            (7, 16, 64),
            (13, 9, 40),
            (6, 160, 640),
            (17, 5, 96),
        ] {
            let a: Vec<f32> = (0..m * k).map(|i| (i % 7) as f32 - 3.0).collect();
            let b: Vec<f32> = (0..k * n).map(|i| (i % 5) as f32 * 0.5).collect();
            let mut c: Vec<f32> = (0..m * n).map(|i| i as f32).collect();
            let mut expected = c.clone();
            for i in 0..m {
                for p in 0..k {
                    for j in 0..n {
                        expected[i * n + j] += a[i * k + p] * b[p * n + j];
                    }
                }
            }
            Arch::new().dispatch(Gemm {
                m,
                k,
                n,
                a: &a,
                b: &b,
                c: &mut c,
            });
            assert_eq!(c, expected, "{m}x{k}x{n}");
        }
    }
}
