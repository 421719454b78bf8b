//! Rolled against plain impressions of one ten-print card: NIST's reference Type-4
//! transaction (`ansi-nist/nist-reference/type-4-tpcard.an2`), whose fourteen WSQ images
//! the datasets hold decoded (`ansi-nist/decoded/type-4-tpcard-fp-N.png`, N the finger
//! position).
//!
//! The card is another kind of capture than FVC2002's (ink on card, scanned), with what
//! cards carry: printed captions, handwriting, ruled lines, a punched hole. None of the
//! extractor's constants was chosen on it until the thirty-first session looked at it
//! while choosing the ridge test's threshold (docs/extraction.md, "Ridges, not ink"); it
//! is a regression test since, not an unseen figure. Positions 1–10 are the ten rolled
//! fingers; 11 and 12 the plain thumbs, one each; 13 and 14 the plain four fingers of each
//! hand, taken together. Each fingertip is cut out of the four-finger images by the boxes
//! of [`SLAP_TIPS`], so that every finger has one rolled and one plain impression.

use std::path::Path;

use anyhow::{Context, bail};
use daktilo_engine::extract;
use daktilo_engine::image::{self, GrayImage};
use daktilo_engine::matching::{self, PreparedTemplate, calibration};
use daktilo_engine::search::{Candidate, SearchOptions};
use daktilo_engine::template::{FingerPosition, Template};
use rayon::prelude::*;

/// A fingertip in a four-finger image: (finger position 2–5 or 7–10, the image's
/// position 13 or 14, x, y, width, height in its pixels).
///
/// Read off the card by eye: on the right hand's image (13) the index, middle, ring and
/// little fingers lie from left to right, on the left hand's (14) from right to left; the
/// tips are the upper prints of each finger (the fainter prints below them are the middle
/// phalanges). Each box holds the tip with a margin, and whatever else lies there
/// (handwriting crosses the left little finger; the punched hole lies in the right
/// index's print).
pub const SLAP_TIPS: [(u8, u8, usize, usize, usize, usize); 8] = [
    (2, 13, 100, 467, 332, 504),
    (3, 13, 387, 0, 332, 536),
    (4, 13, 776, 0, 310, 467),
    (5, 13, 1200, 375, 315, 401),
    (7, 14, 1126, 130, 322, 489),
    (8, 14, 763, 0, 299, 366),
    (9, 14, 412, 49, 351, 535),
    (10, 14, 153, 619, 270, 328),
];

/// The plain thumbs' images: (finger position, image position).
const PLAIN_THUMBS: [(u8, u8); 2] = [(1, 11), (6, 12)];

/// Every comparison of the card.
#[derive(Debug, Clone)]
pub struct Report {
    /// `scores[p][r]`: finger `p + 1`'s plain impression (the probe) against finger
    /// `r + 1`'s rolled one.
    pub scores: [[f32; 10]; 10],
    /// Each pair of different rolled fingers, compared once (45).
    pub rolled_pairs: Vec<f32>,
    /// Minutiae per rolled and per plain impression, by finger.
    pub minutiae: [(usize, usize); 10],
}

impl Report {
    /// The mated scores, by finger.
    pub fn genuine(&self) -> [f32; 10] {
        std::array::from_fn(|f| self.scores[f][f])
    }

    /// The impostor scores of plain impressions against other fingers' rolled ones (90).
    pub fn plain_impostors(&self) -> impl Iterator<Item = f32> + '_ {
        (0..10)
            .flat_map(|p| (0..10).filter(move |&r| r != p).map(move |r| (p, r)))
            .map(|(p, r)| self.scores[p][r])
    }

    /// Every impostor score: plain against another finger's rolled (90), and rolled
    /// against rolled (45).
    pub fn impostors(&self) -> Vec<f32> {
        self.plain_impostors()
            .chain(self.rolled_pairs.iter().copied())
            .collect()
    }

    /// The plain impressions whose own rolled finger scores above every other rolled one.
    pub fn rank_one(&self) -> usize {
        (0..10)
            .filter(|&p| (0..10).all(|r| r == p || self.scores[p][r] < self.scores[p][p]))
            .count()
    }
}

