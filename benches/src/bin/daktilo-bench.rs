//! `daktilo-bench`: accuracy on FVC-style datasets. See `daktilo-bench --help`.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};
use daktilo_bench::det;
use daktilo_bench::fvc::{self, Set};
use daktilo_bench::metrics::{self, ErrorRates};
use daktilo_engine::matching::{self, PreparedTemplate};
use daktilo_engine::{extract, template};
use indicatif::{ProgressBar, ProgressStyle};
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

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Source {
    /// The `.iso` templates beside the images.
    Iso,
    /// The images, through Daktilo's own extractor.
    Image,
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
        /// Write every comparison as `probe,candidate,score`.
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
    /// Fit the score calibration on every cross-finger (impostor) pair of every set and
    /// print the knots for `engine/src/matching/calibration.rs`.
    Calibrate {
        /// A folder of sets, as for `verify` (ISO templates).
        #[arg(long)]
        dataset: PathBuf,
        /// Also write the raw impostor scores, one per line.
        #[arg(long)]
        raw: Option<PathBuf>,
    },
}

/// Sensor resolutions of sets whose images do not declare one (FVC2002: DB2 is 569 dpi,
/// the others 500; see the datasets README).
const KNOWN_PPI: &[(&str, f32)] = &[("DB2_A", 569.0), ("DB2_B", 569.0)];

fn set_ppi(set: &Set, overrides: &[(String, f32)]) -> Option<f32> {
    overrides
        .iter()
        .find(|(n, _)| *n == set.name)
        .map(|(_, p)| *p)
        .or_else(|| {
            KNOWN_PPI
                .iter()
                .find(|(n, _)| *n == set.name)
                .map(|(_, p)| *p)
        })
}

/// The prepared templates of a set and their image quality (0–100; 0 for ISO templates
/// that report none).
fn load_set(
    set: &Set,
    source: Source,
    ppi: &[(String, f32)],
) -> anyhow::Result<(Vec<PreparedTemplate>, Vec<u8>)> {
    let ppi = set_ppi(set, ppi);
    set.samples
        .par_iter()
        .map(|s| {
            let bytes = std::fs::read(&s.path).with_context(|| s.path.display().to_string())?;
            let view = match source {
                Source::Iso => {
                    let record =
                        template::decode(&bytes).with_context(|| s.path.display().to_string())?;
                    record
                        .templates
                        .into_iter()
                        .next()
                        .with_context(|| format!("{}: no finger view", s.path.display()))?
                }
                Source::Image => {
                    let options = extract::ExtractOptions { ppi, debug: false };
                    extract::extract_file(&bytes, &options)
                        .with_context(|| s.path.display().to_string())?
                        .template
                }
            };
            let prepared =
                matching::prepare(&view).with_context(|| s.path.display().to_string())?;
            Ok((prepared, view.quality))
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

fn progress(total: u64, label: &str) -> Option<ProgressBar> {
    if !std::io::stderr().is_terminal() {
        eprintln!("{label}: {total} comparisons");
        return None;
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template("{prefix:>8} [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_prefix(label.to_string());
    Some(bar)
}

fn score_pairs(
    prepared: &[PreparedTemplate],
    pairs: &[(usize, usize)],
    bar: Option<&ProgressBar>,
) -> Vec<f64> {
    pairs
        .par_iter()
        .map(|&(a, b)| {
            let s = f64::from(matching::compare(&prepared[a], &prepared[b]));
            if let Some(bar) = bar {
                bar.inc(1);
            }
            s
        })
        .collect()
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
}

impl From<ErrorRates> for Percent {
    fn from(r: ErrorRates) -> Self {
        Self {
            eer: r.eer * 100.0,
            fmr100: r.fmr100 * 100.0,
            fmr1000: r.fmr1000 * 100.0,
            zerofmr: r.zerofmr * 100.0,
            genuine: r.genuine,
            impostor: r.impostor,
        }
    }
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
    let extension = if source == Source::Iso { "iso" } else { "tif" };
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
        writeln!(w, "probe,candidate,score")?;
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
        let bar = progress((genuine.len() + impostor.len()) as u64, &set.name);
        let started = Instant::now();
        let g = score_pairs(&prepared, &genuine, bar.as_ref());
        let i = score_pairs(&prepared, &impostor, bar.as_ref());
        seconds += started.elapsed().as_secs_f64();
        comparisons += genuine.len() + impostor.len();
        if let Some(bar) = bar {
            bar.finish_and_clear();
        }
        if let Some(w) = csv.as_mut() {
            for (pairs, scores) in [(&genuine, &g), (&impostor, &i)] {
                for (&(a, b), s) in pairs.iter().zip(scores.iter()) {
                    writeln!(
                        w,
                        "{},{},{s}",
                        set.samples[a].path.display(),
                        set.samples[b].path.display()
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
    }
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

fn calibrate(dataset: &Path, raw_out: Option<&Path>) -> anyhow::Result<()> {
    let sets = fvc::discover(dataset, "iso")?;
    let mut raw = Vec::new();
    for set in &sets {
        let (prepared, _) = load_set(set, Source::Iso, &[])?;
        let pairs = fvc::all_impostors(set);
        raw.par_extend(
            pairs.par_iter().map(|&(a, b)| {
                f64::from(matching::compare_detailed(&prepared[a], &prepared[b]).raw)
            }),
        );
    }
    if let Some(p) = raw_out {
        let mut w = std::io::BufWriter::new(std::fs::File::create(p)?);
        for r in &raw {
            writeln!(w, "{r}")?;
        }
        w.flush()?;
    }
    let names: Vec<&str> = sets.iter().map(|s| s.name.as_str()).collect();
    println!(
        "// Fitted by `daktilo-bench calibrate` on {} impostor comparisons (every cross-finger pair) of {}.",
        raw.len(),
        names.join(", ")
    );
    println!("const KNOTS: &[(f32, f32)] = &[");
    for (r, s) in daktilo_bench::calibration::fit(&raw) {
        println!("    ({r:.6}, {s:.2}),");
    }
    println!("];");
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
        Command::Calibrate { dataset, raw } => calibrate(&dataset, raw.as_deref()),
    };
    if let Err(e) = result {
        eprintln!("daktilo-bench: error: {e:#}");
        std::process::exit(1);
    }
}
