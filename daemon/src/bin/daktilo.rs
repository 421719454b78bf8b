//! `daktilo`: Daktilo's command-line client. See `daktilo --help`.

use std::path::PathBuf;
use std::process;

use clap::{Parser, Subcommand};
use daktilo_daemon::cli::{self, ExitCode, Failure};
use daktilo_engine::template::Format;

#[derive(Parser)]
#[command(
    name = "daktilo",
    version,
    about = "Daktilo fingerprint system: command-line client"
)]
#[command(
    after_help = "Exit codes: 0 success, 2 usage error, 3 file could not be read or \
written, 4 invalid input, 5 input cannot be expressed in the requested format."
)]
struct Args {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Inspect and convert minutiae templates (ISO/IEC 19794-2, ANSI INCITS 378, native).
    #[command(subcommand)]
    Template(TemplateCommand),
    /// Extract minutiae templates from fingerprint images (PNG, TIFF, BMP, JPEG, PGM).
    Extract {
        /// The images.
        #[arg(required = true)]
        images: Vec<PathBuf>,
        /// Output file (one image) or folder (several images, or an existing folder).
        #[arg(short, long)]
        output: PathBuf,
        /// Template format: iso (= iso2005), ansi (= ansi2004), ansi2009 or native.
        #[arg(long, default_value = "iso", value_parser = cli::template::parse_target)]
        to: Format,
        /// The images' resolution in pixels per inch, when the files do not say (default 500).
        #[arg(long)]
        ppi: Option<f32>,
        /// Write a PNG of every pipeline step of every image into this folder.
        #[arg(long, value_name = "DIR")]
        debug_dir: Option<PathBuf>,
    },
    /// Compare two templates (1:1): calibrated score and decision.
    Match {
        /// The probe: a template, or an image whose minutiae are extracted.
        probe: PathBuf,
        /// The candidate: a template or an image.
        candidate: PathBuf,
        /// Decide "match" at the score for this false match rate (1e-4 is score 40).
        #[arg(long, default_value_t = 1e-4)]
        fmr: f64,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Draw both prints side by side with the paired minutiae joined (PNG). The images
        /// are taken from beside the templates (same name, .tif/.png/...) when present.
        #[arg(long, value_name = "OUT.png")]
        render: Option<PathBuf>,
        /// The images' resolution in pixels per inch, when their files do not say.
        #[arg(long)]
        ppi: Option<f32>,
    },
}

#[derive(Subcommand)]
enum TemplateCommand {
    /// Print what a template holds (format detected automatically).
    Show {
        /// The template file.
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Accept known deviations from the standards, reported as warnings.
        #[arg(long)]
        lenient: bool,
    },
    /// Convert a template to another format.
    Convert {
        /// The template to read (format detected automatically).
        input: PathBuf,
        /// Where to write (replaced atomically; owner-only permissions).
        output: PathBuf,
        /// Output format: iso (= iso2005), ansi (= ansi2004), ansi2009 or native.
        #[arg(long, value_parser = cli::template::parse_target)]
        to: Format,
        /// Accept known deviations from the standards in the input.
        #[arg(long)]
        lenient: bool,
    },
}

fn run(args: Args) -> Result<String, Failure> {
    match args.command {
        Command::Template(TemplateCommand::Show {
            file,
            json,
            lenient,
        }) => cli::template::show(&file, json, lenient),
        Command::Template(TemplateCommand::Convert {
            input,
            output,
            to,
            lenient,
        }) => cli::template::convert(&input, &output, to, lenient),
        Command::Extract {
            images,
            output,
            to,
            ppi,
            debug_dir,
        } => cli::extract::run(&images, &output, to, ppi, debug_dir.as_deref()),
        Command::Match {
            probe,
            candidate,
            fmr,
            json,
            render,
            ppi,
        } => cli::matching::run(&probe, &candidate, fmr, json, render.as_deref(), ppi),
    }
}

fn main() {
    let args = Args::parse();
    match run(args) {
        Ok(out) => {
            use std::io::Write;
            let mut stdout = std::io::stdout().lock();
            // A closed pipe (`daktilo ... | head`) is not an error worth a panic.
            let _ = stdout.write_all(out.as_bytes());
            process::exit(ExitCode::Success as i32);
        }
        Err(failure) => {
            eprintln!("daktilo: error: {failure}");
            process::exit(failure.code as i32);
        }
    }
}