/// One impression of the card: its template (finger position set) and the template
/// prepared for matching.
pub struct Impression {
    /// The extracted template.
    pub template: Template,
    /// The same, prepared for the matcher.
    pub prepared: PreparedTemplate,
}

/// The card's twenty impressions, extracted and prepared for matching.
pub struct Card {
    /// Each finger's rolled impression, fingers 1–10 in order.
    pub rolled: Vec<Impression>,
    /// Each finger's plain impression, fingers 1–10 in order.
    pub plain: Vec<Impression>,
}

impl Card {
    /// Reads and extracts the card under `ansi_nist` (the datasets' `ansi-nist` folder).
    pub fn read(ansi_nist: &Path) -> anyhow::Result<Card> {
        let decoded = ansi_nist.join("decoded");
        let read = |position: u8| -> anyhow::Result<(GrayImage, f32)> {
            let path = decoded.join(format!("type-4-tpcard-fp-{position}.png"));
            let bytes = std::fs::read(&path).with_context(|| path.display().to_string())?;
            let d = image::decode(&bytes).with_context(|| path.display().to_string())?;
            let ppi = d.ppi(None);
            Ok((d.image, ppi))
        };
        // (finger, plain, image, ppi), rolled first.
        let mut prints = Vec::with_capacity(20);
        for finger in 1..=10u8 {
            let (img, ppi) = read(finger)?;
            prints.push((finger, false, img, ppi));
        }
        for (finger, position) in PLAIN_THUMBS {
            let (img, ppi) = read(position)?;
            prints.push((finger, true, img, ppi));
        }
        for position in [13, 14] {
            let (img, ppi) = read(position)?;
            for &(finger, _, x, y, w, h) in SLAP_TIPS.iter().filter(|t| t.1 == position) {
                let tip = crop(&img, x, y, w, h).with_context(|| {
                    format!("finger {finger}'s box does not fit image {position}")
                })?;
                prints.push((finger, true, tip, ppi));
            }
        }
        let mut extracted: Vec<(u8, bool, Impression)> = prints
            .par_iter()
            .map(|(finger, plain, img, ppi)| {
                let what = || format!("finger {finger} (plain: {plain})");
                let mut template = extract::extract(img, *ppi, false)
                    .with_context(what)?
                    .template;
                template.finger =
                    FingerPosition::from_code(*finger).unwrap_or(FingerPosition::Unknown);
                let prepared = matching::prepare(&template).with_context(what)?;
                Ok((*finger, *plain, Impression { template, prepared }))
            })
            .collect::<anyhow::Result<_>>()?;
        // Rolled fingers 1–10, then plain fingers 1–10.
        extracted.sort_by_key(|&(finger, plain, _)| (plain, finger));
        for (i, &(finger, plain, _)) in extracted.iter().enumerate() {
            let expected = (i >= 10, (i % 10) as u8 + 1);
            if extracted.len() != 20 || (plain, finger) != expected {
                bail!(
                    "the card's layout does not give each finger one rolled and one plain impression"
                );
            }
        }
        let plain = extracted.split_off(10).into_iter().map(|e| e.2).collect();
        let rolled = extracted.into_iter().map(|e| e.2).collect();
        Ok(Card { rolled, plain })
    }

    /// Every plain impression against every rolled one, and the rolled ones against each
    /// other.
    pub fn compare(&self) -> Report {
        let mut scores = [[0.0f32; 10]; 10];
        for (p, row) in scores.iter_mut().enumerate() {
            for (r, s) in row.iter_mut().enumerate() {
                *s = matching::compare(&self.plain[p].prepared, &self.rolled[r].prepared);
            }
        }
        let rolled_pairs = rolled_pairs()
            .map(|(a, b)| matching::compare(&self.rolled[a].prepared, &self.rolled[b].prepared))
            .collect();
        let count = |i: &Impression| i.template.minutiae.len();
        Report {
            scores,
            rolled_pairs,
            minutiae: std::array::from_fn(|f| (count(&self.rolled[f]), count(&self.plain[f]))),
        }
    }
}

/// Each pair of different rolled fingers once (indices 0–9, the first the lower): 45.
pub fn rolled_pairs() -> impl Iterator<Item = (usize, usize)> {
    (0..10).flat_map(|a| (a + 1..10).map(move |b| (a, b)))
}

