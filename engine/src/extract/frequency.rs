//! Ridge frequency: the local ridge period per block, from the grey levels sampled across
//! the ridges in an oriented window (the "x-signature" of Hong, Wan and Jain, 1998), with
//! implausible estimates replaced by a smoothed value from their neighbours.

use super::orientation::OrientationField;
use super::params::*;
use super::plane::{Plane, blur};
use super::segmentation::Blocks;

#[cfg(target_arch = "x86_64")]
mod avx2;

/// Samples along the ridge per signature bin.
const ALONG: usize = FREQUENCY_WIDTH / 2;

/// The signature bin at (x, y): the image sampled bilinearly at every other pixel along
/// the ridge from −width/2, summed in order — lane by lane the arithmetic of
/// [`Plane::sample`], laid out so that the positions, fractions and weights vectorise; a
/// point outside the plane's interior sends the whole bin to `sample`'s clamped path.
#[inline(always)]
fn bin(image: &Plane, x: f32, y: f32, along_x: f32, along_y: f32) -> f32 {
    let (mut x0, mut y0) = ([0.0f32; ALONG], [0.0f32; ALONG]);
    let (mut fx, mut fy) = ([0.0f32; ALONG], [0.0f32; ALONG]);
    for m in 0..ALONG {
        let j = (2 * m) as f32 - FREQUENCY_WIDTH as f32 / 2.0;
        let (px, py) = (x + j * along_x, y + j * along_y);
        (x0[m], y0[m]) = (px.floor(), py.floor());
        (fx[m], fy[m]) = (px - x0[m], py - y0[m]);
    }
    let (w, h) = (image.width as f32, image.height as f32);
    // Without stopping early, so that the test vectorises.
    let mut inside = true;
    for m in 0..ALONG {
        inside &= (x0[m] >= 0.0) & (y0[m] >= 0.0) & (x0[m] + 1.0 < w) & (y0[m] + 1.0 < h);
    }
    let mut acc = 0.0;
    if !inside {
        for m in 0..ALONG {
            let j = (2 * m) as f32 - FREQUENCY_WIDTH as f32 / 2.0;
            acc += image.sample(x + j * along_x, y + j * along_y);
        }
        return acc;
    }
    let (mut tl, mut tr, mut bl, mut br) = (
        [0.0f32; ALONG],
        [0.0f32; ALONG],
        [0.0f32; ALONG],
        [0.0f32; ALONG],
    );
    for m in 0..ALONG {
        let i = y0[m] as usize * image.width + x0[m] as usize;
        let d = &image.data[i..i + image.width + 2];
        (tl[m], tr[m]) = (d[0], d[1]);
        (bl[m], br[m]) = (d[image.width], d[image.width + 1]);
    }
    let mut v = [0.0f32; ALONG];
    for m in 0..ALONG {
        let a = tl[m] * (1.0 - fx[m]) + tr[m] * fx[m];
        let b = bl[m] * (1.0 - fx[m]) + br[m] * fx[m];
        v[m] = a * (1.0 - fy[m]) + b * fy[m];
    }
    for value in v {
        acc += value;
    }
    acc
}

/// Bin `k` of the signature of the block centred at (cx, cy) with the ridge along
/// (along_x, along_y): [`bin`] at `k − FREQUENCY_WINDOW / 2` pixels across the ridge.
#[inline(always)]
fn signature_bin(
    image: &Plane,
    (cx, cy): (f32, f32),
    (along_x, along_y): (f32, f32),
    k: usize,
) -> f32 {
    let t = k as f32 - FREQUENCY_WINDOW as f32 / 2.0;
    // Across the ridge: the direction along it turned by a quarter.
    let (across_x, across_y) = (-along_y, along_x);
    bin(
        image,
        cx + t * across_x,
        cy + t * across_y,
        along_x,
        along_y,
    )
}

/// The signature of the block centred at `centre`, bin by bin [`signature_bin`]: eight
/// bins at a time where the processor has AVX2 (`avx2::signature`, the same values).
#[inline(always)]
#[allow(unsafe_code)]
fn block_signature(
    image: &Plane,
    centre: (f32, f32),
    along: (f32, f32),
) -> [f32; FREQUENCY_WINDOW] {
    #[cfg(target_arch = "x86_64")]
    if avx2::available() {
        // SAFETY: the processor has AVX2 (checked just above).
        return unsafe { avx2::signature(image, centre, along) };
    }
    std::array::from_fn(|k| signature_bin(image, centre, along, k))
}

