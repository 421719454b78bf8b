//! `daktilo`: Daktilo's command-line client. See `daktilo --help`.

use std::path::PathBuf;
use std::process;

use clap::{Parser, Subcommand};
use daktilo_daemon::cli::{self, ExitCode, Failure};
use daktilo_daemon::{client, proto};
use daktilo_engine::template::Format;

#[derive(Parser)]
#[command(
    name = "daktilo",
    version,
    about = "Daktilo fingerprint system: command-line client"
)]
#[command(
    after_help = "Exit codes: 0 success, 2 usage error, 3 file could not be read or \
written, 4 invalid input, 5 input cannot be expressed in the requested format, 6 the \
service refused the request, 7 the service cannot be reached or is unavailable."
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
    #[command(flatten)]
    Service(ServiceCommand),
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

/// How to reach daktilod (service commands).
#[derive(clap::Args, Clone)]
struct ServerArgs {
    /// daktilod's address: http://HOST:PORT, or https://HOST:PORT for TLS.
    #[arg(long, env = "DAKTILO_SERVER", default_value = "http://127.0.0.1:50051")]
    server: String,
    /// CA certificate (PEM) to check the server's certificate with.
    #[arg(long, value_name = "PEM")]
    ca: Option<PathBuf>,
    /// Client certificate (PEM), when the server asks for one (with --key).
    #[arg(long, value_name = "PEM", requires = "key")]
    cert: Option<PathBuf>,
    /// The client certificate's key (PEM).
    #[arg(long, value_name = "PEM", requires = "cert")]
    key: Option<PathBuf>,
    /// Give up on a call after this many seconds.
    #[arg(long, default_value_t = 120)]
    timeout: u64,
    /// Print JSON instead of text.
    #[arg(long)]
    json: bool,
}

impl ServerArgs {
    fn connection(&self) -> client::Connection {
        client::Connection {
            server: self.server.clone(),
            ca: self.ca.clone(),
            identity: self.cert.clone().zip(self.key.clone()),
            timeout: std::time::Duration::from_secs(self.timeout.max(1)),
        }
    }
}