/// The part of `img` at (x, y) of `w` × `h` pixels, cut to the image; `None` when the box
/// starts outside it.
fn crop(img: &GrayImage, x: usize, y: usize, w: usize, h: usize) -> Option<GrayImage> {
    if x >= img.width || y >= img.height {
        return None;
    }
    let (w, h) = (w.min(img.width - x), h.min(img.height - y));
    let pixels = (y..y + h)
        .flat_map(|row| &img.pixels[row * img.width + x..row * img.width + x + w])
        .copied()
        .collect();
    Some(GrayImage {
        width: w,
        height: h,
        pixels,
    })
}

/// The figures of a report, at the calibrated thresholds for FMR 1 % and 0.1 %.
struct Summary {
    t1: f32,
    t01: f32,
    genuine: [f32; 10],
    genuine_at_1: usize,
    genuine_at_01: usize,
    impostors: usize,
    impostors_at_1: usize,
    impostors_at_01: usize,
    weakest: f32,
    /// The highest impostor score of a plain impression against a rolled one, and of two
    /// rolled ones.
    strongest_plain: f32,
    strongest_rolled: f32,
}

impl Report {
    fn summary(&self) -> Summary {
        let (t1, t01) = (
            calibration::threshold_for_fmr(0.01),
            calibration::threshold_for_fmr(0.001),
        );
        let genuine = self.genuine();
        let impostors = self.impostors();
        let above = |v: &[f32], t: f32| v.iter().filter(|&&s| s >= t).count();
        Summary {
            t1,
            t01,
            genuine,
            genuine_at_1: above(&genuine, t1),
            genuine_at_01: above(&genuine, t01),
            impostors: impostors.len(),
            impostors_at_1: above(&impostors, t1),
            impostors_at_01: above(&impostors, t01),
            weakest: genuine.iter().copied().fold(f32::INFINITY, f32::min),
            strongest_plain: self.plain_impostors().fold(0.0f32, f32::max),
            strongest_rolled: self.rolled_pairs.iter().copied().fold(0.0f32, f32::max),
        }
    }
}

/// The report as text: the score matrix, then the figures.
pub fn render(report: &Report) -> String {
    use std::fmt::Write;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "NIST ten-print card: each finger's plain impression (rows) against every rolled one (columns)"
    );
    let _ = write!(out, "{:>7}", "");
    for r in 1..=10 {
        let _ = write!(out, "{r:>7}");
    }
    let _ = writeln!(out, "  minutiae rolled/plain");
    for (p, row) in report.scores.iter().enumerate() {
        let _ = write!(out, "{:>7}", p + 1);
        for (r, s) in row.iter().enumerate() {
            let mark = if r == p { "*" } else { " " };
            let _ = write!(out, "{s:>6.1}{mark}");
        }
        let (nr, np) = report.minutiae[p];
        let _ = writeln!(out, "  {nr}/{np}");
    }
    let f = report.summary();
    let _ = writeln!(out, "mates at rank 1             {}/10", report.rank_one());
    let _ = writeln!(
        out,
        "mates at FMR 1% (score {:.0})   {}/10, at FMR 0.1% (score {:.0}) {}/10; weakest {:.1}",
        f.t1, f.genuine_at_1, f.t01, f.genuine_at_01, f.weakest
    );
    let _ = writeln!(
        out,
        "impostors at FMR 1%         {}/{} (at 0.1% {}); highest {:.1} plain against rolled, {:.1} rolled against rolled",
        f.impostors_at_1, f.impostors, f.impostors_at_01, f.strongest_plain, f.strongest_rolled
    );
    out
}

/// The report as one JSON object.
pub fn json(report: &Report) -> serde_json::Value {
    let f = report.summary();
    serde_json::json!({
        "scores": report.scores,
        "genuine": f.genuine,
        "rank1": report.rank_one(),
        "genuine_at_fmr_1pct": f.genuine_at_1,
        "genuine_at_fmr_01pct": f.genuine_at_01,
        "impostors": f.impostors,
        "impostors_at_fmr_1pct": f.impostors_at_1,
        "impostors_at_fmr_01pct": f.impostors_at_01,
        "highest_impostor": f.strongest_plain.max(f.strongest_rolled),
        "highest_impostor_rolled_pairs": f.strongest_rolled,
        "minutiae_rolled_plain": report.minutiae,
    })
}

