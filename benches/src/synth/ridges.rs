//! Minutiae where ridge lines end: the ridges of a synthetic print drawn as evenly spaced
//! streamlines of its orientation field, a ridge period apart.
//!
//! The lines follow the field (midpoint steps of 1.5 px) and are spaced as B. Jobard and
//! W. Lefer space streamlines ("Creating evenly-spaced streamlines of arbitrary density",
//! Visualization in Scientific Computing 1997): a new line starts a period to either
//! side of a line already drawn, where nothing else lies within a period, and a line stops
//! where it comes within 0.55 periods of another. The period itself drifts over the print
//! (a smooth random field, ±`PERIOD_DRIFT`), as real ridge spacing does, so that lines must
//! end where the ridges crowd and begin where they spread, and around the singular points
//! where the field turns. Those ends are the minutiae:
//!
//! - a line that stops against another becomes a ridge ending, or (with probability
//!   `BIFURCATION_SHARE`) joins it: a bifurcation where it meets it;
//! - ends at the print's edge are not minutiae (an extractor drops those too), nor are the
//!   ends of lines shorter than two periods (dots and islands, which extractors remove),
//!   nor those where a line stopped at a singular point (turning more than `MAX_TURN` in
//!   one step) or ran `MAX_STEPS` long, which would put a ring of endings about every
//!   core that real prints do not have (leaving them out changed little in
//!   `daktilo-bench synth-compare`);
//!
//! and a minutia points as Daktilo's extractor writes it (ISO/IEC 19794-2): an ending into
//! its ridge, a bifurcation the same way (towards the two joined ridges, away from the
//! one they become), the duality of the two.

use super::Rng;

/// Steps along a line, px.
const STEP: f32 = 1.5;
/// A line stops this close to another, in periods.
const STOP_AT: f32 = 0.55;
/// A new line starts where nothing lies within this many periods.
const START_AT: f32 = 0.95;
/// The most steps of one line (either way from its seed).
const MAX_STEPS: usize = 500;
/// A line turning more than this per step is at a singular point, and stops (radians).
const MAX_TURN: f32 = 0.5;
/// Relative drift of the ridge period over the print.
pub const PERIOD_DRIFT: f32 = 0.3;
/// The wavelengths of the period's drift, px.
const DRIFT_WAVELENGTHS: (f32, f32) = (25.0, 70.0);
/// How far a print's orientation field is bent from its zero-pole model (radians, at
/// most), so that its ridges converge and spread a little everywhere, as real ridges do,
/// and not only about the singular points...
pub const BEND: f32 = 0.1;
/// ...by waves of these lengths, px.
pub const BEND_WAVELENGTHS: (f32, f32) = (30.0, 90.0);
/// How long a print's ridges run near the vertical: the zero-pole orientation θ (relative
/// to the print's base orientation) is taken through [`warp`]. The zero-pole field runs
/// horizontal over most of a print — 32 % of its flow blocks within 15° of the horizontal
/// and 7 % within 15° of the vertical, against 16 % and 15 % in FVC2002's prints, whose
/// loops and whorls have long vertical sides — and that made the fillers' ridge flow agree
/// with real prints much less than real prints agree with one another (docs/search.md).
/// Chosen as the value whose histogram of block orientations (15° bins, our own templates
/// of the 320 FVC2002 B images against 2,000 fillers) lies nearest FVC2002's: L1 distance
/// 50.4 (no warp), 22.9 (0.5), 18.3 (0.6), 16.1 (0.7), 17.7 (0.8), 20.6 (0.9).
pub const WARP: f32 = 0.7;

/// `θ + (WARP / 2) · sin 2θ`: a monotone map of the orientations onto themselves (its
/// derivative `1 + WARP · cos 2θ` stays positive) that fixes the horizontal and the
/// vertical, dwells longer near the vertical and passes the horizontal faster. Applied to a
/// continuous field it moves no singular point and changes no index, so a loop stays a
/// loop, with longer vertical sides.
pub fn warp(theta: f32) -> f32 {
    theta + 0.5 * WARP * (2.0 * theta).sin()
}

/// The share of converging ends that join their neighbour (bifurcations).
pub const BIFURCATION_SHARE: f32 = 0.45;
/// Lines shorter than this many periods give no minutiae.
const SHORTEST: f32 = 2.0;
/// Side of the grid's cells, px.
const CELL: f32 = 8.0;

/// Why a line stopped at one of its ends.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Stop {
    /// It left the print.
    Edge,
    /// It came close to another line, at this point of it.
    Against(f32, f32),
    /// Its course turned too sharply (a singular point), or it ran too long.
    Other,
}

