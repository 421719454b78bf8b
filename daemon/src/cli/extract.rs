//! `daktilo extract IMAGE... -o OUT`: minutiae templates from fingerprint images.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use daktilo_engine::extract::{self, ExtractOptions, Extraction};
use daktilo_engine::template::{self, Format, TemplateRecord};
use indicatif::{ProgressBar, ProgressStyle};
use rayon::prelude::*;

use super::{ExitCode, Failure, read_input, write_output};

/// Image files above this size are refused before reading (a 4000 x 4000 16-bit image
/// stored raw is 32 MB).
pub const MAX_IMAGE_FILE: u64 = 64 << 20;

/// The file extension a format's templates get when written into a folder.
pub fn extension(format: Format) -> &'static str {
    match format {
        Format::Native => "dkt",
        Format::Ansi2004 | Format::Ansi2009 | Format::Ansi2009Am1 => "ansi",
        Format::Iso2005 | Format::Iso2011 => "iso",
    }
}

fn extract_one(path: &Path, options: &ExtractOptions) -> Result<Extraction, Failure> {
    let bytes = read_input(path, MAX_IMAGE_FILE)?;
    extract::extract_file(&bytes, options)
        .map_err(|e| Failure::new(ExitCode::InvalidInput, format!("{}: {e}", path.display())))
}

fn write_debug(dir: &Path, image: &Path, extraction: &Extraction) -> Result<(), Failure> {
    std::fs::create_dir_all(dir)
        .map_err(|e| Failure::new(ExitCode::Io, format!("{}: {e}", dir.display())))?;
    let stem = image
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "image".into());
    for (step, picture) in &extraction.debug {
        let mut png = Vec::new();
        picture
            .write_to(
                &mut std::io::Cursor::new(&mut png),
                ::image::ImageFormat::Png,
            )
            .map_err(|e| Failure::new(ExitCode::Io, e.to_string()))?;
        write_output(&dir.join(format!("{stem}-{step}.png")), &png)?;
    }
    Ok(())
}

/// Runs the command: one image to one file, or several (or `output` an existing folder)
/// into a folder, one template per image. Returns the summary to print.
pub fn run(
    images: &[PathBuf],
    output: &Path,
    to: Format,
    ppi: Option<f32>,
    debug_dir: Option<&Path>,
) -> Result<String, Failure> {
    let options = ExtractOptions {
        ppi,
        debug: debug_dir.is_some(),
    };
    let into_folder = images.len() > 1 || output.is_dir();
    if into_folder {
        std::fs::create_dir_all(output)
            .map_err(|e| Failure::new(ExitCode::Io, format!("{}: {e}", output.display())))?;
    }
    if into_folder {
        let mut seen = std::collections::HashMap::new();
        for image in images {
            let name = image.file_stem().unwrap_or_default().to_os_string();
            if let Some(other) = seen.insert(name, image) {
                return Err(Failure::new(
                    ExitCode::Usage,
                    format!(
                        "{} and {} would both be written as {}.{}: rename one or extract them separately",
                        other.display(),
                        image.display(),
                        image.file_stem().unwrap_or_default().to_string_lossy(),
                        extension(to)
                    ),
                ));
            }
        }
    }
    let bar = (images.len() > 1 && std::io::stderr().is_terminal()).then(|| {
        let bar = ProgressBar::new(images.len() as u64);
        bar.set_style(
            ProgressStyle::with_template("extracting [{bar:40}] {pos}/{len} {per_sec} eta {eta}")
                .expect("valid template")
                .progress_chars("=> "),
        );
        bar
    });
    let results: Vec<Result<String, Failure>> = images
        .par_iter()
        .map(|image| {
            let extraction = extract_one(image, &options)?;
            if let Some(dir) = debug_dir {
                write_debug(dir, image, &extraction)?;
            }
            let target = if into_folder {
                let stem = image.file_stem().unwrap_or_default();
                output.join(stem).with_extension(extension(to))
            } else {
                output.to_path_buf()
            };
            let bytes = template::encode(&TemplateRecord::single(extraction.template.clone()), to)
                .map_err(|e| {
                    Failure::new(
                        ExitCode::Unconvertible,
                        format!("{}: cannot write as {to}: {e}", image.display()),
                    )
                })?;
            write_output(&target, &bytes)?;
            if let Some(bar) = &bar {
                bar.inc(1);
            }
            Ok(format!(
                "{} -> {}: {} minutiae, quality {}\n",
                image.display(),
                target.display(),
                extraction.template.minutiae.len(),
                extraction.quality
            ))
        })
        .collect();
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    let mut out = String::new();
    let mut first_failure = None;
    for r in results {
        match r {
            Ok(line) => out.push_str(&line),
            Err(f) => {
                eprintln!("daktilo: error: {f}");
                first_failure.get_or_insert(f);
            }
        }
    }
    match first_failure {
        // Every good image was still written; the exit code reports the first failure.
        Some(f) => {
            print!("{out}");
            Err(Failure::new(
                f.code,
                format!(
                    "{} of {} images failed",
                    images.len() - out.lines().count(),
                    images.len()
                ),
            ))
        }
        None => Ok(out),
    }
}