/// The ridge period per block, and how much of each block's signature is a regular wave.
#[derive(Debug, Clone)]
pub struct RidgeFrequency {
    /// Pixels per ridge, per block (smoothed, gaps filled; meaningful on the foreground).
    pub period: Plane,
    /// Per foreground block, 0–1: the largest share of the signature's variance that one
    /// sinusoid of a plausible ridge period explains (`Waves::ridge_signals`); 0 on the
    /// background. Ridges score about 0.5–0.9; handwriting, printed text, ruled lines and
    /// bare paper, which can pass the grey-level test of segmentation, score low.
    pub signal: Plane,
}

/// The ridge period (pixels per ridge) per block, and the ridge signal.
///
/// Dispatched at run time to an AVX-512, AVX2 + FMA or NEON build (the same values; on
/// Zen 5 the AVX-512 build took the step from 1.18 to 0.93-0.97 ms, the AVX2 one 1.17).
#[multiversion::multiversion(targets(
    "x86_64+avx512f+avx512bw+avx512vl+avx512dq+avx2+fma",
    "x86_64+avx2+fma",
    "aarch64+neon"
))]
pub fn estimate(image: &Plane, blocks: &Blocks, field: &OrientationField) -> RidgeFrequency {
    let (bw, bh) = (blocks.bw, blocks.bh);
    let waves = Waves::get();
    let mut period = Plane::filled(bw, bh, 0.0);
    let mut signal = Plane::filled(bw, bh, 0.0);
    let mut weight = Plane::filled(bw, bh, 0.0);
    // Signatures waiting for their ridge signal, worked out SIGNAL_BATCH at a time.
    let mut batch = [[0.0f32; FREQUENCY_WINDOW]; SIGNAL_BATCH];
    let mut batched = [0usize; SIGNAL_BATCH];
    let mut count = 0;
    for by in 0..bh {
        for bx in 0..bw {
            let i = by * bw + bx;
            if !blocks.foreground[i] {
                continue;
            }
            let theta = field.angle(bx, by);
            let (along_x, along_y) = (theta.cos(), theta.sin());
            let (cx, cy) = (
                (bx * BLOCK) as f32 + BLOCK as f32 / 2.0,
                (by * BLOCK) as f32 + BLOCK as f32 / 2.0,
            );
            let signature = block_signature(image, (cx, cy), (along_x, along_y));
            if let Some(p) = period_of(&signature) {
                period.data[i] = p;
                weight.data[i] = field.coherence.data[i].max(0.05);
            }
            (batch[count], batched[count]) = (signature, i);
            count += 1;
            if count == SIGNAL_BATCH {
                waves.write_signals(&batch, &batched, &mut signal);
                count = 0;
            }
        }
    }
    if count > 0 {
        waves.write_signals(&batch, &batched[..count], &mut signal);
    }
    // Weighted smoothing: valid estimates spread into their neighbours and replace the
    // invalid ones; the median stands in where nothing is near.
    let mut valid: Vec<f32> = period.data.iter().copied().filter(|&p| p > 0.0).collect();
    valid.sort_by(f32::total_cmp);
    let median = valid.get(valid.len() / 2).copied().unwrap_or(9.0);
    let mut weighted = period.clone();
    for (v, w) in weighted.data.iter_mut().zip(&weight.data) {
        *v *= w;
    }
    let (num, den) = (
        blur(&weighted, FREQUENCY_SIGMA_BLOCKS),
        blur(&weight, FREQUENCY_SIGMA_BLOCKS),
    );
    for i in 0..bw * bh {
        period.data[i] = if den.data[i] > 1e-3 {
            num.data[i] / den.data[i]
        } else {
            median
        };
    }
    RidgeFrequency { period, signal }
}

/// Signatures whose ridge signals are worked out together.
const SIGNAL_BATCH: usize = 16;

/// Lanes of the ridge signal's tables: the candidate periods, padded with zeros to a
/// vector's width.
const WAVE_LANES: usize = 16;
const _: () = assert!(RIDGE_SIGNAL_PERIODS.len() <= WAVE_LANES);

