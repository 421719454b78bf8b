//! Float planes (row-major `f32` images) and the few operations the pipeline shares.

/// A row-major plane of `f32`. Image-sized planes take their buffers from, and give them
/// back to, a small pool of this thread's ([`scratch`]), so that extracting one image after
/// another reuses memory instead of asking the system for fresh pages each time.
#[derive(Debug, PartialEq)]
pub struct Plane {
    /// Width.
    pub width: usize,
    /// Height.
    pub height: usize,
    /// Values, row after row.
    pub data: Vec<f32>,
}

impl Plane {
    /// A plane filled with `value`.
    pub fn filled(width: usize, height: usize, value: f32) -> Self {
        Self {
            width,
            height,
            data: scratch::take(width * height, value),
        }
    }

    /// The value at (x, y).
    #[inline]
    pub fn at(&self, x: usize, y: usize) -> f32 {
        self.data[y * self.width + x]
    }

    /// The value at (x, y), coordinates clamped into the plane.
    #[inline]
    pub fn clamped(&self, x: isize, y: isize) -> f32 {
        let x = x.clamp(0, self.width as isize - 1) as usize;
        let y = y.clamp(0, self.height as isize - 1) as usize;
        self.data[y * self.width + x]
    }

    /// Bilinear interpolation at a real position in this plane's coordinates.
    #[inline]
    pub fn sample(&self, x: f32, y: f32) -> f32 {
        let (x0, y0) = (x.floor(), y.floor());
        let (fx, fy) = (x - x0, y - y0);
        let (x0, y0) = (x0 as isize, y0 as isize);
        if x0 >= 0
            && y0 >= 0
            && ((x0 + 1) as usize) < self.width
            && ((y0 + 1) as usize) < self.height
        {
            // Inside: no clamping needed (the same arithmetic as below).
            let i = y0 as usize * self.width + x0 as usize;
            let d = &self.data;
            let a = d[i] * (1.0 - fx) + d[i + 1] * fx;
            let b = d[i + self.width] * (1.0 - fx) + d[i + self.width + 1] * fx;
            return a * (1.0 - fy) + b * fy;
        }
        let a = self.clamped(x0, y0) * (1.0 - fx) + self.clamped(x0 + 1, y0) * fx;
        let b = self.clamped(x0, y0 + 1) * (1.0 - fx) + self.clamped(x0 + 1, y0 + 1) * fx;
        a * (1.0 - fy) + b * fy
    }
}

impl Clone for Plane {
    fn clone(&self) -> Self {
        let data = scratch::copy(&self.data);
        Self {
            width: self.width,
            height: self.height,
            data,
        }
    }
}

impl Drop for Plane {
    fn drop(&mut self) {
        scratch::give_back(std::mem::take(&mut self.data));
    }
}

/// Each thread's spare plane buffers.
///
/// The extractor's planes of an image's size (about 0.6 MB for a 388 × 374 print) are
/// above the size from which the C library's allocator maps fresh memory for each request
/// and unmaps it when it is freed, so every such plane cost a page fault per 4 KB on its
/// first writes: 460 page faults per FVC2002 image, 104 with this pool (`perf stat`), and
/// the orientation step, whose planes came first, 1.3–1.65 ms against 0.66–0.77 ms.
/// Buffers of at least [`MIN_FLOATS`](scratch::MIN_FLOATS) go back to this pool when their plane is dropped, up
/// to [`MAX_BUFFERS`](scratch::MAX_BUFFERS) buffers and [`MAX_FLOATS`](scratch::MAX_FLOATS) in all per thread, and new planes take
/// the smallest that fits. Values are always written before a plane is handed out.
pub mod scratch {
    use std::cell::RefCell;

    /// Smaller buffers come from the allocator's own free lists, which are cheap.
    pub const MIN_FLOATS: usize = 16 * 1024;
    /// Buffers a thread keeps at most.
    pub const MAX_BUFFERS: usize = 12;
    /// Floats a thread keeps at most (32 MB): enough for every plane of an image of a
    /// million pixels; one much larger image's buffers are not kept.
    pub const MAX_FLOATS: usize = 8 * 1024 * 1024;

    thread_local! {
        static SPARE: RefCell<Vec<Vec<f32>>> = const { RefCell::new(Vec::new()) };
    }

    /// The smallest spare buffer that holds `n` values, emptied.
    fn spare(n: usize) -> Option<Vec<f32>> {
        if n < MIN_FLOATS {
            return None;
        }
        let mut buffer = SPARE
            .try_with(|spare| {
                let mut spare = spare.borrow_mut();
                let best = (0..spare.len())
                    .filter(|&i| spare[i].capacity() >= n)
                    .min_by_key(|&i| spare[i].capacity())?;
                Some(spare.swap_remove(best))
            })
            .ok()
            .flatten()?;
        buffer.clear();
        Some(buffer)
    }

