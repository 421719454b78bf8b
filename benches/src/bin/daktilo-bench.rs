//! `daktilo-bench`: accuracy on FVC-style datasets. See `daktilo-bench --help`.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use daktilo_bench::crop;
use daktilo_bench::det;
use daktilo_bench::fvc::{self, Set};
use daktilo_bench::identify::{Outcomes, SUBJECT_POSITIONS};
use daktilo_bench::metrics::{self, ErrorRates};
use daktilo_bench::progress::Progress;
use daktilo_bench::tails;
use daktilo_engine::gallery::{Gallery, GalleryOptions, NewEntry};
use daktilo_engine::matching::{self, PreparedTemplate};
use daktilo_engine::search::{self, ProbeFinger, SearchOptions};
use daktilo_engine::template;
use daktilo_engine::template::{FingerPosition, Format, Template, TemplateRecord};
use rayon::prelude::*;
use serde::Serialize;

#[derive(Parser)]
#[command(
    name = "daktilo-bench",
    version,
    about = "Daktilo's accuracy and scale harness"
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

/// How the synthetic fillers' minutiae are placed (`synth::Model`).
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum SynthModel {
    /// Where the print's ridge lines, drawn a ridge period apart, end or fork.
    Ridges,
    /// Thrown at random inside the print, at least 12 px apart (the model until the
    /// twenty-fifth session).
    Points,
    /// The ridge model's fingers rolled nail to nail: a rolled impression's area, as
    /// densely covered with minutiae (several stage-1 rows each).
    Rolled,
}

impl SynthModel {
    fn model(self) -> daktilo_bench::synth::Model {
        match self {
            SynthModel::Ridges => daktilo_bench::synth::Model::Ridges,
            SynthModel::Points => daktilo_bench::synth::Model::Points,
            SynthModel::Rolled => daktilo_bench::synth::Model::Rolled,
        }
    }

    /// The name on the command line.
    fn name(self) -> &'static str {
        match self {
            SynthModel::Ridges => "ridges",
            SynthModel::Points => "points",
            SynthModel::Rolled => "rolled",
        }
    }

    /// The name in the note beside a gallery ([`FillerNote`]), which changes with the
    /// model's fillers: "ridges" was the ridge model before its field was warped toward the
    /// vertical (`synth::ridges::WARP`, twenty-sixth session), "ridges-2" before its flow
    /// block's coherence followed the field and its patterns the classes' frequencies
    /// (twenty-ninth session).
    fn marker(self) -> &'static str {
        match self {
            SynthModel::Ridges => "ridges-4",
            SynthModel::Points => "points",
            SynthModel::Rolled => "rolled-1",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Source {
    /// The `.iso` templates beside the images.
    Iso,
    /// The images, through Daktilo's own extractor.
    Image,
}

impl Source {
    /// The file extension of a set's samples for this source.
    fn extension(self) -> &'static str {
        match self {
            Source::Iso => "iso",
            Source::Image => "tif",
        }
    }

    /// The name on the command line.
    fn name(self) -> &'static str {
        match self {
            Source::Iso => "iso",
            Source::Image => "image",
        }
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Impostors {
    /// First impression of each finger against the first of every other (FVC).
    Fvc,
    /// Every impression against every impression of every other finger.
    All,
}

#[derive(Subcommand)]
enum Command {
    /// Verification accuracy with the FVC protocol: EER, FMR100, FMR1000, ZeroFMR per set.
    Verify {
        /// A folder of sets (sub-folders of `<finger>_<impression>` files), or one set.
        #[arg(long)]
        dataset: PathBuf,
        /// Compare the ISO templates, or extract from the images.
        #[arg(long, value_enum, default_value = "iso")]
        source: Source,
        /// Write every comparison as `probe,candidate,score` and what made the score (the
        /// local score, agreement, mated and common-area minutiae, field agreement).
        #[arg(long)]
        scores: Option<PathBuf>,
        /// Draw the DET curves of all sets in one PNG.
        #[arg(long)]
        det: Option<PathBuf>,
        /// Print the figures as one JSON object on standard output (rates in percent).
        #[arg(long)]
        json: bool,
        /// Resolution of a set's images, e.g. DB2_B=569 (repeatable). FVC2002 DB2 is known;
        /// otherwise the file's own resolution, or 500.
        #[arg(long, value_parser = parse_ppi)]
        ppi: Vec<(String, f32)>,
        /// Only these fingers, e.g. 106-110 (a held-out check).
        #[arg(long, value_parser = parse_fingers)]
        fingers: Option<(u32, u32)>,
        /// Impostor comparisons: the FVC protocol's (first impressions only) or every
        /// cross-finger pair (for studying the impostor tail; not FVC figures).
        #[arg(long, value_enum, default_value = "fvc")]
        impostors: Impostors,
    },
    /// How well stage 1 alone ranks a probe's mate among real impostors (the FVC
    /// templates of every set): the penetration rate (share of impostors scoring at least
    /// the mate) per probe, beside the matcher's. For developing the stage-1 feature.
    Stage1 {
        /// A folder of FVC-style sets.
        #[arg(long)]
        dataset: PathBuf,
        /// The ISO templates, or our own extracted from the images (FVC2002 DB2 at 569 ppi).
        #[arg(long, value_enum, default_value = "iso")]
        source: Source,
        /// Only probes of these fingers, e.g. 101-105 (development) or 106-110 (held out).
        #[arg(long, value_parser = parse_fingers)]
        fingers: Option<(u32, u32)>,
    },
    /// How far our extractor's minutiae agree with the FVC2002 ISO templates' (a commercial
    /// SDK's, their stretch to 300 x 400 undone): precision, recall and F1 per set, and the
    /// images that agree least. A development measure for the extractor, not ground truth.
    Agree {
        /// A folder of FVC-style sets whose images have ISO templates beside them.
        #[arg(long)]
        dataset: PathBuf,
        /// Only these fingers, e.g. 101-105 (development).
        #[arg(long, value_parser = parse_fingers)]
        fingers: Option<(u32, u32)>,
        /// Images that agree least, listed after the table.
        #[arg(long, default_value_t = 5)]
        worst: usize,
    },
    /// Rolled against plain impressions on NIST's reference ten-print card (Type-4): each
    /// finger's plain print (the thumbs', and the tips cut from the four-finger images)
    /// against every rolled one, and the rolled ones against each other: ink on card, with
    /// a card's captions and handwriting.
    Tenprint {
        /// The datasets' `ansi-nist` folder (holding `decoded/type-4-tpcard-fp-N.png`).
        #[arg(long)]
        dataset: PathBuf,
        /// Print the figures as one JSON object on standard output.
        #[arg(long)]
        json: bool,
        /// Also search each plain impression in a gallery of this many templates: the ten
        /// rolled prints among synthetic fillers (with the ridge flow), by the two-stage
        /// search (also against a copy of each rolled print with one stage-1 row about its
        /// centroid, as before the rows) and exhaustively with the matcher alone.
        #[arg(long)]
        gallery_size: Option<u64>,
        /// With --gallery-size, also search plain-sized windows cut from the rolled prints
        /// (the 48 minutiae about each point of a 64-px grid, where they lie within 160
        /// px), two-stage, with the rows and with one row.
        #[arg(long, requires = "gallery_size")]
        windows: bool,
        /// With --gallery-size, the fillers' model: plain prints of the ridge model (as
        /// before), or the same fingers rolled, as a register of rolled prints holds them
        /// (several stage-1 rows each: a larger gallery to scan, and more chances for an
        /// impostor).
        #[arg(long, value_enum, default_value_t = SynthModel::Ridges, requires = "gallery_size")]
        fillers: SynthModel,
    },
    /// Build a gallery of synthetic templates (fingers that do not exist).
    Synth {
        /// How many templates.
        #[arg(long)]
        count: u64,
        /// The gallery directory to create (must not hold a gallery yet).
        #[arg(long)]
        out: PathBuf,
        /// Random seed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Give each template the ridge-flow block that Daktilo's extractor writes (for a
        /// gallery searched with our own extractor's templates).
        #[arg(long)]
        flow: bool,
        /// How the templates' minutiae are placed.
        #[arg(long, value_enum, default_value_t = SynthModel::Ridges)]
        model: SynthModel,
    },
    /// Compare impostor scores against synthetic templates with impostor scores between
    /// real FVC fingers (matcher and stage-1 feature): other fingers of the same set, and
    /// prints of the other sets.
    SynthCompare {
        /// A folder of FVC-style sets.
        #[arg(long)]
        dataset: PathBuf,
        /// Synthetic templates to compare against.
        #[arg(long, default_value_t = 2000)]
        count: u64,
        /// The FVC templates: the ISO ones, or our own extractor's (then the synthetic
        /// templates carry the ridge flow, as `identify --source image` builds them).
        #[arg(long, value_enum, default_value_t = Source::Iso)]
        source: Source,
        /// How the synthetic templates' minutiae are placed.
        #[arg(long, value_enum, default_value_t = SynthModel::Ridges)]
        model: SynthModel,
        /// Draw the impostor scores' tails (the share at or above each score, matcher and
        /// stage 1, real against synthetic) in one PNG.
        #[arg(long)]
        plot: Option<PathBuf>,
    },
    /// 1:N identification: FVC fingers enrolled among synthetic ones, searched with their
    /// other impressions; rank-1, FNIR at FPIR, speed, memory, and the same searches done
    /// exhaustively with the matcher alone.
    Identify {
        /// Gallery size (synthetic templates plus the enrolled FVC fingers).
        #[arg(long)]
        gallery_size: u64,
        /// A folder of FVC-style sets.
        #[arg(long)]
        dataset: PathBuf,
        /// Enrol ISO templates or templates extracted from the images.
        #[arg(long, value_enum, default_value = "iso")]
        source: Source,
        /// Where to build (or reuse) the gallery; a temporary folder otherwise.
        #[arg(long)]
        gallery: Option<PathBuf>,
        /// Mated probes also searched exhaustively, in one batched pass over the gallery (0:
        /// all of them).
        #[arg(long, default_value_t = 0)]
        exhaustive_probes: usize,
        /// Stage-1 shortlist per probe finger (what stage 2 compares).
        #[arg(long, default_value_t = SearchOptions::default().shortlist)]
        shortlist: usize,
        /// Scan results per probe finger re-ranked with geometry before the shortlist is
        /// kept (at most the shortlist: no re-ranking).
        #[arg(long, default_value_t = SearchOptions::default().rerank)]
        rerank: usize,
        /// Or this share of the gallery, where that is more (0: `--rerank` alone).
        #[arg(long, default_value_t = SearchOptions::default().rerank_share)]
        rerank_share: f64,
        /// The fingers enrolled (impression 1) and searched with their other impressions;
        /// the others make the non-mated searches. 106-110 gives a run on the fingers that
        /// development did not look at (build its gallery in its own folder).
        #[arg(long, value_parser = parse_fingers, default_value = "101-105")]
        enrol_fingers: (u32, u32),
        /// Follow every mated probe through stage 1 as well: where its mate ranks among
        /// the scan's best this many (0: not done), and among the scan's best `--rerank`
        /// after the geometric re-ranking; which stage lost each mate missed at rank 1,
        /// and how many mates other re-ranking and shortlist sizes would pass to stage 2.
        #[arg(long, default_value_t = 0)]
        funnel: usize,
        /// Print the figures as one JSON object.
        #[arg(long)]
        json: bool,
        /// How the synthetic fillers' minutiae are placed (a gallery built with one model
        /// is not reused with the other).
        #[arg(long, value_enum, default_value_t = SynthModel::Ridges)]
        model: SynthModel,
        /// Fingers per subject (1 to 4). With 1, every template is a subject of its own and
        /// the probes' finger is unknown. With K > 1, the first K sets are taken as K
        /// fingers of each subject (DB1_B's finger 101 as subject 101's right index, DB2_B's
        /// as its left index, then the thumbs), the fillers are subjects of K fingers, and
        /// each search gives the K fingers with their positions and ranks subjects by the
        /// fused score; each finger alone is reported beside it (build its gallery in its
        /// own folder).
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u8).range(1..=4))]
        subject_fingers: u8,
    },
    /// The service over loopback gRPC: ten-print enrolments per second, identification
    /// latency with concurrent clients at a large registry, and load shedding at twice the
    /// sustained rate.
    Service {
        /// Synthetic subjects in the registry.
        #[arg(long, default_value_t = 100_000)]
        subjects: u64,
        /// Fingers per synthetic subject.
        #[arg(long, default_value_t = 2)]
        fingers: usize,
        /// The datasets folder (FVC2002 images under fvc2002/).
        #[arg(long)]
        dataset: PathBuf,
        /// Where the data directory is built (or reused when it exists).
        #[arg(long)]
        data_dir: PathBuf,
        /// Concurrent identification clients.
        #[arg(long, default_value_t = 8)]
        clients: usize,
        /// Seconds of each load phase.
        #[arg(long, default_value_t = 20.0)]
        seconds: f64,
        /// Ten-print enrolments to time.
        #[arg(long, default_value_t = 20)]
        enrolments: usize,
        /// Print the figures as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Fit the score calibration on every cross-finger (impostor) pair of every set and
    /// print the knots for `engine/src/matching/calibration.rs`.
    Calibrate {
        /// A folder of sets, as for `verify`.
        #[arg(long)]
        dataset: PathBuf,
        /// Fit on the ISO templates, or on Daktilo's own templates of the images (those the
        /// daemon makes from scanner images; the shipped tables).
        #[arg(long, value_enum, default_value = "image")]
        source: Source,
        /// Also write the raw impostor scores of the templates as they are, one per line (those
        /// with the ridge flow when the templates carry it).
        #[arg(long)]
        raw: Option<PathBuf>,
        /// Write the tables to this file (`engine/src/matching/calibration_tables.rs`)
        /// instead of printing them.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Instead of fitting, print how often impostors (and genuine pairs) reach the
        /// thresholds when one side is a small capture (a template cut to its k most central
        /// minutiae) or a sparse one (k minutiae drawn over the whole print), by k, and on
        /// the pairs as they are by the smaller template's size.
        #[arg(long)]
        by_size: bool,
    },
}

