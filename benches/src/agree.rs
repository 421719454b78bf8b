//! How far our extractor's minutiae agree with a reference extractor's on the same image:
//! a development measure for the extractor that does not need the matcher, so that a change
//! can be judged on the development fingers even where their verification errors are too
//! few to rank two variants (FVC2002 fingers 101–105 make under 1 % EER).
//!
//! The FVC2002 ISO templates (a commercial SDK) were made from the images stretched to
//! 300 × 400 px (datasets README); their minutiae are mapped back to the image's pixels,
//! then each of ours is paired with at most one of theirs: closest pairs first, within a
//! distance and a direction tolerance. Neither extractor is ground truth — agreement is a
//! proxy, useful for comparing variants of ours, not a score of either.

use daktilo_engine::template::{Minutia, Template};

/// Pairing tolerances.
#[derive(Debug, Clone, Copy)]
pub struct Tolerance {
    /// Largest distance between paired minutiae, px of the image.
    pub distance_px: f32,
    /// Largest direction difference, degrees.
    pub direction_deg: f32,
}

impl Tolerance {
    /// 8 px and 30° at 500 ppi, the distance scaled to the image's resolution.
    pub fn at_ppi(ppi: f32) -> Self {
        Self {
            distance_px: 8.0 * ppi / 500.0,
            direction_deg: 30.0,
        }
    }
}

/// The agreement of one image's minutiae.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Agreement {
    /// Our minutiae.
    pub ours: usize,
    /// The reference's minutiae.
    pub theirs: usize,
    /// Pairs found.
    pub paired: usize,
    /// Sum of the paired minutiae's distances, px.
    pub distance_sum: f32,
}

impl Agreement {
    /// Share of ours that the reference has too.
    pub fn precision(&self) -> f32 {
        ratio(self.paired, self.ours)
    }

    /// Share of the reference's that we have too.
    pub fn recall(&self) -> f32 {
        ratio(self.paired, self.theirs)
    }

    /// Harmonic mean of precision and recall (0 when either is).
    pub fn f1(&self) -> f32 {
        ratio(2 * self.paired, self.ours + self.theirs)
    }

    /// Mean distance of the paired minutiae, px (0 without pairs).
    pub fn mean_distance(&self) -> f32 {
        self.distance_sum / self.paired.max(1) as f32
    }

    /// Adds another image's counts.
    pub fn add(&mut self, other: &Agreement) {
        self.ours += other.ours;
        self.theirs += other.theirs;
        self.paired += other.paired;
        self.distance_sum += other.distance_sum;
    }
}

fn ratio(a: usize, b: usize) -> f32 {
    if b == 0 { 0.0 } else { a as f32 / b as f32 }
}

/// The reference template's minutiae in `image`'s pixels: its coordinates scaled from its
/// declared size to `image`'s (pixel centres onto pixel centres), directions kept.
pub fn unstretched(reference: &Template, image: &Template) -> Vec<(f32, f32, u8)> {
    let scale = |to: u16, from: u16| {
        if from == 0 {
            1.0
        } else {
            f32::from(to) / f32::from(from)
        }
    };
    let (sx, sy) = (
        scale(image.width, reference.width),
        scale(image.height, reference.height),
    );
    reference
        .minutiae
        .iter()
        .map(|m| {
            (
                (f32::from(m.x) + 0.5) * sx - 0.5,
                (f32::from(m.y) + 0.5) * sy - 0.5,
                m.direction,
            )
        })
        .collect()
}

/// Pairs `ours` with `theirs` (already in the same pixels): every candidate pair within the
/// tolerances, closest first, each minutia in at most one pair.
pub fn agreement(ours: &[Minutia], theirs: &[(f32, f32, u8)], tolerance: Tolerance) -> Agreement {
    let max_units = tolerance.direction_deg * 256.0 / 360.0;
    let mut candidates = Vec::new();
    for (i, m) in ours.iter().enumerate() {
        for (j, &(x, y, direction)) in theirs.iter().enumerate() {
            let d = ((f32::from(m.x) - x).powi(2) + (f32::from(m.y) - y).powi(2)).sqrt();
            let turn = f32::from((m.direction.wrapping_sub(direction) as i8).unsigned_abs());
            if d <= tolerance.distance_px && turn <= max_units {
                candidates.push((d, i, j));
            }
        }
    }
    candidates.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    let mut used_ours = vec![false; ours.len()];
    let mut used_theirs = vec![false; theirs.len()];
    let mut result = Agreement {
        ours: ours.len(),
        theirs: theirs.len(),
        ..Agreement::default()
    };
    for (d, i, j) in candidates {
        if !used_ours[i] && !used_theirs[j] {
            used_ours[i] = true;
            used_theirs[j] = true;
            result.paired += 1;
            result.distance_sum += d;
        }
    }
    result
}

#[cfg(test)]
mod tests {
    use super::*;
    use daktilo_engine::template::MinutiaKind;

    fn minutia(x: u16, y: u16, direction: u8) -> Minutia {
        Minutia {
            x,
            y,
            direction,
            kind: MinutiaKind::Ending,
            quality: 50,
        }
    }

    #[test]
    fn pairs_each_minutia_once_closest_first_within_the_tolerances() {
        let tolerance = Tolerance {
            distance_px: 8.0,
            direction_deg: 30.0,
        };
        let ours = [
            minutia(100, 100, 0),
            minutia(104, 100, 0),
            minutia(200, 200, 64),
            minutia(300, 300, 0),
        ];
        let theirs = [
            // Closer to ours[1] than to ours[0]: ours[1] takes it, ours[0] takes the next.
            (105.0, 100.0, 250u8),
            (97.0, 100.0, 5),
            // Close to ours[2] but turned 45°: not a pair.
            (201.0, 200.0, 96),
            // 9 px from ours[3]: not a pair.
            (309.0, 300.0, 0),
        ];
        let a = agreement(&ours, &theirs, tolerance);
        assert_eq!((a.ours, a.theirs, a.paired), (4, 4, 2));
        assert!((a.distance_sum - 4.0).abs() < 1e-4, "{}", a.distance_sum);
        assert_eq!(a.f1(), 0.5);
        assert_eq!(a.precision(), 0.5);
        assert_eq!(a.recall(), 0.5);
        let none = agreement(&[], &theirs, tolerance);
        assert_eq!((none.paired, none.f1(), none.precision()), (0, 0.0, 0.0));
    }

    #[test]
    fn reference_coordinates_are_mapped_back_to_the_image() {
        let mut reference = Template::new(300, 400);
        reference.minutiae.push(minutia(149, 199, 7));
        let image = Template::new(600, 200);
        let mapped = unstretched(&reference, &image);
        assert_eq!(mapped.len(), 1);
        let (x, y, d) = mapped[0];
        assert!(
            (x - 298.5).abs() < 1e-4 && (y - 99.25).abs() < 1e-4,
            "{x} {y}"
        );
        assert_eq!(d, 7);
    }
}