    /// A buffer of `n` values `value`: a spare one if one holds them, else a new one.
    pub fn take(n: usize, value: f32) -> Vec<f32> {
        match spare(n) {
            Some(mut buffer) => {
                buffer.resize(n, value);
                buffer
            }
            None => vec![value; n],
        }
    }

    /// A copy of `values` in a spare buffer if one holds them, else in a new one.
    pub fn copy(values: &[f32]) -> Vec<f32> {
        match spare(values.len()) {
            Some(mut buffer) => {
                buffer.extend_from_slice(values);
                buffer
            }
            None => values.to_vec(),
        }
    }

    /// Keeps `buffer` for a later plane of this thread, if it is large enough to be worth
    /// it and the pool has room.
    pub fn give_back(buffer: Vec<f32>) {
        let size = buffer.capacity();
        if !(MIN_FLOATS..=MAX_FLOATS).contains(&size) {
            return;
        }
        // During the thread's exit the pool may be gone: the buffer is then just freed.
        let _ = SPARE.try_with(|spare| {
            let mut spare = spare.borrow_mut();
            let kept: usize = spare.iter().map(Vec::capacity).sum();
            if spare.len() < MAX_BUFFERS && kept + size <= MAX_FLOATS {
                spare.push(buffer);
            }
        });
    }

    /// How many buffers this thread keeps, and their floats in all.
    #[cfg(test)]
    pub(crate) fn kept() -> (usize, usize) {
        SPARE.with(|spare| {
            let spare = spare.borrow();
            (spare.len(), spare.iter().map(Vec::capacity).sum())
        })
    }
}

/// Marsaglia's xorshift32: the next state, for the extractor's tests' pseudo-random data.
#[cfg(test)]
pub(crate) fn xorshift32(state: &mut u32) -> u32 {
    *state ^= *state << 13;
    *state ^= *state >> 17;
    *state ^= *state << 5;
    *state
}

/// A test print of `width` × `height`: rings of `period` pixels about `centre`, grey
/// `base` ± `amplitude` times `fade(x)`, plus noise below `noise` (xorshift32 from `seed`).
#[cfg(test)]
pub(crate) fn rings(
    (width, height): (usize, usize),
    centre: (f32, f32),
    period: f32,
    (base, amplitude): (f32, f32),
    fade: impl Fn(f32) -> f32,
    (noise, mut seed): (u32, u32),
) -> crate::image::GrayImage {
    let pixels = (0..width * height)
        .map(|i| {
            let (x, y) = ((i % width) as f32, (i / width) as f32);
            let r = (x - centre.0).hypot(y - centre.1);
            let n = (xorshift32(&mut seed) % noise) as f32;
            (base + amplitude * fade(x) * (std::f32::consts::TAU * r / period).sin() + n) as u8
        })
        .collect();
    crate::image::GrayImage {
        width,
        height,
        pixels,
    }
}

/// Times a word whose bytes are 0 or 1, this puts byte j's bit at bit 56 + j: the partial
/// products all land on different bits, so nothing carries.
const GATHER_BYTES: u64 = 0x0102_0408_1020_4080;
const LOW_BITS: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// Up to eight pixels (bytes) as a word, the missing ones past the slice's end 0, and a
/// byte mask of the pixels there are.
#[inline(always)]
fn eight_pixels(pixels: &[u8]) -> (u64, u64) {
    // Eight: one load (the copy below of a length the compiler cannot see was a call to
    // `memmove` per eight pixels, a tenth of binarisation).
    if let Ok(eight) = <[u8; 8]>::try_from(pixels) {
        return (u64::from_le_bytes(eight), u64::MAX);
    }
    // Fewer (a row's last pixels).
    let mut b = [0u8; 8];
    b[..pixels.len()].copy_from_slice(pixels);
    (u64::from_le_bytes(b), (1u64 << (8 * pixels.len())) - 1)
}

/// Bit j set when pixel j of up to eight is equal to `value`: compared eight at a time in
/// a word (the bytes equal to `value` become 0, and an exact test sets the high bit of
/// exactly those), then gathered into one byte.
#[inline(always)]
pub fn equal_bits(pixels: &[u8], value: u8) -> u8 {
    let (x, present) = eight_pixels(pixels);
    let t = x ^ (LOW_BITS * u64::from(value));
    let zero = !(((t & !HIGH_BITS) + !HIGH_BITS) | t) & HIGH_BITS & present;
    ((zero >> 7).wrapping_mul(GATHER_BYTES) >> 56) as u8
}

/// Bit j set when pixel j of up to eight is odd.
#[inline(always)]
pub fn odd_bits(pixels: &[u8]) -> u8 {
    let (x, _) = eight_pixels(pixels);
    ((x & LOW_BITS).wrapping_mul(GATHER_BYTES) >> 56) as u8
}