fn set_ppi(set: &Set, overrides: &[(String, f32)]) -> Option<f32> {
    overrides
        .iter()
        .find(|(n, _)| *n == set.name)
        .map(|(_, p)| *p)
        .or_else(|| fvc::known_ppi(&set.name))
}

/// The templates of a set, from its ISO files or extracted from its images.
fn load_templates(
    set: &Set,
    source: Source,
    ppi: &[(String, f32)],
) -> anyhow::Result<Vec<Template>> {
    if source == Source::Image {
        return fvc::own_set_templates(set, set_ppi(set, ppi));
    }
    set.samples
        .par_iter()
        .map(|s| {
            let bytes = std::fs::read(&s.path).with_context(|| s.path.display().to_string())?;
            let record = template::decode(&bytes).with_context(|| s.path.display().to_string())?;
            record
                .templates
                .into_iter()
                .next()
                .with_context(|| format!("{}: no finger view", s.path.display()))
        })
        .collect()
}

/// The prepared templates of a set and their image quality (0–100; 0 for ISO templates
/// that report none).
fn load_set(
    set: &Set,
    source: Source,
    ppi: &[(String, f32)],
) -> anyhow::Result<(Vec<PreparedTemplate>, Vec<u8>)> {
    let templates = load_templates(set, source, ppi)?;
    templates
        .par_iter()
        .zip(&set.samples)
        .map(|(t, s)| {
            let prepared = matching::prepare(t).with_context(|| s.path.display().to_string())?;
            Ok((prepared, t.quality))
        })
        .collect::<anyhow::Result<Vec<_>>>()
        .map(|v| v.into_iter().unzip())
}

fn parse_ppi(text: &str) -> Result<(String, f32), String> {
    let (name, value) = text
        .split_once('=')
        .ok_or("expected SET=PPI, e.g. DB2_B=569")?;
    let ppi: f32 = value
        .parse()
        .map_err(|_| format!("{value:?} is not a number"))?;
    Ok((name.to_string(), ppi))
}

/// The scores of `pairs`, and with `detailed` what made each (else the default parts).
fn score_pairs(
    prepared: &[PreparedTemplate],
    pairs: &[(usize, usize)],
    detailed: bool,
    bar: &Progress,
) -> (Vec<f64>, Vec<matching::Parts>) {
    pairs
        .par_iter()
        .map(|&(a, b)| {
            let s = if detailed {
                let c = matching::compare_detailed(&prepared[a], &prepared[b]);
                (f64::from(c.score), c.parts)
            } else {
                let s = matching::compare(&prepared[a], &prepared[b]);
                (f64::from(s), matching::Parts::default())
            };
            bar.inc(1);
            s
        })
        .unzip()
}

#[derive(Serialize)]
struct Report {
    source: &'static str,
    sets: std::collections::BTreeMap<String, Percent>,
    mean: Percent,
    /// FNMR at the calibrated FMR 1% threshold per quintile of image quality (images only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    quality_quintiles: Vec<Quintile>,
}

/// One fifth of the genuine comparisons, by the lower image quality of the two prints.
#[derive(Serialize)]
struct Quintile {
    quality_min: u8,
    quality_max: u8,
    comparisons: usize,
    /// Percent.
    fnmr: f64,
}

fn quintiles(mut graded: Vec<(u8, f64)>, threshold: f64) -> Vec<Quintile> {
    graded.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.total_cmp(&b.1)));
    let n = graded.len();
    (0..5)
        .filter_map(|k| {
            let part = &graded[k * n / 5..(k + 1) * n / 5];
            let (first, last) = (part.first()?, part.last()?);
            let misses = part.iter().filter(|(_, s)| *s < threshold).count();
            Some(Quintile {
                quality_min: first.0,
                quality_max: last.0,
                comparisons: part.len(),
                fnmr: 100.0 * misses as f64 / part.len() as f64,
            })
        })
        .collect()
}

/// Error rates in percent, for people and scripts.
#[derive(Serialize, Clone, Copy)]
struct Percent {
    eer: f64,
    fmr100: f64,
    fmr1000: f64,
    zerofmr: f64,
    genuine: usize,
    impostor: usize,
    /// The genuine comparisons missed at FMR100's threshold, and the 95 % Wilson interval
    /// of FMR100 in percent (the mean's: of all sets' misses over all their genuine
    /// comparisons).
    fmr100_misses: usize,
    fmr100_interval: (f64, f64),
}

impl From<ErrorRates> for Percent {
    fn from(r: ErrorRates) -> Self {
        let misses = (r.fmr100 * r.genuine as f64).round() as usize;
        Self {
            eer: r.eer * 100.0,
            fmr100: r.fmr100 * 100.0,
            fmr1000: r.fmr1000 * 100.0,
            zerofmr: r.zerofmr * 100.0,
            genuine: r.genuine,
            impostor: r.impostor,
            fmr100_misses: misses,
            fmr100_interval: percent_interval(misses, r.genuine),
        }
    }
}

/// [`metrics::wilson_interval`] in percent.
fn percent_interval(k: usize, n: usize) -> (f64, f64) {
    let (low, high) = metrics::wilson_interval(k, n);
    (100.0 * low, 100.0 * high)
}

fn parse_fingers(text: &str) -> Result<(u32, u32), String> {
    let (a, b) = text
        .split_once('-')
        .ok_or("expected FIRST-LAST, e.g. 106-110")?;
    let parse = |t: &str| {
        t.parse::<u32>()
            .map_err(|_| format!("{t:?} is not a finger number"))
    };
    Ok((parse(a)?, parse(b)?))
}

struct VerifyArgs<'a> {
    dataset: &'a Path,
    source: Source,
    scores: Option<&'a Path>,
    det_path: Option<&'a Path>,
    json: bool,
    ppi: &'a [(String, f32)],
    fingers: Option<(u32, u32)>,
    impostors: Impostors,
}

fn verify(args: VerifyArgs) -> anyhow::Result<()> {
    let VerifyArgs {
        dataset,
        source,
        scores,
        det_path,
        json,
        ppi,
        fingers,
        impostors,
    } = args;
    let extension = source.extension();
    let mut sets = fvc::discover(dataset, extension)
        .with_context(|| format!("reading {}", dataset.display()))?;
    if let Some((first, last)) = fingers {
        for set in &mut sets {
            set.samples.retain(|s| (first..=last).contains(&s.finger));
        }
        sets.retain(|s| !s.samples.is_empty());
    }
    if sets.is_empty() {
        bail!(
            "{}: no <finger>_<impression>.{extension} files found",
            dataset.display()
        );
    }
    if let Some(parent) = det_path
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        bail!("{}: no such folder for the DET plot", parent.display());
    }
    let mut csv = match scores {
        Some(p) => Some(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| p.display().to_string())?,
        )),
        None => None,
    };
    if let Some(w) = csv.as_mut() {
        writeln!(
            w,
            "probe,candidate,score,local,agreement,mated,common_probe,common_candidate,field,ridges_0,ridges_1,ridges_2,ridges_3"
        )?;
    }
    let mut report = Report {
        source: if source == Source::Iso {
            "iso"
        } else {
            "image"
        },
        sets: Default::default(),
        mean: Percent::from(ErrorRates {
            eer: 0.0,
            fmr100: 0.0,
            fmr1000: 0.0,
            zerofmr: 0.0,
            genuine: 0,
            impostor: 0,
        }),
        quality_quintiles: Vec::new(),
    };
    let mut curves = Vec::new();
    // Genuine comparisons with the lower image quality of their two prints.
    let mut graded: Vec<(u8, f64)> = Vec::new();
    let mut comparisons = 0usize;
    let mut seconds = 0.0;
    for set in &sets {
        let started = Instant::now();
        let (prepared, quality) = load_set(set, source, ppi)?;
        if source == Source::Image {
            eprintln!(
                "{}: {} images extracted in {:.2} s on {} threads",
                set.name,
                set.samples.len(),
                started.elapsed().as_secs_f64(),
                rayon::current_num_threads()
            );
        }
        let (genuine, mut impostor) = fvc::protocol(set);
        if impostors == Impostors::All {
            impostor = fvc::all_impostors(set);
        }
        let bar = Progress::new(
            (genuine.len() + impostor.len()) as u64,
            &set.name,
            "comparisons",
        );
        let started = Instant::now();
        let detailed = csv.is_some();
        let (g, g_parts) = score_pairs(&prepared, &genuine, detailed, &bar);
        let (i, i_parts) = score_pairs(&prepared, &impostor, detailed, &bar);
        seconds += started.elapsed().as_secs_f64();
        comparisons += genuine.len() + impostor.len();
        bar.finish();
        if let Some(w) = csv.as_mut() {
            for (pairs, scores, parts) in [(&genuine, &g, &g_parts), (&impostor, &i, &i_parts)] {
                for ((&(a, b), s), p) in pairs.iter().zip(scores.iter()).zip(parts.iter()) {
                    let field = p.field.map(|f| f.to_string()).unwrap_or_default();
                    writeln!(
                        w,
                        "{},{},{s},{},{},{},{},{},{field},{},{},{},{}",
                        set.samples[a].path.display(),
                        set.samples[b].path.display(),
                        p.local,
                        p.agreement,
                        p.mated,
                        p.common.0,
                        p.common.1,
                        p.ridges[0],
                        p.ridges[1],
                        p.ridges[2],
                        p.ridges[3],
                    )?;
                }
            }
        }
        for (&(a, b), &score) in genuine.iter().zip(&g) {
            graded.push((quality[a].min(quality[b]), score));
        }
        let rates = metrics::error_rates(&g, &i);
        curves.push((set.name.clone(), metrics::det_curve(&g, &i)));
        report.sets.insert(set.name.clone(), rates.into());
    }
    if let Some(mut w) = csv {
        w.flush()?;
    }
    let n = report.sets.len() as f64;
    let mut mean = report.mean;
    for p in report.sets.values() {
        mean.eer += p.eer / n;
        mean.fmr100 += p.fmr100 / n;
        mean.fmr1000 += p.fmr1000 / n;
        mean.zerofmr += p.zerofmr / n;
        mean.genuine += p.genuine;
        mean.impostor += p.impostor;
        mean.fmr100_misses += p.fmr100_misses;
    }
    mean.fmr100_interval = percent_interval(mean.fmr100_misses, mean.genuine);
    report.mean = mean;
    if source == Source::Image {
        report.quality_quintiles = quintiles(graded, f64::from(matching::threshold_for_fmr(0.01)));
    }
    if let Some(p) = det_path {
        det::plot(
            p,
            &format!("DET, FVC protocol, {} source", report.source),
            &curves,
        )
        .map_err(|e| anyhow::anyhow!("writing the DET plot to {}: {e}", p.display()))?;
    }
    if json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    println!(
        "{:<10} {:>8} {:>9} {:>8} {:>8} {:>8} {:>8}",
        "set", "genuine", "impostor", "EER", "FMR100", "FMR1000", "ZeroFMR"
    );
    let line = |name: &str, p: &Percent| {
        println!(
            "{:<10} {:>8} {:>9} {:>7.2}% {:>7.2}% {:>7.2}% {:>7.2}%",
            name, p.genuine, p.impostor, p.eer, p.fmr100, p.fmr1000, p.zerofmr
        );
    };
    for (name, p) in &report.sets {
        line(name, p);
    }
    line("mean", &report.mean);
    // How far each FMR100 may lie from the true rate: with few genuine pairs (a held-out
    // subset) one pair more or less moves it by more than the difference between targets.
    println!("\nFMR100 as missed genuine pairs, with its 95% Wilson interval:");
    for (name, p) in report
        .sets
        .iter()
        .map(|(n, p)| (n.as_str(), p))
        .chain([("all", &report.mean)])
    {
        println!(
            "  {name:<8} {:>4}/{:<5} {:>5.2}%  ({:.2}-{:.2}%)",
            p.fmr100_misses,
            p.genuine,
            100.0 * p.fmr100_misses as f64 / p.genuine.max(1) as f64,
            p.fmr100_interval.0,
            p.fmr100_interval.1
        );
    }
    if !report.quality_quintiles.is_empty() {
        println!("\nFNMR at the calibrated FMR 1% threshold, by quintile of image quality");
        println!("(the lower quality of the two prints in each genuine comparison):");
        for (k, q) in report.quality_quintiles.iter().enumerate() {
            println!(
                "  quintile {} (quality {:>3}-{:>3}, {} comparisons): FNMR {:>6.2}%",
                k + 1,
                q.quality_min,
                q.quality_max,
                q.comparisons,
                q.fnmr
            );
        }
    }
    eprintln!(
        "{comparisons} comparisons in {seconds:.2} s on {} threads ({:.0} per second)",
        rayon::current_num_threads(),
        comparisons as f64 / seconds.max(1e-9)
    );
    Ok(())
}