/// Minutiae in each window ([`windows`]): the median of the card's ten plain impressions
/// (22 to 183 minutiae; 48).
pub const WINDOW_MINUTIAE: usize = 48;
/// Window centres lie on a grid this many pixels apart.
const WINDOW_STEP: usize = 64;
/// Windows whose minutiae reach farther than this from the centre (px) are left out: at
/// the print's edge, a disc holding [`WINDOW_MINUTIAE`] would be half off it.
const WINDOW_RADIUS: f32 = 160.0;

/// Plain-sized captures cut from a rolled print's template: about each point of a grid
/// `WINDOW_STEP` px apart over its minutiae, the [`WINDOW_MINUTIAE`] nearest it (with
/// the ridge counts among them and the ridge flow of their disc,
/// [`crate::crop::around`]), where they lie within `WINDOW_RADIUS` px. They are cut
/// from the enrolled impression itself, so they test only whether stage 1 covers the part
/// of the print a plain capture caught, not distortion or a second capture's noise.
pub fn windows(rolled: &Template) -> Vec<Template> {
    let xs = rolled.minutiae.iter().map(|m| usize::from(m.x));
    let ys = rolled.minutiae.iter().map(|m| usize::from(m.y));
    let (Some(x0), Some(x1), Some(y0), Some(y1)) =
        (xs.clone().min(), xs.max(), ys.clone().min(), ys.max())
    else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for y in (y0..=y1).step_by(WINDOW_STEP) {
        for x in (x0..=x1).step_by(WINDOW_STEP) {
            let (window, radius) =
                crate::crop::around(rolled, (x as f32, y as f32), WINDOW_MINUTIAE);
            if window.minutiae.len() == WINDOW_MINUTIAE && radius <= WINDOW_RADIUS {
                out.push(window);
            }
        }
    }
    out
}

/// Where a window's rolled print came in the two-stage search.
#[derive(Debug, Clone, Copy)]
pub struct WindowSearch {
    /// The finger (1 to 10).
    pub finger: usize,
    /// The mate's rank and score, the gallery features holding every row.
    pub rows: Option<(usize, f32)>,
    /// The same, against the copy with one row about the centroid (as before the rows).
    pub one_row: Option<(usize, f32)>,
}

/// Where the card's subject came in a search with all ten plain impressions.
#[derive(Debug, Clone, Default)]
pub struct SubjectSearch {
    /// Its rank (1 = first) and fused score; `None` when not among the candidates.
    pub rank: Option<(usize, f32)>,
    /// Its per-finger scores (finger position, score) of the fingers that found one of
    /// its prints; empty when it was not found.
    pub fingers: Vec<(u8, f32)>,
    /// The best other subject's fused score.
    pub best_other: Option<f32>,
}

impl SubjectSearch {
    /// Where `subject` came among the candidates of a search.
    pub fn of(found: &[Candidate], subject: u64) -> Self {
        let at = found.iter().position(|c| c.subject == subject);
        SubjectSearch {
            rank: at.map(|i| (i + 1, found[i].score)),
            fingers: at
                .map(|i| {
                    found[i]
                        .fingers
                        .iter()
                        .map(|f| (f.finger.code(), f.score))
                        .collect()
                })
                .unwrap_or_default(),
            best_other: found.iter().find(|c| c.subject != subject).map(|c| c.score),
        }
    }
}