/// A row of pixels as 64-pixel words (bit j of word k: pixel 64·k + j, the bits past
/// the row's end 0), eight pixels at a time by `bits` ([`equal_bits`], [`odd_bits`]).
#[inline(always)]
pub fn row_words(row: &[u8], bits: impl Fn(&[u8]) -> u8) -> impl Iterator<Item = u64> {
    row.chunks(64).map(move |word| {
        word.chunks(8)
            .enumerate()
            .fold(0u64, |m, (e, eight)| m | u64::from(bits(eight)) << (8 * e))
    })
}

/// A normalised 1-D Gaussian kernel of standard deviation `sigma` (radius 3σ).
pub fn gaussian_kernel(sigma: f32) -> Vec<f32> {
    let radius = (3.0 * sigma).ceil().max(1.0) as isize;
    let mut k: Vec<f32> = (-radius..=radius)
        .map(|i| (-(i * i) as f32 / (2.0 * sigma * sigma)).exp())
        .collect();
    let sum: f32 = k.iter().sum();
    k.iter_mut().for_each(|v| *v /= sum);
    k
}

/// Separable Gaussian blur with clamped borders. Each output sums its taps in kernel
/// order from 0 in fused multiply-adds, 32 outputs side by side held in registers over
/// all the taps (where adding one tap to a whole row at a time loaded and stored every
/// sum once per tap, and multiplied and added apart); along the rows, each row is first
/// copied with its border pixels repeated, so that the outputs near the borders are
/// worked out like the others instead of one clamped read at a time. The same values as
/// summing pixel by pixel.
///
/// Dispatched at run time to an AVX2 + FMA or NEON build (the same values: each fused
/// multiply-add correctly rounded, an instruction there and the C library's `fmaf` on a
/// baseline x86-64 build; the FVC2002 templates came out byte-identical to those of the
/// separate multiplications and additions).
#[multiversion::multiversion(targets("x86_64+avx2+fma", "aarch64+neon"))]
pub fn blur(p: &Plane, sigma: f32) -> Plane {
    let k = gaussian_kernel(sigma);
    let r = k.len() / 2;
    let (w, h) = (p.width, p.height);
    let mut tmp = Plane::filled(w, h, 0.0);
    // Each row with its border pixels repeated r times on either side: the clamped reads,
    // so that every output is worked out alike.
    let mut padded = vec![0.0f32; w + 2 * r];
    for (src, dst) in p.data.chunks_exact(w).zip(tmp.data.chunks_exact_mut(w)) {
        padded[..r].fill(src[0]);
        padded[r..r + w].copy_from_slice(src);
        padded[r + w..].fill(src[w - 1]);
        // Tap i of output x reads padded pixel x + i.
        weighted_line(&k, dst, |i, x| &padded[x + i..]);
    }
    let mut out = Plane::filled(w, h, 0.0);
    for (y, dst) in out.data.chunks_exact_mut(w).enumerate() {
        // Tap i of output row y reads row y + i − r, clamped.
        weighted_line(&k, dst, |i, x| {
            &tmp.data[(y + i).saturating_sub(r).min(h - 1) * w + x..]
        });
    }
    out
}

/// Each of `out`'s values the sum over the taps `k` in kernel order from 0, tap `i` of
/// output `x` taking `pixels(i, x)[0]` (the next outputs the next pixels), in fused
/// multiply-adds: 32 outputs at a time, then 8, then one.
#[inline(always)]
fn weighted_line<'a>(k: &[f32], out: &mut [f32], pixels: impl Fn(usize, usize) -> &'a [f32]) {
    let x = weighted_sums::<BLUR_WIDE>(k, out, 0, &pixels);
    let x = weighted_sums::<BLUR_LANES>(k, out, x, &pixels);
    weighted_sums::<1>(k, out, x, &pixels);
}

/// Outputs [`blur`] works out side by side: four vectors of eight, so that four chains
/// of additions are in flight, then one vector for what is left.
const BLUR_WIDE: usize = 32;
const BLUR_LANES: usize = 8;