/// Every set below `dataset` with its templates.
fn load_sets(dataset: &Path, source: Source) -> anyhow::Result<Vec<(Set, Vec<Template>)>> {
    fvc::discover(dataset, source.extension())?
        .into_iter()
        .map(|s| {
            let t = load_templates(&s, source, &[])?;
            Ok((s, t))
        })
        .collect()
}

/// Sizes of the smaller template that the calibration has a table for, each fitted on the
/// impostor pairs with one side cut down to that many minutiae (and the other at least as
/// large); the last serves every larger size. The pairs as they are fit nothing: they are
/// the check (`benches/tests/calibration.rs`).
const CALIBRATED_SIZES: &[usize] = &[4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 28, 32];

fn calibrate(
    dataset: &Path,
    source: Source,
    raw_out: Option<&Path>,
    out: Option<&Path>,
) -> anyhow::Result<()> {
    let loaded = load_sets(dataset, source)?;
    let names: Vec<&str> = loaded.iter().map(|(s, _)| s.name.as_str()).collect();
    let mut file = String::from(
        "// Written by `daktilo-bench calibrate --out`; do not edit. See docs/matching.md.\n",
    );
    // `--raw` takes the first kind the data has: with the flow for our own templates.
    let mut raw_written = false;
    // The templates as they are, and the same templates without their ridge flow and
    // ridge counts (minutiae alone, as another vendor's templates are compared): each kind
    // of comparison has its tables.
    for (strip, name) in [(false, "TABLES_FLOW"), (true, "TABLES_MINUTIAE")] {
        let kind = if strip {
            "minutiae alone"
        } else {
            "minutiae and ridge flow"
        };
        let mut natural = Vec::new();
        for (set, templates) in &loaded {
            natural.extend(cut_comparisons(
                templates,
                &fvc::all_impostors(set),
                None,
                strip,
            )?);
        }
        let natural: Vec<(f64, usize)> = natural
            .into_iter()
            .filter(|(c, _)| c.flow != strip)
            .map(|(c, n)| (f64::from(c.raw), n))
            .collect();
        if natural.is_empty() {
            if out.is_some() {
                bail!(
                    "no comparison of {kind} in the data: the tables are fitted on our own \
                     templates (--source image)"
                );
            }
            eprintln!("{name}: no comparison of this kind in the data");
            continue;
        }
        if let Some(p) = raw_out
            && !raw_written
        {
            raw_written = true;
            let mut w = std::io::BufWriter::new(std::fs::File::create(p)?);
            for (r, _) in &natural {
                writeln!(w, "{r}")?;
            }
            w.flush()?;
        }
        file.push_str(&format!(
            "\n/// Fitted by `daktilo-bench calibrate --source {}` on {}, {kind}: each table on the\n/// impostor comparisons (every cross-finger pair) whose smaller template has that many\n/// minutiae, one side cut to its most central ones (`daktilo_bench::crop`); the last\n/// table serves every larger size.\nconst {name}: &[Table] = &[\n",
            source.name(),
            names.join(", "),
        ));
        let mut table = |minutiae: usize, raw: &[f64], note: &str| {
            file.push_str(&format!(
                "    // {} comparisons{note}.\n    Table {{\n        minutiae: {minutiae},\n        knots: &[\n",
                raw.len()
            ));
            for (r, s) in daktilo_bench::calibration::fit(raw) {
                file.push_str(&format!("            ({r:.6}, {s:.2}),\n"));
            }
            file.push_str("        ],\n    },\n");
        };
        for &k in CALIBRATED_SIZES {
            let mut raw = Vec::new();
            for (set, templates) in &loaded {
                raw.extend(
                    cut_comparisons(templates, &fvc::all_impostors(set), Some(k), strip)?
                        .into_iter()
                        .filter(|(c, n)| *n == k && c.flow != strip)
                        .map(|(c, _)| f64::from(c.raw)),
                );
            }
            table(k, &raw, "");
        }
        file.push_str("];\n");
    }
    match out {
        Some(p) => std::fs::write(p, file).with_context(|| p.display().to_string())?,
        None => print!("{file}"),
    }
    Ok(())
}

/// [`crop::comparisons`] with one side cut to its `k` most central minutiae.
fn cut_comparisons(
    templates: &[Template],
    pairs: &[fvc::Pair],
    k: Option<usize>,
    strip: bool,
) -> anyhow::Result<Vec<(matching::Comparison, usize)>> {
    crop::comparisons(templates, pairs, k, strip, crop::central)
}

/// `calibrate --by-size`: the share of impostor comparisons at or above scores 10, 20, 30
/// and 40, and of genuine ones at or above 30 and 40, with one side cut to k minutiae for
/// each k, and as they are by the size of the smaller template, as the shipped tables
/// score them.
fn calibration_by_size(dataset: &Path, source: Source) -> anyhow::Result<()> {
    let loaded = load_sets(dataset, source)?;
    let mut sizes: Vec<usize> = loaded
        .iter()
        .flat_map(|(_, t)| t.iter().map(|t| t.minutiae.len()))
        .collect();
    sizes.sort_unstable();
    let at = |q: f64| sizes[((sizes.len() - 1) as f64 * q).round() as usize];
    println!(
        "{} templates; minutiae per template: least {}, p10 {}, p50 {}, p90 {}, most {}",
        sizes.len(),
        at(0.0),
        at(0.1),
        at(0.5),
        at(0.9),
        at(1.0)
    );
    let kinds: &[(bool, &str)] = if source == Source::Image {
        &[(false, "minutiae and flow"), (true, "minutiae alone")]
    } else {
        &[(true, "minutiae alone")]
    };
    println!(
        "{:<18} {:>9} {:>8} {:>8} {:>8} {:>8} {:>8} {:>9} {:>8} {:>8} {:>8}",
        "kind",
        "smaller",
        "impostor",
        ">=10",
        ">=20",
        ">=30",
        ">=40",
        "highest",
        "genuine",
        ">=30",
        ">=40"
    );
    for &(strip, kind) in kinds {
        // Rows: the pairs with one side cut to k (those whose smaller template then has
        // exactly k minutiae), and the pairs as they are by the size of their smaller
        // template; impostors (every cross-finger pair) and genuine pairs (the FVC
        // protocol's).
        let scores_by =
            |k: Option<usize>, genuine: bool, thin: bool| -> anyhow::Result<Vec<(f32, usize)>> {
                let mut out = Vec::new();
                for (set, templates) in &loaded {
                    let pairs = if genuine {
                        fvc::protocol(set).0
                    } else {
                        fvc::all_impostors(set)
                    };
                    let cut = |t: &Template, k: usize| {
                        if thin {
                            crop::thinned(t, k, 1)
                        } else {
                            crop::central(t, k)
                        }
                    };
                    out.extend(
                        crop::comparisons(templates, &pairs, k, strip, cut)?
                            .into_iter()
                            .filter(|(_, n)| k.is_none_or(|k| *n == k))
                            .map(|(c, n)| (c.score, n)),
                    );
                }
                Ok(out)
            };
        let scores = |k, genuine| scores_by(k, genuine, false);
        let mut rows: Vec<(String, Vec<f32>, Vec<f32>)> = Vec::new();
        let just = |v: Vec<(f32, usize)>| v.into_iter().map(|(s, _)| s).collect::<Vec<_>>();
        for &k in CALIBRATED_SIZES {
            rows.push((
                format!("cut to {k}"),
                just(scores(Some(k), false)?),
                just(scores(Some(k), true)?),
            ));
        }
        for &k in CALIBRATED_SIZES {
            rows.push((
                format!("thinned to {k}"),
                just(scores_by(Some(k), false, true)?),
                just(scores_by(Some(k), true, true)?),
            ));
        }
        let (impostors, genuine) = (scores(None, false)?, scores(None, true)?);
        for (lo, hi) in [
            (0, 20),
            (21, 25),
            (26, 31),
            (32, 39),
            (40, usize::MAX),
            (0, usize::MAX),
        ] {
            let label = match (lo, hi) {
                (0, usize::MAX) => "all".to_string(),
                (_, usize::MAX) => format!("{lo}+"),
                _ => format!("{lo}-{hi}"),
            };
            let within = |v: &[(f32, usize)]| {
                v.iter()
                    .filter(|(_, n)| (lo..=hi).contains(n))
                    .map(|(s, _)| *s)
                    .collect::<Vec<_>>()
            };
            rows.push((label, within(&impostors), within(&genuine)));
        }
        for (label, impostors, genuine) in rows {
            let share = |v: &[f32], t: f32| {
                100.0 * v.iter().filter(|&&s| s >= t).count() as f64 / v.len().max(1) as f64
            };
            let highest = impostors.iter().copied().fold(0.0f32, f32::max);
            println!(
                "{:<18} {:>9} {:>8} {:>7.3}% {:>7.3}% {:>7.3}% {:>7.3}% {:>9.1} {:>8} {:>7.2}% {:>7.2}%",
                kind,
                label,
                impostors.len(),
                share(&impostors, 10.0),
                share(&impostors, 20.0),
                share(&impostors, 30.0),
                share(&impostors, 40.0),
                highest,
                genuine.len(),
                share(&genuine, 30.0),
                share(&genuine, 40.0),
            );
        }
    }
    Ok(())
}