/// Where each plain impression's rolled print came in 1:N searches.
#[derive(Debug, Clone, Default)]
pub struct Searches {
    /// Templates in the gallery.
    pub gallery: usize,
    /// The fillers' synthetic model ("ridges": plain prints; "rolled").
    pub fillers: String,
    /// The stage-1 rows the scan reads (one per template, and a large template's further
    /// rows).
    pub stage1_rows: usize,
    /// By finger: the mate's rank (1 = first) and score in the two-stage search; `None`
    /// when it is not among the candidates returned.
    pub two_stage: Vec<Option<(usize, f32)>>,
    /// By finger: the mate's rank by the stage-1 scan's score alone, among the whole
    /// gallery (before the re-ranking and the matcher).
    pub scan: Vec<Option<usize>>,
    /// By finger: the mate's rank by the re-ranking's score among the scan's best that
    /// the search re-ranks (`None`: not among them); the search's stage 2 takes the best
    /// 200.
    pub reranked: Vec<Option<usize>>,
    /// By finger: the two-stage search's rank and score of a copy of the mate whose
    /// feature is one row about its centroid (as gallery features were before large
    /// templates got rows about several centres), in the same gallery.
    pub one_row: Vec<Option<(usize, f32)>>,
    /// The same, searched exhaustively with the matcher alone.
    pub exhaustive: Vec<Option<(usize, f32)>>,
    /// Each search's wall time, ms.
    pub two_stage_ms: Vec<f64>,
    /// Each exhaustive search's wall time, ms.
    pub exhaustive_ms: Vec<f64>,
    /// The ten-finger search, two-stage.
    pub subject: Option<SubjectSearch>,
    /// The ten-finger search, exhaustive.
    pub subject_exhaustive: Option<SubjectSearch>,
    /// Plain-sized windows cut from the rolled prints ([`windows`]), each searched two-stage.
    pub windows: Vec<WindowSearch>,
    /// The stage-1 rows of each rolled print's gallery feature.
    pub rows: Vec<usize>,
}

/// The rank (1 = first) and score of `subject` among the candidates of a search.
pub fn rank_of(found: &[Candidate], subject: u64) -> Option<(usize, f32)> {
    found
        .iter()
        .position(|c| c.subject == subject)
        .map(|i| (i + 1, found[i].score))
}

fn at_rank_one(ranks: &[Option<(usize, f32)>]) -> usize {
    ranks.iter().filter(|r| matches!(r, Some((1, _)))).count()
}

fn median(values: &[f64]) -> f64 {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    v.get(v.len() / 2).copied().unwrap_or(f64::NAN)
}

/// The searches as text: each finger's rank both ways, then the figures.
pub fn render_search(s: &Searches) -> String {
    use std::fmt::Write;
    let rank = |r: &Option<(usize, f32)>| match r {
        Some((k, score)) => format!("{k} ({score:.1})"),
        None => "-".to_string(),
    };
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n1:N, each plain impression (finger unknown) against the ten rolled prints among {} templates ({} fillers; {} stage-1 rows)",
        s.gallery, s.fillers, s.stage1_rows
    );
    let _ = writeln!(
        out,
        "(the mate's rank and score; -: not among the {} candidates returned)",
        SearchOptions::default().max_results
    );
    let _ = writeln!(
        out,
        "(scan: the mate's rank by the scan's score; re-ranked: by the re-ranking's, among the scan's best it re-ranks)"
    );
    if !s.rows.is_empty() {
        let rows: Vec<String> = s.rows.iter().map(usize::to_string).collect();
        let _ = writeln!(
            out,
            "(stage-1 rows of the rolled prints, right thumb to left little: {}; one row: a copy with one row about the centroid, as before the rows)",
            rows.join(", ")
        );
    }
    let _ = writeln!(
        out,
        "{:>7}  {:>7}  {:>10}  {:>14}  {:>14}  {:>14}",
        "finger", "scan", "re-ranked", "two-stage", "one row", "exhaustive"
    );
    let place = |v: &[Option<usize>], f: usize| {
        v.get(f)
            .copied()
            .flatten()
            .map_or_else(|| "-".to_string(), |k| k.to_string())
    };
    for (f, (a, b)) in s.two_stage.iter().zip(&s.exhaustive).enumerate() {
        let one = s.one_row.get(f).map_or_else(|| "-".to_string(), rank);
        let _ = writeln!(
            out,
            "{:>7}  {:>7}  {:>10}  {:>14}  {:>14}  {:>14}",
            f + 1,
            place(&s.scan, f),
            place(&s.reranked, f),
            rank(a),
            one,
            rank(b)
        );
    }
    let _ = writeln!(
        out,
        "mates at rank 1: two-stage {}/{} (one row {}/{}), exhaustive {}/{}; median search {:.1} ms two-stage, {:.1} ms exhaustive",
        at_rank_one(&s.two_stage),
        s.two_stage.len(),
        at_rank_one(&s.one_row),
        s.one_row.len(),
        at_rank_one(&s.exhaustive),
        s.exhaustive.len(),
        median(&s.two_stage_ms),
        median(&s.exhaustive_ms)
    );
    for (how, search) in [
        ("two-stage", &s.subject),
        ("exhaustive", &s.subject_exhaustive),
    ] {
        let Some(search) = search else { continue };
        let rank = match search.rank {
            Some((k, score)) => format!("rank {k}, fused score {score:.1}"),
            None => "not among the candidates".to_string(),
        };
        let other = search
            .best_other
            .map_or_else(|| "-".to_string(), |v| format!("{v:.1}"));
        let fingers: Vec<String> = search
            .fingers
            .iter()
            .map(|(f, v)| format!("{f}: {v:.1}"))
            .collect();
        let _ = writeln!(
            out,
            "ten plain fingers as one subject, {how}: {rank}; best other subject {other}; \
             by finger {} of 10 ({})",
            search.fingers.len(),
            fingers.join(", ")
        );
    }
    if !s.windows.is_empty() {
        let rows: Vec<_> = s.windows.iter().map(|w| w.rows).collect();
        let one: Vec<_> = s.windows.iter().map(|w| w.one_row).collect();
        let _ = writeln!(
            out,
            "windows of {WINDOW_MINUTIAE} minutiae cut from the rolled prints (centres {WINDOW_STEP} px apart, \
             within {WINDOW_RADIUS} px), two-stage: mate at rank 1 {}/{} with the rows, {}/{} with one row",
            at_rank_one(&rows),
            rows.len(),
            at_rank_one(&one),
            one.len()
        );
        let by_finger: Vec<String> = (1..=10)
            .map(|f| {
                let of: Vec<&WindowSearch> = s.windows.iter().filter(|w| w.finger == f).collect();
                let first = |pick: fn(&WindowSearch) -> Option<(usize, f32)>| {
                    of.iter()
                        .filter(|w| matches!(pick(w), Some((1, _))))
                        .count()
                };
                format!(
                    "{f}: {}/{}/{}",
                    first(|w| w.rows),
                    first(|w| w.one_row),
                    of.len()
                )
            })
            .collect();
        let _ = writeln!(
            out,
            "  by finger (rows/one row/windows): {}",
            by_finger.join(", ")
        );
    }
    out
}