/// Cosine and sine tables of the candidate ridge periods over a signature's samples, laid
/// out sample by sample with the periods side by side (padded to a vector's width for the
/// tests' one-signature reference, `ridge_signal`; `ridge_signals` reads the periods one
/// at a time and puts signatures side by side instead).
struct Waves {
    cos: [[f32; WAVE_LANES]; FREQUENCY_WINDOW],
    sin: [[f32; WAVE_LANES]; FREQUENCY_WINDOW],
}

impl Waves {
    /// The tables, built once outside the run-time dispatch (as the Gabor bank is), so
    /// that every build reads the same values.
    fn get() -> &'static Waves {
        static WAVES: std::sync::OnceLock<Waves> = std::sync::OnceLock::new();
        WAVES.get_or_init(Waves::new)
    }

    fn new() -> Self {
        let mut w = Waves {
            cos: [[0.0; WAVE_LANES]; FREQUENCY_WINDOW],
            sin: [[0.0; WAVE_LANES]; FREQUENCY_WINDOW],
        };
        // In f64, rounded once to f32, and outside the dispatched code: the first version
        // built f32 tables inside it, and its AVX-512 build computed other signals than its
        // scalar build (the test `the_dispatched_ridge_signal_is_the_scalar_one_...`).
        for k in 0..FREQUENCY_WINDOW {
            for (j, &p) in RIDGE_SIGNAL_PERIODS.iter().enumerate() {
                let a = std::f64::consts::TAU * k as f64 / f64::from(p);
                (w.sin[k][j], w.cos[k][j]) = (a.sin() as f32, a.cos() as f32);
            }
        }
        w
    }

    /// Writes the ridge signals of the first `blocks.len()` signatures into their blocks of
    /// `signal` ([`Waves::ridge_signals`]).
    #[inline(always)]
    fn write_signals(
        &self,
        signatures: &[[f32; FREQUENCY_WINDOW]; SIGNAL_BATCH],
        blocks: &[usize],
        signal: &mut Plane,
    ) {
        for (&i, &v) in blocks.iter().zip(&self.ridge_signals(signatures)) {
            signal.data[i] = v;
        }
    }

    /// `Waves::ridge_signal` (the tests' reference) of `SIGNAL_BATCH` signatures at once,
    /// a vector lane per signature: each lane's operations are those of `ridge_signal`,
    /// in the same order, so the values are the same (tested). One signature alone is a
    /// chain of dependent additions (its sum, its energy, each projection over 32
    /// samples); side by side, the chains of 16 signatures advance together. (The table's
    /// padding lanes are left out: their projections are 0, which never raises the best.)
    #[inline(always)]
    fn ridge_signals(
        &self,
        signatures: &[[f32; FREQUENCY_WINDOW]; SIGNAL_BATCH],
    ) -> [f32; SIGNAL_BATCH] {
        type Lanes = [f32; SIGNAL_BATCH];
        let n = FREQUENCY_WINDOW as f32;
        // Sample by sample, the signatures side by side.
        let mut samples = [[0.0f32; SIGNAL_BATCH]; FREQUENCY_WINDOW];
        for (b, signature) in signatures.iter().enumerate() {
            for (k, &v) in signature.iter().enumerate() {
                samples[k][b] = v;
            }
        }
        // `Iterator::sum`'s first value, -0.0 (0.0 + -0.0 would be 0.0).
        let mut mean: Lanes = [-0.0; SIGNAL_BATCH];
        for row in &samples {
            for b in 0..SIGNAL_BATCH {
                mean[b] += row[b];
            }
        }
        for m in &mut mean {
            *m /= n;
        }
        let mut energy: Lanes = [0.0; SIGNAL_BATCH];
        for row in &mut samples {
            for b in 0..SIGNAL_BATCH {
                row[b] -= mean[b];
                energy[b] += row[b] * row[b];
            }
        }
        let mut best: Lanes = [0.0; SIGNAL_BATCH];
        for j in 0..RIDGE_SIGNAL_PERIODS.len() {
            let (mut c, mut d): (Lanes, Lanes) = ([0.0; SIGNAL_BATCH], [0.0; SIGNAL_BATCH]);
            for (k, row) in samples.iter().enumerate() {
                let (cos, sin) = (self.cos[k][j], self.sin[k][j]);
                for b in 0..SIGNAL_BATCH {
                    c[b] += row[b] * cos;
                    d[b] += row[b] * sin;
                }
            }
            for b in 0..SIGNAL_BATCH {
                best[b] = best[b].max(c[b] * c[b] + d[b] * d[b]);
            }
        }
        std::array::from_fn(|b| {
            if energy[b] <= 1e-6 {
                0.0
            } else {
                (best[b] / (0.5 * n * energy[b])).min(1.0)
            }
        })
    }

    /// The largest share of the signature's variance explained by one sinusoid of a
    /// candidate period: (c² + d²) / (n/2 · Σ(s − s̄)²), with c and d its projections on
    /// the cosine and the sine; 0–1 (clamped: the tables are not exactly orthogonal over a
    /// window that holds no whole number of periods). [`Waves::ridge_signals`] gives the
    /// same values for many signatures at once.
    #[cfg(test)]
    fn ridge_signal(&self, signature: &[f32; FREQUENCY_WINDOW]) -> f32 {
        let n = FREQUENCY_WINDOW as f32;
        let mean = signature.iter().sum::<f32>() / n;
        let mut centred = [0.0f32; FREQUENCY_WINDOW];
        let mut energy = 0.0;
        for (c, &s) in centred.iter_mut().zip(signature) {
            *c = s - mean;
            energy += *c * *c;
        }
        if energy <= 1e-6 {
            return 0.0;
        }
        let (mut c, mut d) = ([0.0f32; WAVE_LANES], [0.0f32; WAVE_LANES]);
        for (k, &v) in centred.iter().enumerate() {
            for j in 0..WAVE_LANES {
                c[j] += v * self.cos[k][j];
                d[j] += v * self.sin[k][j];
            }
        }
        let mut best = 0.0f32;
        for j in 0..WAVE_LANES {
            best = best.max(c[j] * c[j] + d[j] * d[j]);
        }
        (best / (0.5 * n * energy)).min(1.0)
    }
}