fn gallery_options() -> GalleryOptions {
    GalleryOptions {
        feature_len: search::feature::FEATURE_BYTES,
        ..GalleryOptions::default()
    }
}

/// Every stage-1 row a scan of the snapshot's segments reads: one per template, and a
/// large template's further rows (none in a gallery of plain prints).
fn stage1_rows(snapshot: &daktilo_engine::gallery::Snapshot) -> usize {
    snapshot
        .segments
        .iter()
        .map(|s| s.len() + s.extra_len())
        .sum()
}

fn entry_of(template: &Template, subject: u64, finger: FingerPosition) -> anyhow::Result<NewEntry> {
    Ok(NewEntry {
        subject,
        finger,
        template: template::encode(&TemplateRecord::single(template.clone()), Format::Native)?,
        feature: search::gallery_feature(template),
    })
}

/// Appends `count` synthetic templates of `model` to a gallery, with the ridge-flow block of
/// our own extractor's templates when `flow` is set. With one position or none, template k
/// is subject `first + k` at the position the model drew; with more, template k is subject
/// `first + k / positions.len()` at position `positions[k % positions.len()]`.
fn add_synthetic(
    gallery: &Gallery,
    first: u64,
    count: u64,
    seed: u64,
    flow: bool,
    model: SynthModel,
    positions: &[FingerPosition],
) -> anyhow::Result<()> {
    let fingers = positions.len();
    let bar = Progress::new(count, "synthesising", "templates");
    let chunk = 16_384u64;
    let mut done = 0;
    while done < count {
        let n = chunk.min(count - done);
        let entries: Vec<NewEntry> = (done..done + n)
            .into_par_iter()
            .map(|k| {
                let mut t = daktilo_bench::synth::finger_with(seed, first + k, flow, model.model());
                if fingers > 1 {
                    t.finger = positions[k as usize % fingers];
                    entry_of(&t, first + k / fingers as u64, t.finger)
                } else {
                    entry_of(&t, first + k, t.finger)
                }
            })
            .collect::<anyhow::Result<_>>()?;
        gallery.append(entries)?;
        done += n;
        bar.inc(n);
    }
    bar.finish();
    gallery.flush()?;
    Ok(())
}

/// The note beside a gallery of synthetic fillers, "SOURCE MODEL": which templates they were
/// built for (with the ridge flow for our own extractor's, not for the ISO ones) and with
/// which model, so that `identify` does not reuse a gallery built for other searches. A
/// gallery without the note was built before there was a choice, for ISO templates; one
/// whose note names no model, before the ridge model.
struct FillerNote {
    built_for: String,
    built_with: String,
    /// Fingers per filler subject (a third word; 1 where the note has none).
    fingers: usize,
}

impl FillerNote {
    const FILE: &'static str = "daktilo-bench-source";

    fn write(dir: &Path, source: Source, model: SynthModel, fingers: usize) -> std::io::Result<()> {
        let text = if fingers > 1 {
            format!("{} {} {fingers}", source.name(), model.marker())
        } else {
            format!("{} {}", source.name(), model.marker())
        };
        std::fs::write(dir.join(Self::FILE), text)
    }

    fn read(dir: &Path) -> Self {
        let text = std::fs::read_to_string(dir.join(Self::FILE)).unwrap_or_default();
        let mut words = text.split_whitespace();
        Self {
            built_for: words.next().unwrap_or("iso").to_owned(),
            built_with: words.next().unwrap_or("points").to_owned(),
            fingers: words.next().and_then(|w| w.parse().ok()).unwrap_or(1),
        }
    }
}