/// The searches as one JSON object.
pub fn search_json(s: &Searches) -> serde_json::Value {
    let ranks = |v: &[Option<(usize, f32)>]| -> Vec<Option<usize>> {
        v.iter().map(|r| r.map(|(k, _)| k)).collect()
    };
    serde_json::json!({
        "gallery": s.gallery,
        "fillers": s.fillers,
        "stage1_rows": s.stage1_rows,
        "scan_ranks": s.scan,
        "reranked_ranks": s.reranked,
        "two_stage_ranks": ranks(&s.two_stage),
        "one_row_ranks": ranks(&s.one_row),
        "one_row_rank1": at_rank_one(&s.one_row),
        "exhaustive_ranks": ranks(&s.exhaustive),
        "rolled_rows": s.rows,
        "windows": s.windows.len(),
        "windows_rank1": at_rank_one(&s.windows.iter().map(|w| w.rows).collect::<Vec<_>>()),
        "windows_one_row_rank1": at_rank_one(&s.windows.iter().map(|w| w.one_row).collect::<Vec<_>>()),
        "two_stage_rank1": at_rank_one(&s.two_stage),
        "exhaustive_rank1": at_rank_one(&s.exhaustive),
        "two_stage_median_ms": median(&s.two_stage_ms),
        "exhaustive_median_ms": median(&s.exhaustive_ms),
        "subject_rank": s.subject.as_ref().and_then(|x| x.rank).map(|r| r.0),
        "subject_exhaustive_rank": s.subject_exhaustive.as_ref().and_then(|x| x.rank).map(|r| r.0),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_crop_is_the_box_cut_to_the_image() {
        let img = GrayImage {
            width: 5,
            height: 4,
            pixels: (0..20).collect(),
        };
        let c = crop(&img, 3, 1, 10, 2).unwrap();
        assert_eq!((c.width, c.height), (2, 2));
        assert_eq!(c.pixels, vec![8, 9, 13, 14]);
        assert!(crop(&img, 5, 0, 1, 1).is_none());
    }

    #[test]
    fn rank_one_needs_the_mate_strictly_above_every_other_finger() {
        let mut scores = [[1.0f32; 10]; 10];
        for (f, row) in scores.iter_mut().enumerate() {
            row[f] = 30.0;
        }
        scores[3][7] = 30.0; // a tie is not rank 1
        scores[5][2] = 31.0;
        let report = Report {
            scores,
            rolled_pairs: vec![2.0; 45],
            minutiae: [(0, 0); 10],
        };
        assert_eq!(report.rank_one(), 8);
        assert_eq!(report.impostors().len(), 135);
    }

    #[test]
    fn a_mates_rank_counts_from_one_and_the_searches_count_only_first_places() {
        let found: Vec<Candidate> = [(7u64, 40.0f32), (3, 30.0), (9, 20.0)]
            .iter()
            .map(|&(subject, score)| Candidate {
                subject,
                score,
                fingers: Vec::new(),
            })
            .collect();
        assert_eq!(rank_of(&found, 7), Some((1, 40.0)));
        assert_eq!(rank_of(&found, 9), Some((3, 20.0)));
        assert_eq!(rank_of(&found, 4), None);
        let searches = Searches {
            gallery: 300,
            fillers: "rolled".to_string(),
            stage1_rows: 1234,
            two_stage: vec![Some((1, 40.0)), None, Some((2, 25.0))],
            one_row: vec![Some((3, 40.0)), None, Some((1, 25.0))],
            exhaustive: vec![Some((1, 40.0)), Some((1, 22.0)), Some((1, 25.0))],
            two_stage_ms: vec![3.0, 1.0, 2.0],
            exhaustive_ms: vec![9.0, 9.0, 9.0],
            scan: vec![Some(1), Some(250), None],
            reranked: vec![Some(1), None, None],
            subject: Some(SubjectSearch {
                rank: Some((1, 90.0)),
                fingers: vec![(2, 20.0), (7, 70.0)],
                best_other: Some(12.5),
            }),
            subject_exhaustive: None,
            rows: vec![3, 1],
            windows: vec![
                WindowSearch {
                    finger: 2,
                    rows: Some((1, 50.0)),
                    one_row: None,
                },
                WindowSearch {
                    finger: 2,
                    rows: Some((1, 50.0)),
                    one_row: Some((1, 50.0)),
                },
                WindowSearch {
                    finger: 5,
                    rows: Some((2, 50.0)),
                    one_row: Some((1, 50.0)),
                },
            ],
        };
        let text = render_search(&searches);
        assert!(
            text.contains("among 300 templates (rolled fillers; 1234 stage-1 rows)"),
            "{text}"
        );
        assert!(
            text.contains("two-stage 1/3 (one row 1/3), exhaustive 3/3; median search 2.0 ms"),
            "{text}"
        );
        assert!(
            text.contains(
                "      2      250           -               -               -        1 (22.0)"
            ),
            "{text}"
        );
        assert!(
            text.contains("mate at rank 1 2/3 with the rows, 2/3 with one row"),
            "{text}"
        );
        assert!(
            text.contains("2: 2/1/2, 3: 0/0/0, 4: 0/0/0, 5: 0/1/1"),
            "{text}"
        );
        let json = search_json(&searches);
        assert_eq!(json["fillers"], "rolled");
        assert_eq!(json["stage1_rows"], 1234);
        assert_eq!(json["two_stage_rank1"], 1);
        assert_eq!(json["two_stage_ranks"], serde_json::json!([1, null, 2]));
        assert_eq!(json["one_row_rank1"], 1);
        assert_eq!(json["rolled_rows"], serde_json::json!([3, 1]));
        assert!(text.contains("right thumb to left little: 3, 1;"), "{text}");
        assert_eq!(json["windows"], 3);
        assert_eq!(json["windows_rank1"], 2);
        assert_eq!(json["windows_one_row_rank1"], 2);
        assert!(
            text.contains(
                "two-stage: rank 1, fused score 90.0; best other subject 12.5; by finger 2 of 10 (2: 20.0, 7: 70.0)"
            ),
            "{text}"
        );
        assert_eq!(json["subject_rank"], 1);
        assert_eq!(json["subject_exhaustive_rank"], serde_json::Value::Null);
    }
}
