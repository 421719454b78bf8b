//! FVC-style datasets: sets of `<finger>_<impression>.<ext>` files, and the FVC protocol's
//! genuine and impostor comparisons.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// One sample file of a set.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Sample {
    /// Finger number (e.g. 101).
    pub finger: u32,
    /// Impression number (1-8 in FVC).
    pub impression: u32,
    /// The file.
    pub path: PathBuf,
}

/// A set: samples of several fingers from one sensor.
#[derive(Debug, Clone)]
pub struct Set {
    /// The set's name (its folder's name).
    pub name: String,
    /// Samples sorted by finger and impression.
    pub samples: Vec<Sample>,
}

fn parse_name(path: &Path, extension: &str) -> Option<(u32, u32)> {
    if path.extension()?.to_str()? != extension {
        return None;
    }
    let stem = path.file_stem()?.to_str()?;
    let (finger, impression) = stem.split_once('_')?;
    Some((finger.parse().ok()?, impression.parse().ok()?))
}

fn read_set(dir: &Path, extension: &str) -> std::io::Result<Option<Set>> {
    let mut samples = Vec::new();
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        if let Some((finger, impression)) = parse_name(&path, extension) {
            samples.push(Sample {
                finger,
                impression,
                path,
            });
        }
    }
    if samples.is_empty() {
        return Ok(None);
    }
    samples.sort();
    let name = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| dir.display().to_string());
    Ok(Some(Set { name, samples }))
}

/// The sets below `dir` (each sub-folder holding `<finger>_<impression>.<extension>`
/// files), or `dir` itself when it holds such files. Sorted by name.
pub fn discover(dir: &Path, extension: &str) -> std::io::Result<Vec<Set>> {
    if let Some(set) = read_set(dir, extension)? {
        return Ok(vec![set]);
    }
    let mut sets = Vec::new();
    let mut dirs: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_dir())
        .collect();
    dirs.sort();
    for d in dirs {
        if let Some(set) = read_set(&d, extension)? {
            sets.push(set);
        }
    }
    Ok(sets)
}

/// A comparison: indices of the probe and the candidate in a set's samples.
pub type Pair = (usize, usize);

/// The FVC protocol's comparisons, as indices into a set's samples: genuine — every
/// impression against every later impression of the same finger; impostor — the first
/// impression of each finger against the first impression of every later finger. Symmetric
/// comparisons are not repeated (280 genuine and 45 impostor for 10 fingers × 8).
pub fn protocol(set: &Set) -> (Vec<Pair>, Vec<Pair>) {
    let mut by_finger: BTreeMap<u32, Vec<usize>> = BTreeMap::new();
    for (i, s) in set.samples.iter().enumerate() {
        by_finger.entry(s.finger).or_default().push(i);
    }
    let mut genuine = Vec::new();
    for indices in by_finger.values() {
        for (k, &a) in indices.iter().enumerate() {
            for &b in &indices[k + 1..] {
                genuine.push((a, b));
            }
        }
    }
    let firsts: Vec<usize> = by_finger.values().map(|v| v[0]).collect();
    let mut impostor = Vec::new();
    for (k, &a) in firsts.iter().enumerate() {
        for &b in &firsts[k + 1..] {
            impostor.push((a, b));
        }
    }
    (genuine, impostor)
}

/// Every cross-finger pair (used to fit the score calibration, never to report accuracy).
pub fn all_impostors(set: &Set) -> Vec<Pair> {
    let n = set.samples.len();
    let mut out = Vec::new();
    for a in 0..n {
        for b in a + 1..n {
            if set.samples[a].finger != set.samples[b].finger {
                out.push((a, b));
            }
        }
    }
    out
}