fn synth(
    count: u64,
    out: &Path,
    seed: u64,
    flow: bool,
    model: SynthModel,
) -> anyhow::Result<Gallery> {
    let gallery =
        Gallery::open(out, gallery_options()).with_context(|| out.display().to_string())?;
    if !gallery.is_empty() {
        bail!(
            "{} already holds a gallery of {} templates",
            out.display(),
            gallery.len()
        );
    }
    let source = if flow { Source::Image } else { Source::Iso };
    FillerNote::write(out, source, model, 1)?;
    let started = Instant::now();
    add_synthetic(&gallery, 1, count, seed, flow, model, &[])?;
    eprintln!(
        "{count} synthetic templates written to {} in {:.1} s",
        out.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(gallery)
}

fn agree(dataset: &Path, fingers: Option<(u32, u32)>, worst: usize) -> anyhow::Result<()> {
    use daktilo_bench::agree::{Agreement, Tolerance, agreement, unstretched};
    let sets = fvc::discover(dataset, "tif")?;
    if sets.is_empty() {
        bail!("{}: no FVC-style sets of images found", dataset.display());
    }
    let in_range = |f: u32| fingers.is_none_or(|(a, b)| (a..=b).contains(&f));
    println!(
        "{:<10} {:>7} {:>7} {:>7} {:>9} {:>7} {:>7} {:>9}",
        "set", "images", "ours", "theirs", "precision", "recall", "F1", "mean px"
    );
    let mut images = Vec::new();
    let mut f1s = Vec::new();
    for set in &sets {
        let ppi = fvc::known_ppi(&set.name);
        let chosen = Set {
            name: set.name.clone(),
            samples: set
                .samples
                .iter()
                .filter(|s| in_range(s.finger))
                .cloned()
                .collect(),
        };
        let ours = fvc::own_set_templates(&chosen, ppi)?;
        let tolerance = Tolerance::at_ppi(ppi.unwrap_or(500.0));
        let mut total = Agreement::default();
        for (sample, ours) in chosen.samples.iter().zip(&ours) {
            let iso = sample.path.with_extension("iso");
            let bytes = std::fs::read(&iso).with_context(|| iso.display().to_string())?;
            let theirs = template::decode(&bytes)
                .with_context(|| iso.display().to_string())?
                .templates
                .into_iter()
                .next()
                .with_context(|| format!("{}: no finger view", iso.display()))?;
            let a = agreement(&ours.minutiae, &unstretched(&theirs, ours), tolerance);
            total.add(&a);
            images.push((
                a.f1(),
                format!("{}/{}_{}", set.name, sample.finger, sample.impression),
                a,
            ));
        }
        if total.ours + total.theirs == 0 {
            continue;
        }
        f1s.push(total.f1());
        println!(
            "{:<10} {:>7} {:>7} {:>7} {:>9.3} {:>7.3} {:>7.3} {:>9.2}",
            set.name,
            chosen.samples.len(),
            total.ours,
            total.theirs,
            total.precision(),
            total.recall(),
            total.f1(),
            total.mean_distance()
        );
    }
    if f1s.is_empty() {
        bail!("no images with templates among the chosen fingers");
    }
    println!(
        "mean F1 over sets {:.4}",
        f1s.iter().sum::<f32>() / f1s.len() as f32
    );
    images.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
    if worst > 0 {
        println!("\nleast agreement:");
        for (f1, name, a) in images.iter().take(worst) {
            println!(
                "  {name:<14} F1 {f1:.3}  ours {:>3}  theirs {:>3}  paired {:>3}",
                a.ours, a.theirs, a.paired
            );
        }
    }
    Ok(())
}

fn stage1(dataset: &Path, source: Source, fingers: Option<(u32, u32)>) -> anyhow::Result<()> {
    use search::feature::{ProbeFeature, consistent_score, feature_of, score};
    // Every template of every set: (set, finger, impression, prepared, feature).
    let mut all = Vec::new();
    for (si, set) in fvc::discover(dataset, source.extension())?
        .iter()
        .enumerate()
    {
        let templates = load_templates(set, source, &[])?;
        for (s, t) in set.samples.iter().zip(templates) {
            let p = matching::prepare(&t)?;
            let f = feature_of(&p);
            all.push((si, s.finger, s.impression, p, f));
        }
    }
    let in_range = |f: u32| fingers.is_none_or(|(a, b)| (a..=b).contains(&f));
    let mut stage1_pen = Vec::new();
    let mut geo_pen = Vec::new();
    let mut matcher_pen = Vec::new();
    for (si, finger, impression, p, f) in &all {
        if *impression == 1 || !in_range(*finger) {
            continue;
        }
        let Some(mate) = all
            .iter()
            .find(|m| m.0 == *si && m.1 == *finger && m.2 == 1)
        else {
            continue;
        };
        let probe = ProbeFeature::new(f);
        let g1 = score(&probe, &mate.4);
        let g2 = matching::compare(p, &mate.3);
        let g3 = consistent_score(&probe, &mate.4);
        let impostors: Vec<_> = all
            .iter()
            .filter(|m| !(m.0 == *si && m.1 == *finger))
            .collect();
        let n = impostors.len() as f64;
        stage1_pen.push(
            impostors
                .iter()
                .filter(|m| score(&probe, &m.4) >= g1)
                .count() as f64
                / n,
        );
        geo_pen.push(
            impostors
                .iter()
                .filter(|m| consistent_score(&probe, &m.4) >= g3)
                .count() as f64
                / n,
        );
        matcher_pen.push(
            impostors
                .iter()
                .filter(|m| matching::compare(p, &m.3) >= g2)
                .count() as f64
                / n,
        );
    }
    let report = |name: &str, pen: &mut Vec<f64>| {
        pen.sort_by(|a, b| a.total_cmp(b));
        let at = |x: f64| 100.0 * pen.iter().filter(|&&p| p <= x).count() as f64 / pen.len() as f64;
        println!(
            "{name:<8} probes {:>4}  mean penetration {:>6.2}%  mate within top 1% {:>6.2}%  5% {:>6.2}%  10% {:>6.2}%",
            pen.len(),
            100.0 * pen.iter().sum::<f64>() / pen.len() as f64,
            at(0.01),
            at(0.05),
            at(0.10)
        );
    };
    report("stage 1", &mut stage1_pen);
    report("geometry", &mut geo_pen);
    report("matcher", &mut matcher_pen);
    Ok(())
}

fn synth_compare(
    dataset: &Path,
    count: u64,
    source: Source,
    model: SynthModel,
    plot: Option<&Path>,
) -> anyhow::Result<()> {
    if let Some(parent) = plot
        .and_then(Path::parent)
        .filter(|p| !p.as_os_str().is_empty())
        && !parent.is_dir()
    {
        bail!("{}: no such folder for the plot", parent.display());
    }
    anyhow::ensure!(count > 0, "--count must be at least 1");
    let sets = fvc::discover(dataset, source.extension())?;
    let synthetic: Vec<Template> = (0..count)
        .into_par_iter()
        .map(|k| {
            daktilo_bench::synth::finger_with(1, k + 1, source == Source::Image, model.model())
        })
        .collect();
    // Each set's minutiae per template and, where the templates carry a flow block, the
    // print's area (blocks on it) and the minutiae per 100 blocks, then the fillers': how
    // the fillers' sizes compare with each sensor's.
    let mut sizes: Vec<PrintSizes> = Vec::new();
    let synthetic_prepared: Vec<PreparedTemplate> = synthetic
        .par_iter()
        .map(matching::prepare)
        .collect::<Result<_, _>>()?;
    let synthetic_features: Vec<[u8; search::feature::FEATURE_BYTES]> = synthetic_prepared
        .iter()
        .map(search::feature::feature_of)
        .collect();
    // Each comparison's calibrated score and the parts of its raw similarity (LSS-R's
    // local score, the consolidation's agreement, the field agreement where both carry
    // flow): where synthetic impostors differ from real ones.
    let detailed = |a: &PreparedTemplate, b: &PreparedTemplate| {
        let c = matching::compare_detailed(a, b);
        (c.score, c.parts)
    };
    let (mut real, mut fake, mut real1, mut fake1) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    // Real impostors of another set (another sensor and other people): the first impression
    // of every finger against every print of the other sets. Within a set of ten fingers,
    // pairs of one pattern class are as common as the set's few fingers make them, and its
    // prints share a sensor; across sets neither holds.
    let (mut across, mut across1) = (Vec::new(), Vec::new());
    // The FVC protocol's genuine pairs' stage-1 scores: where the mates stand among each
    // kind of impostor.
    let mut genuine1 = Vec::new();
    struct Loaded {
        prepared: Vec<PreparedTemplate>,
        features: Vec<[u8; search::feature::FEATURE_BYTES]>,
        probes: Vec<search::feature::ProbeFeature>,
    }
    let mut loaded = Vec::with_capacity(sets.len());
    for set in &sets {
        let templates = load_templates(set, source, &[])?;
        sizes.push(print_sizes(&set.name, &templates));
        let prepared: Vec<PreparedTemplate> = templates
            .par_iter()
            .map(matching::prepare)
            .collect::<Result<_, _>>()?;
        let features: Vec<_> = prepared.iter().map(search::feature::feature_of).collect();
        // Each sample unpacked as a probe once, for all the pairs it probes.
        let probes = features
            .iter()
            .map(search::feature::ProbeFeature::new)
            .collect();
        loaded.push(Loaded {
            prepared,
            features,
            probes,
        });
    }
    for (k, (set, own)) in sets.iter().zip(&loaded).enumerate() {
        let Loaded {
            prepared,
            features,
            probes,
        } = own;
        for (a, b) in fvc::protocol(set).0 {
            genuine1.push(search::feature::score(&probes[a], &features[b]));
        }
        for (a, b) in fvc::all_impostors(set) {
            real.push(detailed(&prepared[a], &prepared[b]));
            real1.push(search::feature::score(&probes[a], &features[b]));
        }
        for (i, _) in set
            .samples
            .iter()
            .enumerate()
            .filter(|(_, s)| s.impression == 1)
        {
            let p = &probes[i];
            fake.par_extend(
                synthetic_prepared
                    .par_iter()
                    .map(|c| detailed(&prepared[i], c)),
            );
            fake1.extend(
                synthetic_features
                    .iter()
                    .map(|f| search::feature::score(p, f)),
            );
            for other in loaded.iter().enumerate().filter(|&(j, _)| j != k) {
                across.par_extend(
                    other
                        .1
                        .prepared
                        .par_iter()
                        .map(|c| detailed(&prepared[i], c)),
                );
                across1.extend(
                    other
                        .1
                        .features
                        .iter()
                        .map(|f| search::feature::score(p, f)),
                );
            }
        }
    }
    let (real_parts, fake_parts, across_parts) = (real, fake, across);
    let scores = |v: &[(f32, matching::Parts)]| -> Vec<f32> { v.iter().map(|c| c.0).collect() };
    let (mut real, mut fake, mut across) = (
        scores(&real_parts),
        scores(&fake_parts),
        scores(&across_parts),
    );
    let describe = |name: &str, v: &mut Vec<f32>| {
        v.sort_by(f32::total_cmp);
        let n = v.len();
        if n == 0 {
            // A set of one finger has no cross-finger pairs; one without first
            // impressions probes nothing.
            println!("{name:<34} n={n:>7}");
            return;
        }
        let q = |p: f64| v[((p * n as f64) as usize).min(n - 1)];
        println!(
            "{name:<34} n={n:>7}  p10 {:>6.2}  p50 {:>6.2}  p90 {:>6.2}  p99 {:>6.2}  p99.9 {:>6.2}  max {:>6.2}",
            q(0.1),
            q(0.5),
            q(0.9),
            q(0.99),
            q(0.999),
            v[n - 1]
        );
    };
    println!("minutiae per template:");
    let mut fvc_counts: Vec<f32> = sizes.iter().flat_map(|s| s.columns[0].clone()).collect();
    describe("FVC", &mut fvc_counts);
    let fillers = print_sizes(&format!("synthetic ({})", model.name()), &synthetic);
    describe(&fillers.name, &mut fillers.columns[0].clone());
    sizes.push(fillers);
    let titles = [
        "minutiae per template, by set:",
        "print area (flow blocks of 16 px on the print):",
        "minutiae per 100 blocks of print:",
    ];
    for (k, title) in titles.into_iter().enumerate() {
        if sizes.iter().any(|s| s.columns[k].is_empty()) {
            continue;
        }
        println!("{title}");
        for s in &mut sizes {
            describe(&format!("  {}", s.name), &mut s.columns[k]);
        }
    }
    println!("matcher scores (calibrated):");
    describe("FVC impostors (cross-finger)", &mut real);
    if !across.is_empty() {
        describe("FVC impostors (across sets)", &mut across);
    }
    describe("FVC probes vs synthetic", &mut fake);
    // A share of a pool, or a dash where the pool is empty (a dataset of one set has no
    // impostors across sets).
    let percent = |v: &[f32], decimals: usize, share: &dyn Fn(&[f32]) -> f64| {
        if v.is_empty() {
            "-".to_string()
        } else {
            format!("{:.*}%", decimals, share(v))
        }
    };
    for t in [10.0f32, 20.0, 30.0] {
        let share =
            |v: &[f32]| 100.0 * v.iter().filter(|&&s| s >= t).count() as f64 / v.len() as f64;
        println!(
            "  share at or above {t:>4}: FVC {}   across sets {}   synthetic {}",
            percent(&real, 3, &share),
            percent(&across, 3, &share),
            percent(&fake, 3, &share)
        );
    }
    type Part = fn(&matching::Parts) -> Option<f32>;
    let parts: [(&str, Part); 3] = [
        ("local score (LSS-R, x100)", |p| Some(100.0 * p.local)),
        ("agreement m²/(c_a·c_b)", |p| Some(p.agreement)),
        ("field agreement", |p| p.field),
    ];
    for (name, part) in parts {
        let of = |v: &[(f32, matching::Parts)]| -> Vec<f32> {
            v.iter().filter_map(|c| part(&c.1)).collect()
        };
        let (mut r, mut a, mut f) = (of(&real_parts), of(&across_parts), of(&fake_parts));
        if r.is_empty() || f.is_empty() {
            continue;
        }
        println!("{name}:");
        describe("  FVC impostors (cross-finger)", &mut r);
        if !a.is_empty() {
            describe("  FVC impostors (across sets)", &mut a);
        }
        describe("  FVC probes vs synthetic", &mut f);
    }
    println!("stage-1 scores:");
    describe("FVC impostors (cross-finger)", &mut real1);
    if !across1.is_empty() {
        describe("FVC impostors (across sets)", &mut across1);
    }
    describe("FVC probes vs synthetic", &mut fake1);
    // The scan keeps a share of the gallery (1 % by default, `SearchOptions::rerank`): a
    // mate that more than that share of its probe's impostors reach or pass is lost in
    // stage 1 whatever the gallery's size. Pooled over the probes (the real impostors are
    // too few per probe), this compares the two populations; it is not a prediction of a
    // search's loss, which depends on each probe's own impostors (docs/search.md).
    let beaten = |impostors: &[f32], share: f64| {
        let lost = genuine1
            .iter()
            .filter(|&&g| {
                let at_or_above = impostors.len() - impostors.partition_point(|&x| x < g);
                at_or_above as f64 > share * impostors.len() as f64
            })
            .count();
        100.0 * lost as f64 / genuine1.len().max(1) as f64
    };
    for share in [0.01, 0.001] {
        println!(
            "  genuine pairs ({}) that more than {}% of impostors reach (pooled): FVC {}   across sets {}   synthetic {}",
            genuine1.len(),
            100.0 * share,
            percent(&real1, 2, &|v| beaten(v, share)),
            percent(&across1, 2, &|v| beaten(v, share)),
            percent(&fake1, 2, &|v| beaten(v, share))
        );
    }
    if let Some(path) = plot {
        let against = |real: Vec<f32>, across: Vec<f32>, fake: Vec<f32>| {
            vec![
                tails::Series {
                    name: format!("FVC impostors (cross-finger), {}", real.len()),
                    scores: real,
                },
                tails::Series {
                    name: format!("FVC impostors (across sets), {}", across.len()),
                    scores: across,
                },
                tails::Series {
                    name: format!("FVC probes vs synthetic ({}), {}", model.name(), fake.len()),
                    scores: fake,
                },
            ]
        };
        tails::plot(
            path,
            &[
                tails::Panel {
                    title: format!("Impostor scores, matcher ({} source)", source.name()),
                    x_label: "calibrated score".to_string(),
                    series: against(real, across, fake),
                },
                tails::Panel {
                    title: "Impostor scores, stage 1".to_string(),
                    x_label: "stage-1 score".to_string(),
                    series: against(real1, across1, fake1),
                },
            ],
        )
        .map_err(|e| anyhow::anyhow!("writing the plot to {}: {e}", path.display()))?;
        println!("plot written to {}", path.display());
    }
    Ok(())
}

/// A set's (or the fillers') print sizes: for each template its minutiae; where it carries
/// a flow block, the blocks on its print and its minutiae per 100 of them.
struct PrintSizes {
    name: String,
    columns: [Vec<f32>; 3],
}

fn print_sizes(name: &str, templates: &[Template]) -> PrintSizes {
    let (mut blocks, mut density) = (Vec::new(), Vec::new());
    for t in templates {
        if let Some(n) = matching::flow::Flow::from_extensions(&t.extensions)
            .map(|f| f.blocks_on_print())
            .filter(|&n| n > 0)
        {
            blocks.push(n as f32);
            density.push(100.0 * t.minutiae.len() as f32 / n as f32);
        }
    }
    let counts = templates.iter().map(|t| t.minutiae.len() as f32).collect();
    PrintSizes {
        name: name.to_string(),
        columns: [counts, blocks, density],
    }
}

struct IdentifyArgs<'a> {
    gallery_size: u64,
    dataset: &'a Path,
    source: Source,
    gallery: Option<&'a Path>,
    exhaustive_probes: usize,
    shortlist: usize,
    rerank: usize,
    rerank_share: f64,
    enrol_fingers: (u32, u32),
    funnel: usize,
    json: bool,
    model: SynthModel,
    subject_fingers: usize,
}

#[derive(Serialize)]
struct Exhaustive {
    probes: usize,
    rank1: f64,
    two_stage_rank1_same_probes: f64,
    /// Wall time of the batched exhaustive pass divided by the probes in it (single-finger
    /// searches), or the median exhaustive search (multi-finger searches, not batched).
    ms_per_probe: f64,
    batched: bool,
}

/// With `--subject-fingers` K > 1: one finger of the searches, ranked by its own score.
#[derive(Serialize)]
struct FingerAlone {
    finger: String,
    set: String,
    rank1: f64,
    fnir_at_fpir_1pct: f64,
    fnir_at_fpir_01pct: f64,
}