/// `out[from..]`, `N` outputs at a time while `N` are left, each the sum over the taps
/// `k` in kernel order from 0, tap `i` of output `x` taking `pixels(i, x)[0]` (the next
/// outputs the next pixels); the sums stay in registers for all the taps. Returns where
/// it stopped.
#[inline(always)]
fn weighted_sums<'a, const N: usize>(
    k: &[f32],
    out: &mut [f32],
    from: usize,
    pixels: &impl Fn(usize, usize) -> &'a [f32],
) -> usize {
    let mut x = from;
    for chunk in out[from..].chunks_exact_mut(N) {
        let mut acc = [0.0f32; N];
        for (i, &kv) in k.iter().enumerate() {
            let v: &[f32; N] = pixels(i, x)[..N].try_into().expect("N pixels");
            for l in 0..N {
                acc[l] = kv.mul_add(v[l], acc[l]);
            }
        }
        chunk.copy_from_slice(&acc);
        x += N;
    }
    x
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dropped_plane_s_buffer_serves_the_next_plane_that_fits_it_freshly_filled() {
        // Each test runs on a thread of its own: its pool starts empty.
        assert_eq!(scratch::kept(), (0, 0));
        let mut big = Plane::filled(400, 300, 1.0);
        big.data.iter_mut().for_each(|v| *v = 7.0);
        let at = big.data.as_ptr();
        drop(big);
        assert_eq!(scratch::kept(), (1, 400 * 300));
        // A smaller plane takes it, filled with its own value, none of the old ones.
        let next = Plane::filled(300, 300, 2.5);
        assert_eq!(next.data.as_ptr(), at);
        assert_eq!(next.data.len(), 300 * 300);
        assert!(next.data.iter().all(|&v| v == 2.5));
        assert_eq!(scratch::kept(), (0, 0));
        // A copy takes a spare buffer too, and holds the same values.
        let mut other = Plane::filled(400, 300, 0.0);
        other.data[12_345] = 3.0;
        drop(other);
        let copy = next.clone();
        assert_eq!(copy, next);
        assert_eq!(scratch::kept(), (0, 0));
        // One too large for every spare buffer gets a new one; small planes are not kept.
        drop(copy);
        let larger = Plane::filled(400, 301, 0.0);
        assert_eq!(scratch::kept(), (1, 400 * 300));
        drop(Plane::filled(10, 10, 0.0));
        assert_eq!(scratch::kept(), (1, 400 * 300));
        drop((larger, next));
        assert_eq!(scratch::kept(), (3, 400 * 300 * 2 + 400 * 301));
    }

    #[test]
    fn the_pool_keeps_at_most_its_buffers_and_floats() {
        let (min, most) = (scratch::MIN_FLOATS, scratch::MAX_FLOATS);
        let planes: Vec<Plane> = (0..scratch::MAX_BUFFERS + 3)
            .map(|_| Plane::filled(min, 1, 0.0))
            .collect();
        drop(planes);
        assert_eq!(
            scratch::kept(),
            (scratch::MAX_BUFFERS, scratch::MAX_BUFFERS * min)
        );
        // Taken back, they empty the pool.
        let planes: Vec<Plane> = (0..scratch::MAX_BUFFERS)
            .map(|_| Plane::filled(min, 1, 0.0))
            .collect();
        assert_eq!(scratch::kept(), (0, 0));
        drop(Plane::filled(most + 1, 1, 0.0));
        assert_eq!(scratch::kept(), (0, 0), "above the most floats kept");
        drop(Plane::filled(min, 1, 0.0));
        drop(Plane::filled(most, 1, 0.0));
        assert_eq!(
            scratch::kept(),
            (1, min),
            "the pool would hold too many floats"
        );
        drop(planes);
    }

    /// The blur pixel by pixel, taps in kernel order, in fused multiply-adds: what `blur`
    /// must equal exactly.
    fn reference_blur(p: &Plane, sigma: f32) -> Plane {
        let k = gaussian_kernel(sigma);
        let r = (k.len() / 2) as isize;
        let pass = |p: &Plane, dx: isize, dy: isize| {
            let mut out = Plane::filled(p.width, p.height, 0.0);
            for y in 0..p.height {
                for x in 0..p.width {
                    let mut acc = 0.0;
                    for (i, w) in k.iter().enumerate() {
                        let o = i as isize - r;
                        acc = w.mul_add(p.clamped(x as isize + o * dx, y as isize + o * dy), acc);
                    }
                    out.data[y * p.width + x] = acc;
                }
            }
            out
        };
        pass(&pass(p, 1, 0), 0, 1)
    }

    #[test]
    fn the_row_wise_blur_gives_the_pixel_wise_values() {
        let mut seed = 0x2545_f491_u32;
        for (w, h, sigma) in [
            (37, 23, 0.7),
            (5, 9, 1.5),
            (3, 4, 2.0),
            (64, 1, 0.7),
            (83, 41, 0.7),
            (130, 20, 3.0),
            (16, 30, 1.5),
        ] {
            let data = (0..w * h)
                .map(|_| (xorshift32(&mut seed) % 1000) as f32 / 100.0 - 5.0)
                .collect();
            let p = Plane {
                width: w,
                height: h,
                data,
            };
            assert_eq!(
                blur(&p, sigma),
                reference_blur(&p, sigma),
                "{w} x {h}, σ {sigma}"
            );
        }
    }
}