/// The mean distance between the maxima of a signature, if it is a plausible period.
///
/// Written without data-dependent branches or index clamps (the first version's clamped
/// neighbours became gathers and its peak test a branch per bin): the ends of the
/// smoothing are worked out apart, and the peaks are the set bits of a mask. The same
/// values as `period_of_bin_by_bin`, the first version, kept for the tests.
#[inline(always)]
fn period_of(signature: &[f32; FREQUENCY_WINDOW]) -> Option<f32> {
    const N: usize = FREQUENCY_WINDOW;
    // Light smoothing against pixel noise, the ends repeating their own value.
    let smooth = |a: f32, b: f32, c: f32| 0.25 * a + 0.5 * b + 0.25 * c;
    let mut s = [0.0f32; N];
    s[0] = smooth(signature[0], signature[0], signature[1]);
    for i in 1..N - 1 {
        s[i] = smooth(signature[i - 1], signature[i], signature[i + 1]);
    }
    s[N - 1] = smooth(signature[N - 2], signature[N - 1], signature[N - 1]);
    let (mut min, mut max) = (f32::MAX, f32::MIN);
    for &v in &s {
        (min, max) = (min.min(v), max.max(v));
    }
    if max - min < 1e-3 {
        return None;
    }
    // Only the first and last peak and their count make the period.
    let floor = min + 0.3 * (max - min);
    let mut peaks = 0u32;
    for i in 1..N - 1 {
        let peak = s[i] > s[i - 1] && s[i] >= s[i + 1] && s[i] > floor;
        peaks |= u32::from(peak) << i;
    }
    let count = peaks.count_ones();
    if count < 2 {
        return None;
    }
    let (first, last) = (peaks.trailing_zeros(), 31 - peaks.leading_zeros());
    let p = (last as f32 - first as f32) / (count - 1) as f32;
    (PERIOD_RANGE.0..=PERIOD_RANGE.1).contains(&p).then_some(p)
}
const _: () = assert!(FREQUENCY_WINDOW <= 32);

