//! A hand-written radix-2 complex FFT in f64 for the PLD accountant's T-fold composition
//! (notes/privacy_pld.md, P37), with the rounding bound (P38) that the accountant charges to
//! δ. Sequential and in a fixed order: the same input gives the same bits on every machine.

/// A complex number as `(re, im)`.
pub type Complex = (f64, f64);

/// The unit roundoff of f64, `2⁻⁵³`.
pub const UNIT_ROUNDOFF: f64 = f64::EPSILON / 2.0;

fn mul(a: Complex, b: Complex) -> Complex {
    (a.0 * b.0 - a.1 * b.1, a.0 * b.1 + a.1 * b.0)
}

/// (P37) The in-place discrete Fourier transform `X_j = Σ_k x_k·e^{∓2πijk/M}` of a slice
/// whose length M is a power of two (`inverse` takes the `+` sign and does not divide by
/// M), by iterative decimation in time: a bit-reversal permutation, then log₂M passes of
/// butterflies. Each twiddle factor is computed directly as `cos`/`sin` of its angle (not by
/// a recurrence), so its error stays within a few ulp (the μ of P38).
pub fn fft_in_place(data: &mut [Complex], inverse: bool) {
    let n = data.len();
    assert!(n.is_power_of_two(), "the FFT length must be a power of two");
    let bits = n.trailing_zeros();
    if bits == 0 {
        return;
    }
    for i in 0..n {
        let j = i.reverse_bits() >> (usize::BITS - bits);
        if i < j {
            data.swap(i, j);
        }
    }
    let sign = if inverse { 1.0 } else { -1.0 };
    // Twiddles of the largest pass; pass with span `len` uses every (n/len)-th one.
    let half = n / 2;
    let twiddles: Vec<Complex> = (0..half)
        .map(|k| {
            let angle = sign * 2.0 * std::f64::consts::PI * (k as f64) / (n as f64);
            (angle.cos(), angle.sin())
        })
        .collect();
    let mut len = 2;
    while len <= n {
        let stride = n / len;
        for start in (0..n).step_by(len) {
            for k in 0..len / 2 {
                let w = twiddles[k * stride];
                let a = data[start + k];
                let b = mul(data[start + k + len / 2], w);
                data[start + k] = (a.0 + b.0, a.1 + b.1);
                data[start + k + len / 2] = (a.0 - b.0, a.1 - b.1);
            }
        }
        len *= 2;
    }
}

/// `z^power` by repeated squaring (about 2·log₂ power complex products).
pub fn complex_power(z: Complex, mut power: u64) -> Complex {
    let mut result = (1.0, 0.0);
    let mut base = z;
    while power > 0 {
        if power & 1 == 1 {
            result = mul(result, base);
        }
        power >>= 1;
        if power > 0 {
            base = mul(base, base);
        }
    }
    result
}

/// (P38) A bound on the FFT's relative error in the 2-norm, `‖fl(FFT x) − FFT x‖₂ ≤
/// η_M·‖FFT x‖₂` with `η_M = log₂M·(μ + γ₄(√2 + μ))/(1 − log₂M·(μ + γ₄(√2 + μ)))` (Higham,
/// *Accuracy and Stability of Numerical Algorithms*, 2nd ed., Theorem 24.2), `γ₄ = 4u/(1 −
/// 4u)`, and μ = 4u for the twiddles (libm's `cos`/`sin` are within about 1 ulp; 4u leaves
/// room for the angle's own rounding).
pub fn fft_relative_error_bound(len: usize) -> f64 {
    let u = UNIT_ROUNDOFF;
    let mu = 4.0 * u;
    let gamma4 = 4.0 * u / (1.0 - 4.0 * u);
    let passes = f64::from(len.max(2).trailing_zeros());
    let eta = passes * (mu + gamma4 * (std::f64::consts::SQRT_2 + mu));
    eta / (1.0 - eta)
}

/// The plain O(n·m) linear convolution, the FFT's oracle in the tests.
pub fn naive_convolution(a: &[f64], b: &[f64]) -> Vec<f64> {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let mut out = vec![0.0; a.len() + b.len() - 1];
    for (i, &x) in a.iter().enumerate() {
        for (j, &y) in b.iter().enumerate() {
            out[i + j] += x * y;
        }
    }
    out
}

/// The linear convolution of two real sequences through [`fft_in_place`] (zero-padded to a
/// power of two at least `a.len() + b.len() − 1`, so nothing wraps).
pub fn fft_convolution(a: &[f64], b: &[f64]) -> Vec<f64> {
    if a.is_empty() || b.is_empty() {
        return Vec::new();
    }
    let out_len = a.len() + b.len() - 1;
    let n = out_len.next_power_of_two();
    let mut fa: Vec<Complex> = (0..n)
        .map(|i| (a.get(i).copied().unwrap_or(0.0), 0.0))
        .collect();
    let mut fb: Vec<Complex> = (0..n)
        .map(|i| (b.get(i).copied().unwrap_or(0.0), 0.0))
        .collect();
    fft_in_place(&mut fa, false);
    fft_in_place(&mut fb, false);
    for (x, y) in fa.iter_mut().zip(&fb) {
        *x = mul(*x, *y);
    }
    fft_in_place(&mut fa, true);
    let scale = 1.0 / n as f64;
    fa.iter().take(out_len).map(|z| z.0 * scale).collect()
}