#[derive(Serialize)]
struct IdentifyReport {
    gallery_size: usize,
    enrolled_fvc_fingers: usize,
    /// Fingers per subject (`--subject-fingers`): the searches give this many fingers.
    subject_fingers: usize,
    /// With more than one finger per subject: each finger alone.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    fingers_alone: Vec<FingerAlone>,
    /// How the synthetic fillers' minutiae were placed ("ridges" or "points").
    synth_model: &'static str,
    mated_searches: usize,
    nonmated_searches: usize,
    rank1: f64,
    fnir_at_fpir_1pct: f64,
    fnir_at_fpir_01pct: f64,
    templates_per_s: f64,
    per_core: f64,
    p50_ms: f64,
    p99_ms: f64,
    stage1_ms: f64,
    /// The processor the run was on (`daktilo_bench::host::processor`).
    processor: String,
    /// The stage-1 kernel this processor ran (`search::scan_kernel`).
    scan_kernel: &'static str,
    /// Probes (count, median stage-1 ms) scanned the general way and in sectors.
    stage1_general: (usize, f64),
    stage1_sectors: (usize, f64),
    /// The best bandwidth reading, which stage 1 is compared with (`bandwidth_fraction`).
    bandwidth_gb_s: f64,
    bandwidth_fraction: f64,
    /// Readings taken (one before the first stage-1 scan, one after each), the lowest and
    /// the median, and each scan's rate against the reading right after it (median).
    bandwidth_readings: usize,
    bandwidth_lowest_gb_s: f64,
    bandwidth_median_gb_s: f64,
    bandwidth_fraction_paired: f64,
    bytes_per_template: f64,
    stage1_bytes_per_template: usize,
    open_ms: f64,
    shortlist: usize,
    /// The re-ranking size the searches used: `--rerank`, or `--rerank-share` of the
    /// gallery where that is more.
    rerank: usize,
    rerank_share: f64,
    exhaustive: Exhaustive,
    /// With `--funnel`: where the mates stood in stage 1.
    #[serde(skip_serializing_if = "Option::is_none")]
    funnel: Option<daktilo_bench::identify::FunnelReport>,
}

/// The identification harness's prints: who is enrolled and which searches are made.
struct IdentifySearches {
    /// (subject, position, impression 1).
    enrolled: Vec<(u64, FingerPosition, Template)>,
    /// (the mate's subject, the probe's fingers).
    mated: Vec<(u64, Vec<ProbeFinger>)>,
    /// The mated searches' names, for the funnel report.
    mated_names: Vec<String>,
    /// Every print the mated searches use, once (stage 1 alone is timed on each).
    mated_prints: Vec<Template>,
    nonmated: Vec<Vec<ProbeFinger>>,
}

impl IdentifySearches {
    /// With one finger per subject, every set's fingers in `--enrol-fingers` are enrolled
    /// (impression 1), each a subject of unknown position, and searched with their other
    /// impressions; the others are searched without being enrolled. With K fingers, `sets`
    /// are the K fingers of each subject (`SUBJECT_POSITIONS`), and the searches give one
    /// impression of each, as `identify::impression_sets` pairs them.
    fn load(sets: &[Set], args: &IdentifyArgs) -> anyhow::Result<Self> {
        let (first, last) = args.enrol_fingers;
        let enrolling = |finger: u32| (first..=last).contains(&finger);
        let mut out = Self {
            enrolled: Vec::new(),
            mated: Vec::new(),
            mated_names: Vec::new(),
            mated_prints: Vec::new(),
            nonmated: Vec::new(),
        };
        let alone = |t: Template| {
            vec![ProbeFinger {
                finger: FingerPosition::Unknown,
                template: t,
            }]
        };
        let mut prints = std::collections::BTreeMap::new();
        for (si, set) in sets.iter().enumerate() {
            let templates = load_templates(set, args.source, &[])?;
            for (sample, t) in set.samples.iter().zip(templates) {
                if args.subject_fingers > 1 {
                    prints.insert((sample.finger, sample.impression, si), t);
                    continue;
                }
                let subject = 1_000_000_000 + si as u64 * 1000 + u64::from(sample.finger);
                if !enrolling(sample.finger) {
                    out.nonmated.push(alone(t));
                } else if sample.impression == 1 {
                    out.enrolled.push((subject, FingerPosition::Unknown, t));
                } else {
                    out.mated_prints.push(t.clone());
                    out.mated.push((subject, alone(t)));
                    out.mated_names.push(format!(
                        "{} {}_{}",
                        set.name, sample.finger, sample.impression
                    ));
                }
            }
        }
        let fingers: std::collections::BTreeSet<u32> = prints.keys().map(|p| p.0).collect();
        for finger in fingers {
            // The impressions every set holds of this finger.
            let impressions: Vec<u32> = (1..=8)
                .filter(|&i| (0..sets.len()).all(|si| prints.contains_key(&(finger, i, si))))
                .collect();
            let probe = |of: &[u32]| -> Vec<ProbeFinger> {
                of.iter()
                    .enumerate()
                    .map(|(si, &i)| ProbeFinger {
                        finger: SUBJECT_POSITIONS[si],
                        template: prints[&(finger, i, si)].clone(),
                    })
                    .collect()
            };
            let subject = 1_000_000_000 + u64::from(finger);
            if !enrolling(finger) {
                for of in daktilo_bench::identify::impression_sets(&impressions, sets.len()) {
                    out.nonmated.push(probe(&of));
                }
                continue;
            }
            if impressions.first() != Some(&1) {
                bail!("finger {finger}: impression 1 is missing from one of the sets");
            }
            for (si, &position) in SUBJECT_POSITIONS.iter().enumerate().take(sets.len()) {
                out.enrolled
                    .push((subject, position, prints[&(finger, 1, si)].clone()));
                for &i in &impressions[1..] {
                    out.mated_prints.push(prints[&(finger, i, si)].clone());
                }
            }
            for of in daktilo_bench::identify::impression_sets(&impressions[1..], sets.len()) {
                out.mated_names.push(format!(
                    "subject {finger}, impressions {}",
                    of.iter().map(u32::to_string).collect::<Vec<_>>().join(" ")
                ));
                out.mated.push((subject, probe(&of)));
            }
        }
        Ok(out)
    }
}

/// The subject that holds all ten of the card's rolled prints in `tenprint`'s gallery.
const CARD_SUBJECT: u64 = 11;
/// `tenprint --gallery-size`: the rolled prints with their first stage-1 row alone are
/// subjects `ONE_ROW` + 1 to 10 (the fillers' subjects count up from 12).
const ONE_ROW: u64 = 1 << 40;

/// `daktilo-bench tenprint`: the card's comparisons and, with a gallery size, its 1:N
/// searches.
fn tenprint(
    dataset: &Path,
    json: bool,
    gallery_size: Option<u64>,
    windows: bool,
    fillers: SynthModel,
) -> anyhow::Result<()> {
    use daktilo_bench::tenprint::{self, Card};
    let card = Card::read(dataset)?;
    let report = card.compare();
    let searches = gallery_size
        .map(|n| tenprint_searches(&card, n, windows, fillers))
        .transpose()?;
    if json {
        let mut value = tenprint::json(&report);
        if let Some(s) = &searches {
            value["search"] = tenprint::search_json(s);
        }
        println!("{value}");
    } else {
        print!("{}", tenprint::render(&report));
        if let Some(s) = &searches {
            print!("{}", tenprint::render_search(s));
        }
    }
    Ok(())
}