/// The first version of [`period_of`], bin by bin: the reference its tests compare with.
#[cfg(test)]
fn period_of_bin_by_bin(signature: &[f32]) -> Option<f32> {
    let n = signature.len();
    let mut s = [0.0f32; FREQUENCY_WINDOW];
    for i in 0..n {
        let a = signature[i.saturating_sub(1)];
        let c = signature[(i + 1).min(n - 1)];
        s[i] = 0.25 * a + 0.5 * signature[i] + 0.25 * c;
    }
    let (min, max) = s[..n]
        .iter()
        .fold((f32::MAX, f32::MIN), |(lo, hi), &v| (lo.min(v), hi.max(v)));
    if max - min < 1e-3 {
        return None;
    }
    let (mut first, mut last, mut peaks) = (0.0f32, 0.0f32, 0usize);
    for i in 1..n - 1 {
        if s[i] > s[i - 1] && s[i] >= s[i + 1] && s[i] > min + 0.3 * (max - min) {
            if peaks == 0 {
                first = i as f32;
            }
            last = i as f32;
            peaks += 1;
        }
    }
    if peaks < 2 {
        return None;
    }
    let p = (last - first) / (peaks - 1) as f32;
    (PERIOD_RANGE.0..=PERIOD_RANGE.1).contains(&p).then_some(p)
}

/// A plane of grey levels from `lowest` to `lowest + 255`, `next()` times 255 above it
/// pixel by pixel: the tests' images.
#[cfg(test)]
fn random_plane(width: usize, height: usize, lowest: f32, next: &mut impl FnMut() -> f32) -> Plane {
    Plane {
        width,
        height,
        data: (0..width * height)
            .map(|_| lowest + 255.0 * next())
            .collect(),
    }
}

#[cfg(test)]
mod tests {
    use super::super::plane::{rings, xorshift32};
    use super::*;

    #[test]
    fn signals_side_by_side_are_those_of_one_signature_at_a_time() {
        let waves = Waves::new();
        let mut seed = 0x7f4a_7c15_u32;
        let mut next = move || xorshift32(&mut seed) as f32 / u32::MAX as f32;
        for n in 0..2_000 {
            let batch: [[f32; FREQUENCY_WINDOW]; SIGNAL_BATCH] = std::array::from_fn(|b| {
                let period = 3.0 + 15.0 * next();
                let (height, noise) = (100.0 * next(), 60.0 * next());
                std::array::from_fn(|k| match (n + b) % 5 {
                    // Flat (no energy), nearly flat, and plain noise.
                    0 => 7.0,
                    1 => 1e-4 * next(),
                    2 => noise * (next() - 0.5),
                    _ => {
                        height * (std::f32::consts::TAU * k as f32 / period).sin()
                            + noise * (next() - 0.5)
                    }
                })
            });
            let together = waves.ridge_signals(&batch);
            for (b, signature) in batch.iter().enumerate() {
                assert_eq!(
                    together[b].to_bits(),
                    waves.ridge_signal(signature).to_bits(),
                    "{signature:?}"
                );
            }
        }
    }

    #[test]
    fn the_period_from_a_peak_mask_is_the_bin_by_bin_one() {
        let mut seed = 0x51ed_270b_u32;
        let mut next = move || xorshift32(&mut seed) as f32 / u32::MAX as f32;
        let mut found = 0;
        for n in 0..50_000 {
            // Waves of every plausible period and phase, with noise; flat and nearly
            // flat ones; plateaus (equal neighbours) from coarse steps.
            let period = 3.0 + 15.0 * next();
            let (phase, noise, height) = (next() * 7.0, next() * 40.0, next() * 100.0);
            let signature: [f32; FREQUENCY_WINDOW] = std::array::from_fn(|k| {
                let v = height * (std::f32::consts::TAU * k as f32 / period + phase).sin()
                    + noise * (next() - 0.5);
                match n % 4 {
                    0 => (v / 8.0).round() * 8.0,
                    1 => v * 1e-5,
                    _ => v,
                }
            });
            let expected = period_of_bin_by_bin(&signature);
            assert_eq!(
                period_of(&signature).map(f32::to_bits),
                expected.map(f32::to_bits),
                "{signature:?}"
            );
            found += usize::from(expected.is_some());
        }
        assert!((10_000..45_000).contains(&found), "{found} periods found");
    }