/// A minutia of the model: position (px, image coordinates), the way the ridge runs out of
/// it (radians, image coordinates: the direction a line was going when it stopped), and
/// whether it is a bifurcation.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Found {
    pub x: f32,
    pub y: f32,
    pub forward: f32,
    pub bifurcation: bool,
}

/// Sample points of the lines drawn so far, by grid cell: (x, y, line, step along it).
struct Grid {
    w: usize,
    h: usize,
    cells: Vec<Vec<(f32, f32, u32, i32)>>,
}

impl Grid {
    fn new(width: f32, height: f32) -> Self {
        let (w, h) = (
            (width / CELL).ceil() as usize + 1,
            (height / CELL).ceil() as usize + 1,
        );
        Self {
            w,
            h,
            cells: vec![Vec::new(); w * h],
        }
    }

    fn cell(&self, x: f32, y: f32) -> (usize, usize) {
        (
            ((x / CELL).max(0.0) as usize).min(self.w - 1),
            ((y / CELL).max(0.0) as usize).min(self.h - 1),
        )
    }

    fn add(&mut self, x: f32, y: f32, line: u32, step: i32) {
        let (cx, cy) = self.cell(x, y);
        self.cells[cy * self.w + cx].push((x, y, line, step));
    }

    /// A point within `radius` of (x, y), leaving out the points of `line` fewer than `gap`
    /// steps from `step`: the first found.
    fn any_within(
        &self,
        x: f32,
        y: f32,
        radius: f32,
        line: u32,
        step: i32,
        gap: i32,
    ) -> Option<(f32, f32)> {
        let (x0, y0) = self.cell(x - radius, y - radius);
        let (x1, y1) = self.cell(x + radius, y + radius);
        let r2 = radius * radius;
        for gy in y0..=y1 {
            for gx in x0..=x1 {
                for &(px, py, l, s) in &self.cells[gy * self.w + gx] {
                    if (px - x).powi(2) + (py - y).powi(2) < r2
                        && (l != line || (s - step).abs() >= gap)
                    {
                        return Some((px, py));
                    }
                }
            }
        }
        None
    }
}

/// A smooth random field in [−1, 1]: the mean of three plane waves of random direction,
/// wavelength (within the range given) and phase.
pub struct Drift([(f32, f32, f32); 3]);

impl Drift {
    pub fn new(rng: &mut Rng, (a, b): (f32, f32)) -> Self {
        Self(std::array::from_fn(|_| {
            let angle = rng.uniform(0.0, std::f32::consts::TAU);
            let k = std::f32::consts::TAU / rng.uniform(a, b);
            (
                k * angle.cos(),
                k * angle.sin(),
                rng.uniform(0.0, std::f32::consts::TAU),
            )
        }))
    }

    pub fn at(&self, x: f32, y: f32) -> f32 {
        self.0
            .iter()
            .map(|&(kx, ky, p)| (kx * x + ky * y + p).sin())
            .sum::<f32>()
            / 3.0
    }
}