/// Each plain impression of the card searched (finger unknown) in a gallery of `size`
/// templates: the ten rolled prints, subjects 1–10, among synthetic fillers of `fillers`'
/// model; then all ten plain impressions (positions known) as one subject's search, for
/// subject [`CARD_SUBJECT`], which holds the same ten rolled prints. The fillers are
/// subjects of ten fingers. The gallery also holds each rolled print with one stage-1 row
/// about its centroid, as before large templates got several (the probe's feature, whose
/// codes beyond the 20 most central are spread over the print), subjects [`ONE_ROW`] +
/// 1–10, against which the plain impressions (and with `windows`, windows cut from the
/// rolled prints) are searched too, in the same gallery. Each kind of search leaves the
/// others' subjects out.
fn tenprint_searches(
    card: &daktilo_bench::tenprint::Card,
    size: u64,
    windows: bool,
    fillers: SynthModel,
) -> anyhow::Result<daktilo_bench::tenprint::Searches> {
    use daktilo_bench::tenprint::{self, WindowSearch};
    let n = card.rolled.len() as u64;
    let filler_count = size
        .checked_sub(3 * n)
        .context("--gallery-size: at least the ten rolled prints, three times")?;
    let dir = std::env::temp_dir().join(format!("daktilo-tenprint-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = (|| {
        let gallery = Gallery::open(&dir, gallery_options())?;
        // The ten fingers, right thumb to left little (`ALL` is in code order, 0 unknown).
        let ten = &FingerPosition::ALL[1..=10];
        add_synthetic(
            &gallery,
            CARD_SUBJECT + 1,
            filler_count,
            1,
            true,
            fillers,
            ten,
        )?;
        let mut entries = Vec::with_capacity(3 * card.rolled.len());
        let mut rows = Vec::with_capacity(card.rolled.len());
        for (r, subject) in card.rolled.iter().zip(1u64..) {
            // One template and feature, enrolled three times.
            let entry = entry_of(&r.template, subject, r.template.finger)?;
            rows.push(entry.feature.len() / search::feature::FEATURE_BYTES);
            let card_copy = NewEntry {
                subject: CARD_SUBJECT,
                ..entry.clone()
            };
            // What a gallery stored before the rows: one feature about the centroid, its
            // codes spread (a large template's own first row holds its nearest codes).
            let first_row = NewEntry {
                subject: ONE_ROW + subject,
                feature: search::feature::feature_of(&r.prepared).to_vec(),
                ..entry.clone()
            };
            entries.extend([entry, card_copy, first_row]);
        }
        gallery.append(entries)?;
        gallery.flush()?;
        gallery.compact()?;
        let snapshot = gallery.snapshot();
        let mut searches = tenprint::Searches {
            gallery: snapshot.len(),
            fillers: fillers.name().to_string(),
            stage1_rows: stage1_rows(&snapshot),
            rows,
            ..Default::default()
        };
        use std::collections::HashSet;
        let rolled: HashSet<u64> = (1..=n).collect();
        let first_rows: HashSet<u64> = (1..=n).map(|s| ONE_ROW + s).collect();
        let leaving_out = |a: &HashSet<u64>, b: u64| SearchOptions {
            exclude: a.iter().copied().chain([b]).collect(),
            ..SearchOptions::default()
        };
        // Against the rolled prints with their rows, and with one row.
        let one_finger = leaving_out(&first_rows, CARD_SUBJECT);
        let one_row = leaving_out(&rolled, CARD_SUBJECT);
        let exhaustive = SearchOptions {
            exhaustive: true,
            ..one_finger.clone()
        };
        let rank_in = |template: &Template, options: &SearchOptions, subject: u64| {
            let probe = [ProbeFinger {
                finger: FingerPosition::Unknown,
                template: template.clone(),
            }];
            let started = Instant::now();
            let found = search::search(&snapshot, &probe, options)?;
            let ms = started.elapsed().as_secs_f64() * 1e3;
            anyhow::Ok((tenprint::rank_of(&found, subject), ms))
        };
        for (p, subject) in card.plain.iter().zip(1u64..) {
            let mut funnel = search::stage1_funnel(&snapshot, &p.template, snapshot.len())?;
            // The funnel leaves no subject out: the copies of the mate tie it.
            funnel.retain(|e| e.subject != CARD_SUBJECT && !first_rows.contains(&e.subject));
            let rank = |f: &[search::FunnelEntry]| {
                f.iter().position(|e| e.subject == subject).map(|i| i + 1)
            };
            searches.scan.push(rank(&funnel));
            // The re-ranking orders the scan's best `rerank_for` by their geometry score.
            funnel.truncate(SearchOptions::default().rerank_for(snapshot.len()));
            funnel.sort_by(|a, b| b.geometry.total_cmp(&a.geometry));
            searches.reranked.push(rank(&funnel));
            let (rank, ms) = rank_in(&p.template, &one_finger, subject)?;
            searches.two_stage.push(rank);
            searches.two_stage_ms.push(ms);
            searches
                .one_row
                .push(rank_in(&p.template, &one_row, ONE_ROW + subject)?.0);
            let (rank, ms) = rank_in(&p.template, &exhaustive, subject)?;
            searches.exhaustive.push(rank);
            searches.exhaustive_ms.push(ms);
        }
        if windows {
            for (r, subject) in card.rolled.iter().zip(1u64..) {
                for w in tenprint::windows(&r.template) {
                    searches.windows.push(WindowSearch {
                        finger: subject as usize,
                        rows: rank_in(&w, &one_finger, subject)?.0,
                        one_row: rank_in(&w, &one_row, ONE_ROW + subject)?.0,
                    });
                }
            }
        }
        let probe: Vec<ProbeFinger> = card
            .plain
            .iter()
            .map(|p| ProbeFinger {
                finger: p.template.finger,
                template: p.template.clone(),
            })
            .collect();
        let ten_fingers = SearchOptions {
            exclude: rolled.union(&first_rows).copied().collect(),
            ..SearchOptions::default()
        };
        for exhaustive in [false, true] {
            let options = SearchOptions {
                exhaustive,
                ..ten_fingers.clone()
            };
            let found = search::search(&snapshot, &probe, &options)?;
            let found = tenprint::SubjectSearch::of(&found, CARD_SUBJECT);
            if exhaustive {
                searches.subject_exhaustive = Some(found);
            } else {
                searches.subject = Some(found);
            }
        }
        Ok(searches)
    })();
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn identify(args: IdentifyArgs) -> anyhow::Result<()> {
    let sets = fvc::discover(
        args.dataset,
        if args.source == Source::Iso {
            "iso"
        } else {
            "tif"
        },
    )?;
    if sets.is_empty() {
        bail!("{}: no FVC-style sets found", args.dataset.display());
    }
    let k = args.subject_fingers;
    if k > 1 && sets.len() < k {
        bail!(
            "--subject-fingers {k} takes the first {k} sets as a subject's fingers; {} has {}",
            args.dataset.display(),
            sets.len()
        );
    }
    if k > 1 && args.funnel > 0 {
        bail!("--funnel follows single-finger searches: leave out --subject-fingers");
    }
    let searches = IdentifySearches::load(&sets[..if k > 1 { k } else { sets.len() }], &args)?;
    let IdentifySearches {
        enrolled,
        mated,
        mated_names,
        mated_prints,
        nonmated,
    } = searches;
    let synthetic = args
        .gallery_size
        .checked_sub(enrolled.len() as u64)
        .context("the gallery must hold at least the enrolled FVC fingers")?;
    let temp;
    let dir = match args.gallery {
        Some(d) => d.to_path_buf(),
        None => {
            temp = std::env::temp_dir().join(format!("daktilo-identify-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&temp);
            temp.clone()
        }
    };
    {
        let gallery =
            Gallery::open(&dir, gallery_options()).with_context(|| dir.display().to_string())?;
        if !gallery.is_empty() {
            let FillerNote {
                built_for,
                built_with,
                fingers,
            } = FillerNote::read(&dir);
            if built_for != args.source.name() {
                bail!(
                    "{} was built for --source {built_for}, not {}: use another folder",
                    dir.display(),
                    args.source.name()
                );
            }
            if built_with != args.model.marker() {
                bail!(
                    "{} was built with the {built_with} model, not {} (--model {}): use \
                     another folder",
                    dir.display(),
                    args.model.marker(),
                    args.model.name()
                );
            }
            if fingers != k {
                bail!(
                    "{} was built with {fingers} finger(s) per subject, not {k} \
                     (--subject-fingers): use another folder",
                    dir.display()
                );
            }
        }
        if gallery.len() as u64 != args.gallery_size {
            if !gallery.is_empty() {
                bail!(
                    "{} holds {} templates, not {}: use another folder",
                    dir.display(),
                    gallery.len(),
                    args.gallery_size
                );
            }
            // Impostors like the probes: with the ridge flow when they are our own
            // extractor's templates.
            FillerNote::write(&dir, args.source, args.model, k)?;
            add_synthetic(
                &gallery,
                1,
                synthetic,
                1,
                args.source == Source::Image,
                args.model,
                &SUBJECT_POSITIONS[..k],
            )?;
            let entries = enrolled
                .iter()
                .map(|(s, position, t)| entry_of(t, *s, *position))
                .collect::<anyhow::Result<Vec<_>>>()?;
            gallery.append(entries)?;
            gallery.flush()?;
            // Merging a million templates' segments takes minutes.
            eprintln!("compacting {}", dir.display());
            gallery.compact()?;
        }
    }
    let rss_before = daktilo_bench::identify::resident_bytes();
    let started = Instant::now();
    let gallery = Gallery::open(&dir, gallery_options())?;
    let open_ms = started.elapsed().as_secs_f64() * 1e3;
    let snapshot = gallery.snapshot();
    let n = snapshot.len();
    // A folder built with other enrolled fingers would search for mates it does not hold.
    let mut missing: std::collections::BTreeSet<u64> = enrolled.iter().map(|e| e.0).collect();
    snapshot.for_each(|e| {
        missing.remove(&e.subject);
    });
    if let Some(missing) = missing.first() {
        bail!(
            "{} does not hold the enrolled finger {missing} (it was built with other --enrol-fingers): use another folder",
            dir.display()
        );
    }
    if !(0.0..=1.0).contains(&args.rerank_share) {
        bail!("--rerank-share must lie between 0 and 1");
    }
    let options = SearchOptions {
        shortlist: args.shortlist,
        rerank: args.rerank,
        rerank_share: args.rerank_share,
        // Every candidate, so that each finger's own ranking can be read from a fused
        // search (`finger_alone`).
        max_results: if k > 1 {
            usize::MAX
        } else {
            SearchOptions::default().max_results
        },
        ..SearchOptions::default()
    };
    // With one finger per subject the probes' finger is unknown: each is scanned against
    // the whole gallery. With more, each finger against the templates of its position.
    let rerank = options.rerank_for(n / k);
    let mut latencies = Vec::new();
    let mut fused = Outcomes::default();
    // With K > 1, each finger alone (the probes give the fingers in SUBJECT_POSITIONS order).
    let mut alone = vec![Outcomes::default(); if k > 1 { k } else { 0 }];
    let ranked = |found: &[search::Candidate]| -> Vec<(u64, f32)> {
        found.iter().map(|c| (c.subject, c.score)).collect()
    };
    let progress = Progress::new(
        (mated.len() + nonmated.len()) as u64,
        "searching",
        "searches",
    );
    for (subject, probe) in &mated {
        let started = Instant::now();
        let found = search::search(&snapshot, probe, &options)?;
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        progress.inc(1);
        fused.mated(ranked(&found), *subject);
        for (o, pf) in alone.iter_mut().zip(probe) {
            o.mated(
                daktilo_bench::identify::finger_alone(&found, pf.finger),
                *subject,
            );
        }
    }
    for probe in &nonmated {
        let started = Instant::now();
        let found = search::search(&snapshot, probe, &options)?;
        latencies.push(started.elapsed().as_secs_f64() * 1e3);
        progress.inc(1);
        fused.nonmated(ranked(&found));
        for (o, pf) in alone.iter_mut().zip(probe) {
            o.nonmated(daktilo_bench::identify::finger_alone(&found, pf.finger));
        }
    }
    progress.finish();
    let rank1_hits = &fused.hits;
    let fingers_alone: Vec<FingerAlone> = alone
        .iter()
        .enumerate()
        .map(|(f, o)| FingerAlone {
            finger: format!("{:?}", SUBJECT_POSITIONS[f]),
            set: sets[f].name.clone(),
            rank1: o.rank1(),
            fnir_at_fpir_1pct: o.fnir(0.01),
            fnir_at_fpir_01pct: o.fnir(0.001),
        })
        .collect();
    let rss_after = daktilo_bench::identify::resident_bytes();
    // Stage 1 alone, for the bandwidth comparison (median over the mated probes; those
    // whose codes fit the AVX-512 scan's sectors and the others apart as well), with a
    // bandwidth reading before the first scan and after each (the reading moves between
    // levels with the host's other work: `BandwidthGauge`).
    let gauge = daktilo_bench::identify::BandwidthGauge::new();
    let stage1_bytes = stage1_rows(&snapshot) as f64 * search::feature::FEATURE_BYTES as f64;
    let mut readings = vec![gauge.read()];
    let mut stage1_seconds = Vec::new();
    let mut by_kind = [Vec::new(), Vec::new()];
    for t in &mated_prints {
        let fits = search::feature::ProbeFeature::new(&search::feature::feature(t)).fits_sectors();
        let started = Instant::now();
        std::hint::black_box(search::stage1_scan(&snapshot, t, args.shortlist));
        let seconds = started.elapsed().as_secs_f64();
        readings.push(gauge.read());
        stage1_seconds.push(seconds);
        by_kind[usize::from(fits)].push(seconds * 1e3);
    }
    drop(gauge);
    let stage1_median = daktilo_bench::identify::percentile(&stage1_seconds, 50.0);
    let stage1_ms = stage1_median * 1e3;
    let stage1_kinds = by_kind.map(|v| (v.len(), daktilo_bench::identify::percentile(&v, 50.0)));
    let against =
        daktilo_bench::identify::scan_against_bandwidth(stage1_bytes, &stage1_seconds, &readings)
            .context("no memory bandwidth reading")?;
    let bandwidth = against.best;
    let scanned = stage1_bytes / stage1_median;
    // Exhaustive on a sample of the mated probes.
    let sample = if args.exhaustive_probes == 0 {
        mated.len()
    } else {
        args.exhaustive_probes.min(mated.len())
    };
    let step = (mated.len() / sample.max(1)).max(1);
    let picks: Vec<usize> = (0..mated.len()).step_by(step).take(sample).collect();
    // The exhaustive searches of the sample, done in one pass over the gallery: each
    // gallery template is prepared once and compared with every sampled probe (what
    // `SearchOptions::exhaustive` does per probe, with the same ranking: best score per
    // subject, ties to the lower subject id), so that a large sample stays affordable.
    let (ex_hits, ex_ms_per_probe) = if k == 1 {
        let started = Instant::now();
        let sampled: Vec<PreparedTemplate> = picks
            .iter()
            .map(|&i| matching::prepare(&mated[i].1[0].template))
            .collect::<Result<_, _>>()?;
        let best = exhaustive_best(&snapshot, &sampled);
        let hits = picks
            .iter()
            .zip(&best)
            .filter(|&(&i, b)| b.is_some_and(|(_, subject)| subject == mated[i].0))
            .count();
        (
            hits,
            started.elapsed().as_secs_f64() * 1e3 / picks.len().max(1) as f64,
        )
    } else {
        // Fused over fingers: the library's own exhaustive search, one probe at a time.
        let exhaustive = SearchOptions {
            exhaustive: true,
            ..options.clone()
        };
        let progress = Progress::new(picks.len() as u64, "exhaustive", "searches");
        let mut hits = 0;
        let mut times = Vec::new();
        for &i in &picks {
            let started = Instant::now();
            let found = search::search(&snapshot, &mated[i].1, &exhaustive)?;
            times.push(started.elapsed().as_secs_f64() * 1e3);
            hits += usize::from(found.first().is_some_and(|c| c.subject == mated[i].0));
            progress.inc(1);
        }
        progress.finish();
        (hits, daktilo_bench::identify::percentile(&times, 50.0))
    };
    let two_stage_same = picks.iter().filter(|&&i| rank1_hits[i]).count();
    let funnel = (args.funnel > 0)
        .then(|| {
            let progress = Progress::new(mated.len() as u64, "funnel", "probes");
            let mates = mated
                .iter()
                .zip(rank1_hits)
                .zip(&mated_names)
                .map(|(((subject, probe), &found), name)| {
                    let list = search::stage1_funnel(&snapshot, &probe[0].template, args.funnel)?;
                    progress.inc(1);
                    Ok(daktilo_bench::identify::MateInFunnel::of(
                        &list,
                        name.clone(),
                        *subject,
                        rerank,
                        found,
                    ))
                })
                .collect::<anyhow::Result<Vec<_>>>()?;
            progress.finish();
            anyhow::Ok(daktilo_bench::identify::FunnelReport::new(
                args.funnel,
                rerank,
                args.shortlist,
                mates,
            ))
        })
        .transpose()?;
    let threads = rayon::current_num_threads() as f64;
    let p50 = daktilo_bench::identify::percentile(&latencies, 50.0);
    let report = IdentifyReport {
        gallery_size: n,
        enrolled_fvc_fingers: enrolled.len(),
        subject_fingers: k,
        fingers_alone,
        synth_model: args.model.name(),
        mated_searches: mated.len(),
        nonmated_searches: nonmated.len(),
        rank1: fused.rank1(),
        fnir_at_fpir_1pct: fused.fnir(0.01),
        fnir_at_fpir_01pct: fused.fnir(0.001),
        templates_per_s: n as f64 / (p50 / 1e3),
        per_core: n as f64 / (p50 / 1e3) / threads,
        p50_ms: p50,
        p99_ms: daktilo_bench::identify::percentile(&latencies, 99.0),
        stage1_ms,
        processor: daktilo_bench::host::processor(),
        scan_kernel: search::scan_kernel(),
        stage1_general: stage1_kinds[0],
        stage1_sectors: stage1_kinds[1],
        bandwidth_gb_s: bandwidth / 1e9,
        bandwidth_fraction: scanned / bandwidth,
        bandwidth_readings: readings.len(),
        bandwidth_lowest_gb_s: against.lowest / 1e9,
        bandwidth_median_gb_s: against.median / 1e9,
        bandwidth_fraction_paired: against.paired_fraction,
        bytes_per_template: rss_after.saturating_sub(rss_before) as f64 / n.max(1) as f64,
        stage1_bytes_per_template: (stage1_bytes / n.max(1) as f64).round() as usize,
        open_ms,
        shortlist: args.shortlist,
        rerank,
        rerank_share: args.rerank_share,
        exhaustive: Exhaustive {
            probes: picks.len(),
            rank1: ex_hits as f64 / picks.len().max(1) as f64,
            two_stage_rank1_same_probes: two_stage_same as f64 / picks.len().max(1) as f64,
            ms_per_probe: ex_ms_per_probe,
            batched: k == 1,
        },
        funnel,
    };
    if args.gallery.is_none() {
        drop(gallery);
        let _ = std::fs::remove_dir_all(&dir);
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(());
    }
    let r = &report;
    if k > 1 {
        println!(
            "gallery {} templates ({} subjects of {k} FVC fingers enrolled among synthetic subjects of {k} fingers, {} model), opened in {:.1} ms",
            r.gallery_size,
            r.enrolled_fvc_fingers / k,
            r.synth_model,
            r.open_ms
        );
        println!(
            "subjects' fingers: {}",
            r.fingers_alone
                .iter()
                .map(|f| format!("{} as {}", f.set, f.finger))
                .collect::<Vec<_>>()
                .join(", ")
        );
    } else {
        println!(
            "gallery {} templates ({} FVC fingers enrolled among synthetic ones, {} model), opened in {:.1} ms",
            r.gallery_size, r.enrolled_fvc_fingers, r.synth_model, r.open_ms
        );
    }
    let funnel = if r.rerank > r.shortlist {
        format!(
            "the scan's best {} re-ranked, {} to the matcher",
            r.rerank, r.shortlist
        )
    } else {
        format!("the scan's best {} to the matcher", r.shortlist)
    };
    let each = if k > 1 {
        format!(" of {k} fingers")
    } else {
        String::new()
    };
    println!(
        "{} mated and {} non-mated searches{each}, {:.0} threads; {funnel}",
        r.mated_searches, r.nonmated_searches, threads
    );
    println!(
        "processor: {}; stage-1 kernel: {}",
        r.processor, r.scan_kernel
    );
    println!("rank-1 identification rate  {:.2}%", 100.0 * r.rank1);
    println!(
        "FNIR at FPIR 1%             {:.2}%",
        100.0 * r.fnir_at_fpir_1pct
    );
    println!(
        "FNIR at FPIR 0.1%           {:.2}%  ({} non-mated searches: below 1/{} this is FPIR 0)",
        100.0 * r.fnir_at_fpir_01pct,
        r.nonmated_searches,
        r.nonmated_searches
    );
    for f in &r.fingers_alone {
        println!(
            "  {} ({}) alone: rank-1 {:.2}%, FNIR at FPIR 1% {:.2}%, at 0.1% {:.2}%",
            f.finger,
            f.set,
            100.0 * f.rank1,
            100.0 * f.fnir_at_fpir_1pct,
            100.0 * f.fnir_at_fpir_01pct
        );
    }
    println!("latency p50 {:.1} ms, p99 {:.1} ms", r.p50_ms, r.p99_ms);
    println!(
        "templates searched per second {:.0} ({:.0} per core)",
        r.templates_per_s, r.per_core
    );
    println!(
        "stage 1 alone {:.1} ms: {:.2} GB/s of {:.2} GB/s measured read bandwidth ({:.0}%)",
        r.stage1_ms,
        scanned / 1e9,
        r.bandwidth_gb_s,
        100.0 * r.bandwidth_fraction
    );
    println!(
        "  (best of {} bandwidth readings, one before the first scan and one after each: lowest {:.2}, median {:.2} GB/s; each scan against the reading after it: median {:.0}%)",
        r.bandwidth_readings,
        r.bandwidth_lowest_gb_s,
        r.bandwidth_median_gb_s,
        100.0 * r.bandwidth_fraction_paired
    );
    if search::scan_kernel() == "AVX-512 sectors" {
        println!(
            "  (median of {} mated probes: {} fit the AVX-512 sectors, median {:.1} ms; {} do not, median {:.1} ms)",
            r.stage1_sectors.0 + r.stage1_general.0,
            r.stage1_sectors.0,
            r.stage1_sectors.1,
            r.stage1_general.0,
            r.stage1_general.1
        );
    } else {
        println!(
            "  (median of {} mated probes; scan kernel: {})",
            r.stage1_sectors.0 + r.stage1_general.0,
            search::scan_kernel()
        );
    }
    println!(
        "resident memory per template {:.0} bytes (stage-1 feature {} bytes)",
        r.bytes_per_template, r.stage1_bytes_per_template
    );
    println!(
        "exhaustive (matcher only) on {} mated probes: rank-1 {:.2}% (two-stage on the same probes {:.2}%), {:.0} ms per probe ({})",
        r.exhaustive.probes,
        100.0 * r.exhaustive.rank1,
        100.0 * r.exhaustive.two_stage_rank1_same_probes,
        r.exhaustive.ms_per_probe,
        if r.exhaustive.batched {
            "batched"
        } else {
            "median search"
        }
    );
    if let Some(f) = &r.funnel {
        print!("{f}");
    }
    Ok(())
}

/// For each probe, the best-scoring live gallery template's (score, subject) under the
/// matcher alone (ties to the lower subject id); `None` where nothing scored above 0.
fn exhaustive_best(
    snapshot: &daktilo_engine::gallery::Snapshot,
    probes: &[PreparedTemplate],
) -> Vec<Option<(matching::Score, u64)>> {
    let entries: Vec<(u64, &[u8])> = snapshot.live().map(|e| (e.subject, e.template)).collect();
    let better = |a: Option<(f32, u64)>, b: Option<(f32, u64)>| match (a, b) {
        (Some(x), Some(y)) => {
            if y.0 > x.0 || (y.0 == x.0 && y.1 < x.1) {
                Some(y)
            } else {
                Some(x)
            }
        }
        (x, None) => x,
        (None, y) => y,
    };
    let progress = Progress::new(entries.len() as u64, "exhaustive", "templates");
    let best = entries
        .par_chunks(1024)
        .map(|chunk| {
            let mut best = vec![None; probes.len()];
            for &(subject, bytes) in chunk {
                let Some(prepared) =
                    search::stored_template(bytes).and_then(|t| matching::prepare(&t).ok())
                else {
                    continue;
                };
                for (b, p) in best.iter_mut().zip(probes) {
                    let score = matching::compare(p, &prepared);
                    if score > 0.0 {
                        *b = better(*b, Some((score, subject)));
                    }
                }
            }
            progress.inc(chunk.len() as u64);
            best
        })
        .reduce(
            || vec![None; probes.len()],
            |a, b| a.into_iter().zip(b).map(|(x, y)| better(x, y)).collect(),
        );
    progress.finish();
    best
}

fn service(args: daktilo_bench::service::ServiceArgs, json: bool) -> anyhow::Result<()> {
    let clients = args.clients;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let r = runtime.block_on(daktilo_bench::service::run(args))?;
    if json {
        println!("{}", serde_json::to_string_pretty(&r)?);
        return Ok(());
    }
    println!(
        "registry: {} subjects, {} templates; service: {} workers, queue {}",
        r.subjects, r.templates, r.workers, r.queue_capacity
    );
    println!(
        "ten-print enrolment (images, de-duplication FLAG, 2 clients): {:.2} per s, p50 {:.0} ms",
        r.enrolments_per_s, r.enrol_p50_ms
    );
    println!("identification (two-finger image probes, target FPIR 1 %):");
    println!("phase                     offered/s   ok/s     ok   shed  errors   p50 ms   p99 ms");
    for (name, l) in [
        (format!("{clients} clients (closed)"), &r.sustained),
        ("2x sustained (open)".to_string(), &r.overload),
    ] {
        println!(
            "{name:<25} {:>9.1} {:>6.1} {:>6} {:>6} {:>7} {:>8.1} {:>8.1}",
            l.offered_per_s, l.ok_per_s, l.ok, l.shed, l.errors, l.p50_ms, l.p99_ms
        );
    }
    println!(
        "rank-1 of mated searches (closed phase): {:.1} %",
        100.0 * r.rank1
    );
    Ok(())
}

fn main() {
    let args = Args::parse();
    let result = match args.command {
        Command::Verify {
            dataset,
            source,
            scores,
            det,
            json,
            ppi,
            fingers,
            impostors,
        } => verify(VerifyArgs {
            dataset: &dataset,
            source,
            scores: scores.as_deref(),
            det_path: det.as_deref(),
            json,
            ppi: &ppi,
            fingers,
            impostors,
        }),
        Command::Calibrate {
            dataset,
            source,
            raw,
            out,
            by_size,
        } => {
            if by_size {
                calibration_by_size(&dataset, source)
            } else {
                calibrate(&dataset, source, raw.as_deref(), out.as_deref())
            }
        }
        Command::Stage1 {
            dataset,
            source,
            fingers,
        } => stage1(&dataset, source, fingers),
        Command::Agree {
            dataset,
            fingers,
            worst,
        } => agree(&dataset, fingers, worst),
        Command::Service {
            subjects,
            fingers,
            dataset,
            data_dir,
            clients,
            seconds,
            enrolments,
            json,
        } => service(
            daktilo_bench::service::ServiceArgs {
                subjects,
                fingers,
                dataset,
                data_dir,
                clients,
                seconds,
                enrolments,
            },
            json,
        ),
        Command::Tenprint {
            dataset,
            json,
            gallery_size,
            windows,
            fillers,
        } => tenprint(&dataset, json, gallery_size, windows, fillers),
        Command::Synth {
            count,
            out,
            seed,
            flow,
            model,
        } => synth(count, &out, seed, flow, model).map(|_| ()),
        Command::SynthCompare {
            dataset,
            count,
            source,
            model,
            plot,
        } => synth_compare(&dataset, count, source, model, plot.as_deref()),
        Command::Identify {
            gallery_size,
            dataset,
            source,
            gallery,
            exhaustive_probes,
            shortlist,
            rerank,
            rerank_share,
            enrol_fingers,
            funnel,
            json,
            model,
            subject_fingers,
        } => identify(IdentifyArgs {
            gallery_size,
            dataset: &dataset,
            source,
            gallery: gallery.as_deref(),
            exhaustive_probes,
            shortlist,
            rerank,
            rerank_share,
            enrol_fingers,
            funnel,
            json,
            model,
            subject_fingers: usize::from(subject_fingers),
        }),
    };
    if let Err(e) = result {
        eprintln!("daktilo-bench: error: {e:#}");
        std::process::exit(1);
    }
}