    #[test]
    fn the_dispatched_ridge_signal_is_the_scalar_one_of_the_same_signatures() {
        // Curved ridges fading into noise: every block's signal from `estimate` (the AVX-512,
        // AVX2 or NEON build the machine runs) against `Waves::ridge_signal` here.
        let w = 320;
        // Ridges on the left, fading into noise on the right.
        let fade = |x: f32| (1.0 - x / w as f32).max(0.0);
        let img = rings(
            (w, 320),
            (30.0, -40.0),
            9.3,
            (70.0, 60.0),
            fade,
            (120, 0x2545_f491),
        );
        let blocks = crate::extract::segmentation::segment(&img);
        let plane = crate::extract::normalise(&img, &blocks);
        let field = crate::extract::orientation::estimate(&plane, &blocks);
        let signal = estimate(&plane, &blocks, &field).signal;
        let waves = Waves::new();
        let mut compared = 0;
        for by in 0..blocks.bh {
            for bx in 0..blocks.bw {
                let i = by * blocks.bw + bx;
                if !blocks.foreground[i] {
                    continue;
                }
                let theta = field.angle(bx, by);
                let (along_x, along_y) = (theta.cos(), theta.sin());
                let (cx, cy) = (
                    (bx * BLOCK) as f32 + BLOCK as f32 / 2.0,
                    (by * BLOCK) as f32 + BLOCK as f32 / 2.0,
                );
                let signature: [f32; FREQUENCY_WINDOW] = std::array::from_fn(|k| {
                    let t = k as f32 - FREQUENCY_WINDOW as f32 / 2.0;
                    bin(&plane, cx - t * along_y, cy + t * along_x, along_x, along_y)
                });
                let scalar = waves.ridge_signal(&signature);
                assert_eq!(
                    scalar.to_bits(),
                    signal.data[i].to_bits(),
                    "block ({bx}, {by})"
                );
                compared += 1;
            }
        }
        assert!(compared > 200, "{compared} blocks");
    }

    #[test]
    fn ridges_are_a_strong_ridge_signal_and_a_lone_stroke_or_flat_paper_a_weak_one() {
        let waves = Waves::new();
        let signature = |f: &dyn Fn(f32) -> f32| -> [f32; FREQUENCY_WINDOW] {
            std::array::from_fn(|k| f(k as f32))
        };
        // Ridges of a period between the tables' (9.5 px), with a fast ripple on them.
        let ridges =
            signature(&|k| (std::f32::consts::TAU * k / 9.5).sin() + 0.2 * (2.7 * k).sin());
        assert!(
            waves.ridge_signal(&ridges) > 0.8,
            "{}",
            waves.ridge_signal(&ridges)
        );
        // One dark pen stroke 6 px wide across white paper.
        let stroke = signature(&|k| if (13.0..19.0).contains(&k) { -1.0 } else { 0.0 });
        assert!(
            waves.ridge_signal(&stroke) < 0.3,
            "{}",
            waves.ridge_signal(&stroke)
        );
        // A step from paper to ink (the edge of a caption's letter or of a ruled line).
        let step = signature(&|k| if k < 16.0 { 0.0 } else { 1.0 });
        assert!(
            waves.ridge_signal(&step) < 0.4,
            "{}",
            waves.ridge_signal(&step)
        );
        assert_eq!(waves.ridge_signal(&[3.0; FREQUENCY_WINDOW]), 0.0);
    }

    #[test]
    fn a_bin_is_the_in_order_sum_of_the_plane_s_samples() {
        let mut seed = 0x1234_5678_u32;
        let mut next = move || xorshift32(&mut seed) as f32 / u32::MAX as f32;
        let image = random_plane(41, 29, 0.0, &mut next);
        // Centres inside, near the edges and outside, in every direction.
        for _ in 0..5_000 {
            let (x, y) = (next() * 70.0 - 15.0, next() * 50.0 - 10.0);
            let (along_y, along_x) = (next() * std::f32::consts::TAU).sin_cos();
            let reference = (0..ALONG).fold(0.0, |acc, m| {
                let j = (2 * m) as f32 - FREQUENCY_WIDTH as f32 / 2.0;
                acc + image.sample(x + j * along_x, y + j * along_y)
            });
            assert_eq!(
                bin(&image, x, y, along_x, along_y),
                reference,
                "at ({x}, {y})"
            );
        }
    }
}