/// The first finger view of every ISO template (`.iso`) of every set below `dir`, set by
/// set, finger by finger, impression by impression (the benchmarks' inputs).
pub fn iso_templates(dir: &Path) -> anyhow::Result<Vec<daktilo_engine::template::Template>> {
    use anyhow::Context;
    let mut out = Vec::new();
    for set in discover(dir, "iso")? {
        for s in &set.samples {
            let bytes = std::fs::read(&s.path).with_context(|| s.path.display().to_string())?;
            let record = daktilo_engine::template::decode(&bytes)
                .with_context(|| s.path.display().to_string())?;
            out.push(
                record
                    .templates
                    .into_iter()
                    .next()
                    .with_context(|| format!("{}: no finger view", s.path.display()))?,
            );
        }
    }
    Ok(out)
}

/// Sensor resolutions of sets whose images do not declare one (FVC2002: DB2 is 569 dpi,
/// the others 500; see the datasets README).
const KNOWN_PPI: &[(&str, f32)] = &[("DB2_A", 569.0), ("DB2_B", 569.0)];

/// The resolution of a set's images when it is known and their files do not say it.
pub fn known_ppi(set_name: &str) -> Option<f32> {
    KNOWN_PPI
        .iter()
        .find(|(n, _)| *n == set_name)
        .map(|(_, p)| *p)
}

/// Daktilo's own templates of a set's images, in sample order, extracted in parallel at
/// `ppi` (`None`: the files' resolution, or 500 ppi).
pub fn own_set_templates(
    set: &Set,
    ppi: Option<f32>,
) -> anyhow::Result<Vec<daktilo_engine::template::Template>> {
    use anyhow::Context;
    use daktilo_engine::extract::{self, ExtractOptions};
    use rayon::prelude::*;
    set.samples
        .par_iter()
        .map(|s| {
            let bytes = std::fs::read(&s.path).with_context(|| s.path.display().to_string())?;
            let options = ExtractOptions { ppi, debug: false };
            let e = extract::extract_file(&bytes, &options)
                .with_context(|| s.path.display().to_string())?;
            Ok(e.template)
        })
        .collect()
}

/// Daktilo's own templates of every image of every set in `dir`, in set order, each set at
/// its [`known_ppi`].
pub fn own_templates(dir: &Path) -> anyhow::Result<Vec<daktilo_engine::template::Template>> {
    let mut out = Vec::new();
    for set in discover(dir, "tif")? {
        out.extend(own_set_templates(&set, known_ppi(&set.name))?);
    }
    Ok(out)
}

/// Drops what only Daktilo's extractor writes (the ridge-flow and ridge-count blocks), so
/// that the template is compared on its minutiae alone, as another vendor's would be.
pub fn as_another_vendors(template: &mut daktilo_engine::template::Template) {
    use daktilo_engine::matching::{flow::FLOW_EXTENSION, ridge_counts::RIDGE_COUNT_EXTENSION};
    template
        .extensions
        .retain(|e| e.kind != FLOW_EXTENSION && e.kind != RIDGE_COUNT_EXTENSION);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ten_fingers_by_eight_give_280_genuine_and_45_impostor_comparisons() {
        let samples = (101..=110)
            .flat_map(|f| {
                (1..=8).map(move |i| Sample {
                    finger: f,
                    impression: i,
                    path: PathBuf::from(format!("{f}_{i}.iso")),
                })
            })
            .collect();
        let set = Set {
            name: "test".into(),
            samples,
        };
        let (genuine, impostor) = protocol(&set);
        assert_eq!(genuine.len(), 280);
        assert_eq!(impostor.len(), 45);
        assert!(
            genuine
                .iter()
                .all(|&(a, b)| set.samples[a].finger == set.samples[b].finger)
        );
        assert!(impostor.iter().all(|&(a, b)| set.samples[a].impression == 1
            && set.samples[b].impression == 1
            && set.samples[a].finger != set.samples[b].finger));
        assert_eq!(all_impostors(&set).len(), 80 * 72 / 2);
    }

    #[test]
    fn file_names_give_finger_and_impression() {
        assert_eq!(parse_name(Path::new("x/101_3.iso"), "iso"), Some((101, 3)));
        assert_eq!(parse_name(Path::new("x/101_3.tif"), "iso"), None);
        assert_eq!(parse_name(Path::new("x/readme.iso"), "iso"), None);
    }
}