/// The minutiae of the print whose ridges run along `field` (ridge angle, radians, image
/// coordinates, modulo a half turn) inside `on_print` (within the `width` × `height` image),
/// spaced by `period` px on average (drifting by ± `period_drift` of it, relative),
/// starting from a line through `seed`.
pub fn minutiae(
    field: &dyn Fn(f32, f32) -> f32,
    on_print: &dyn Fn(f32, f32) -> bool,
    (width, height): (f32, f32),
    (period, period_drift): (f32, f32),
    seed: (f32, f32),
    rng: &mut Rng,
) -> Vec<Found> {
    let drift = Drift::new(rng, DRIFT_WAVELENGTHS);
    let period_at = |x: f32, y: f32| period * (1.0 + period_drift * drift.at(x, y));
    let inside = |x: f32, y: f32| x >= 0.0 && y >= 0.0 && x < width && y < height && on_print(x, y);
    let mut grid = Grid::new(width, height);
    let mut queue = std::collections::VecDeque::new();
    queue.push_back(seed);
    let mut found = Vec::new();
    let mut lines = 0u32;
    // Steps of its own line a point ignores: about three periods.
    let gap = (3.0 * period / STEP).ceil() as i32;
    while let Some((sx, sy)) = queue.pop_front() {
        if !inside(sx, sy)
            || grid
                .any_within(sx, sy, START_AT * period_at(sx, sy), u32::MAX, 0, 0)
                .is_some()
        {
            continue;
        }
        let line = lines;
        lines += 1;
        grid.add(sx, sy, line, 0);
        let mut points = vec![(sx, sy)];
        let mut ends = [(sx, sy, 0.0f32, Stop::Other); 2];
        let start = field(sx, sy);
        for (e, sign) in [1.0f32, -1.0].into_iter().enumerate() {
            let (mut x, mut y) = (sx, sy);
            let (mut dx, mut dy) = (sign * start.cos(), sign * start.sin());
            let mut stop = Stop::Other;
            for k in 1..=MAX_STEPS as i32 {
                let along = |x: f32, y: f32, dx: f32, dy: f32| {
                    let t = field(x, y);
                    let (ux, uy) = (t.cos(), t.sin());
                    if ux * dx + uy * dy < 0.0 {
                        (-ux, -uy)
                    } else {
                        (ux, uy)
                    }
                };
                let (ux, uy) = along(x, y, dx, dy);
                let (mx, my) = (x + 0.5 * STEP * ux, y + 0.5 * STEP * uy);
                let (vx, vy) = along(mx, my, ux, uy);
                if vx * dx + vy * dy < MAX_TURN.cos() {
                    break;
                }
                let (nx, ny) = (x + STEP * vx, y + STEP * vy);
                if !inside(nx, ny) {
                    stop = Stop::Edge;
                    break;
                }
                let step = if sign > 0.0 { k } else { -k };
                if let Some((px, py)) =
                    grid.any_within(nx, ny, STOP_AT * period_at(nx, ny), line, step, gap)
                {
                    stop = Stop::Against(px, py);
                    break;
                }
                (x, y, dx, dy) = (nx, ny, vx, vy);
                grid.add(x, y, line, step);
                points.push((x, y));
            }
            ends[e] = (x, y, dy.atan2(dx), stop);
        }
        // New lines a period to either side, every third point.
        for &(x, y) in points.iter().step_by(3) {
            let t = field(x, y);
            let p = period_at(x, y);
            let (nx, ny) = (-t.sin(), t.cos());
            queue.push_back((x + p * nx, y + p * ny));
            queue.push_back((x - p * nx, y - p * ny));
        }
        if (points.len() as f32) * STEP < SHORTEST * period {
            continue;
        }
        for (x, y, forward, stop) in ends {
            match stop {
                Stop::Edge => {}
                Stop::Against(px, py) if rng.uniform(0.0, 1.0) < BIFURCATION_SHARE => {
                    found.push(Found {
                        x: px,
                        y: py,
                        forward,
                        bifurcation: true,
                    })
                }
                Stop::Against(..) => found.push(Found {
                    x,
                    y,
                    forward,
                    bifurcation: false,
                }),
                Stop::Other => {}
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn on_image(x: f32, y: f32) -> bool {
        (0.0..300.0).contains(&x) && (0.0..400.0).contains(&y)
    }

    /// Parallel ridges hardly end inside the print (only where the period drifts more than
    /// the spacing allows); ridges that converge must, and each ending points the way its
    /// line ran (`forward`, down the narrowing band): the minutiae are the ends the ridge
    /// spacing forces.
    #[test]
    fn lines_end_where_the_ridges_converge() {
        let mut rng = Rng(1);
        // Every line runs along x and stays a period from its neighbours: only edges.
        let parallel = minutiae(
            &|_, _| 0.0,
            &on_image,
            (300.0, 400.0),
            (9.0, PERIOD_DRIFT),
            (150.0, 200.0),
            &mut rng,
        );
        // Lines along x bending towards y = 200 as x grows: the band narrows to the right.
        let converging = |x: f32, y: f32| -0.004 * (y - 200.0) * (x / 300.0).max(0.1);
        let mut rng = Rng(2);
        let found = minutiae(
            &converging,
            &on_image,
            (300.0, 400.0),
            (9.0, PERIOD_DRIFT),
            (20.0, 200.0),
            &mut rng,
        );
        assert!(
            parallel.len() <= 2,
            "{} minutiae between parallel ridges",
            parallel.len()
        );
        assert!(
            found.len() >= 5,
            "{} minutiae where the ridges converge",
            found.len()
        );
        for m in &found {
            assert!(
                m.forward.cos() > 0.85,
                "ending at ({}, {}) points {} rad",
                m.x,
                m.y,
                m.forward
            );
        }
        let bifurcations = found.iter().filter(|m| m.bifurcation).count();
        assert!(
            bifurcations > 0 && bifurcations < found.len(),
            "{bifurcations} of {}",
            found.len()
        );
    }
}