#[derive(Subcommand)]
enum ServiceCommand {
    /// Enrol one encounter of a subject: finger files named by position
    /// (right_index.png, finger_07.tif), POSITION=FILE, or a folder a scanner writes to.
    Enrol {
        /// The subject reference (opaque; no personal data).
        #[arg(long)]
        subject: String,
        /// The encounter reference.
        #[arg(long)]
        encounter: String,
        /// Images or templates, POSITION=FILE, or folders.
        #[arg(required = true)]
        files: Vec<String>,
        /// Request id (default: derived from the request, so a re-run is a retry).
        #[arg(long)]
        request_id: Option<String>,
        /// The images' resolution, when their files do not say.
        #[arg(long)]
        ppi: Option<u32>,
        /// Leave out fingers below this image quality (0-100).
        #[arg(long, default_value_t = 0)]
        min_quality: u32,
        /// Leave out fingers with fewer minutiae than this (0: no minimum).
        #[arg(long, default_value_t = 0)]
        min_minutiae: u32,
        /// What to do when the subject is already enrolled under another reference.
        #[arg(long, default_value = "reject", value_parser = client::commands::parse_dedup)]
        dedup: proto::DedupPolicy,
        /// Score from which a candidate is a duplicate (default: the server's).
        #[arg(long, default_value_t = 0.0)]
        dedup_threshold: f32,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Enrol many subjects from a CSV manifest (subject_ref,encounter_ref,finger,file);
    /// resumable: a second run skips what the first finished.
    EnrolBatch {
        /// The manifest.
        manifest: PathBuf,
        /// Enrolments in flight at once.
        #[arg(long, default_value_t = 4)]
        jobs: usize,
        /// The images' resolution, when their files do not say.
        #[arg(long)]
        ppi: Option<u32>,
        /// Leave out fingers below this image quality (0-100).
        #[arg(long, default_value_t = 0)]
        min_quality: u32,
        /// Leave out fingers with fewer minutiae than this (0: no minimum).
        #[arg(long, default_value_t = 0)]
        min_minutiae: u32,
        /// What to do when a subject is already enrolled under another reference.
        #[arg(long, default_value = "reject", value_parser = client::commands::parse_dedup)]
        dedup: proto::DedupPolicy,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Search the gallery (1:N) with finger files or an enrolled subject.
    Identify {
        /// Probe images or templates (POSITION=FILE allowed).
        files: Vec<String>,
        /// Search with an enrolled subject's fingers instead.
        #[arg(long)]
        subject: Option<String>,
        /// The images' resolution, when their files do not say.
        #[arg(long)]
        ppi: Option<u32>,
        /// At most this many candidates.
        #[arg(long, default_value_t = 20)]
        max: u32,
        /// Only candidates with at least this score.
        #[arg(long, default_value_t = 0.0)]
        threshold: f32,
        /// Or the threshold for this false positive identification rate (e.g. 0.01).
        #[arg(long, default_value_t = 0.0)]
        fpir: f64,
        /// Search only these subjects.
        #[arg(long, value_delimiter = ',')]
        restrict: Vec<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Compare finger files with an enrolled subject (1:1).
    Verify {
        /// The claimed subject.
        #[arg(long)]
        subject: String,
        /// Images or templates (POSITION=FILE allowed).
        #[arg(required = true)]
        files: Vec<String>,
        /// The images' resolution, when their files do not say.
        #[arg(long)]
        ppi: Option<u32>,
        /// Decide at the threshold for this false match rate.
        #[arg(long, default_value_t = 1e-4)]
        fmr: f64,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Delete a subject and all its templates.
    Delete {
        /// The subject.
        #[arg(long)]
        subject: String,
        /// erasure, retention-expired, duplicate or correction.
        #[arg(long, value_parser = client::commands::parse_reason)]
        reason: proto::DeletionReason,
        /// Request id (default: derived from the subject and reason).
        #[arg(long)]
        request_id: Option<String>,
        #[command(flatten)]
        server: ServerArgs,
    },
    /// What daktilod holds, and its queue.
    Status {
        #[command(flatten)]
        server: ServerArgs,
    },
    /// Start daktilod in this process, enrol the FVC2002 prints, search them, and print
    /// the candidate lists (the README's main command).
    Demo {
        /// Use a running daktilod at this address instead of starting one.
        #[arg(long)]
        server: Option<String>,
        /// Keep the embedded daktilod's data here (default: a temporary folder, removed).
        #[arg(long)]
        data_dir: Option<PathBuf>,
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
        Command::Service(command) => run_service(command),
    }
}

fn run_service(command: ServiceCommand) -> Result<String, Failure> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| Failure::new(ExitCode::Io, format!("cannot start the runtime: {e}")))?;
    runtime.block_on(async move {
        use client::commands;
        match command {
            ServiceCommand::Enrol {
                subject,
                encounter,
                files,
                request_id,
                ppi,
                min_quality,
                min_minutiae,
                dedup,
                dedup_threshold,
                server,
            } => {
                let args = commands::EnrolArgs {
                    subject,
                    encounter,
                    request_id,
                    files,
                    ppi,
                    min_quality,
                    min_minutiae,
                    dedup,
                    dedup_threshold,
                };
                commands::enrol(&server.connection(), args, server.json).await
            }
            ServiceCommand::EnrolBatch {
                manifest,
                jobs,
                ppi,
                min_quality,
                min_minutiae,
                dedup,
                server,
            } => {
                let options = proto::EnrolOptions {
                    min_quality,
                    dedup: dedup as i32,
                    dedup_threshold: 0.0,
                    min_minutiae,
                };
                let summary =
                    client::batch::run(&server.connection(), &manifest, jobs, ppi, options).await?;
                Ok(client::batch::summary_text(&summary, server.json))
            }
            ServiceCommand::Identify {
                files,
                subject,
                ppi,
                max,
                threshold,
                fpir,
                restrict,
                server,
            } => {
                let args = commands::IdentifyArgs {
                    files,
                    subject,
                    ppi,
                    max,
                    threshold,
                    fpir,
                    restrict,
                };
                commands::identify(&server.connection(), args, server.json).await
            }
            ServiceCommand::Verify {
                subject,
                files,
                ppi,
                fmr,
                server,
            } => {
                commands::verify(&server.connection(), subject, files, ppi, fmr, server.json).await
            }
            ServiceCommand::Delete {
                subject,
                reason,
                request_id,
                server,
            } => {
                commands::delete(
                    &server.connection(),
                    subject,
                    reason,
                    request_id,
                    server.json,
                )
                .await
            }
            ServiceCommand::Status { server } => {
                commands::status(&server.connection(), server.json).await
            }
            ServiceCommand::Demo { server, data_dir } => {
                let dataset = daktilo_engine::datasets::locate().ok_or_else(|| {
                    Failure::new(
                        ExitCode::Io,
                        "the datasets folder was not found: set DAKTILO_DATASETS (see the README)",
                    )
                })?;
                client::demo::run(client::demo::DemoArgs {
                    dataset,
                    server: server.map(|s| client::Connection {
                        server: s,
                        timeout: std::time::Duration::from_secs(60),
                        ..client::Connection::default()
                    }),
                    data_dir,
                })
                .await?;
                Ok(String::new())
            }
        }
    })
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
