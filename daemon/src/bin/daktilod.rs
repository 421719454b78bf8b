//! `daktilod`: the Daktilo gRPC service. See `daktilod --help` and docs/operations.md.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::Parser;
use daktilo_daemon::config::{Config, LogFormat};
use daktilo_daemon::server;

#[derive(Parser)]
#[command(
    name = "daktilod",
    version,
    about = "Daktilo fingerprint service (gRPC)",
    after_help = "Settings: defaults, then --config FILE (TOML), then DAKTILOD_* environment \
variables, then these flags. Without any, it serves on 127.0.0.1:50051 with its data in \
./daktilo-data."
)]
struct Args {
    /// A TOML settings file (see docs/operations.md).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// gRPC address, e.g. 127.0.0.1:50051 (port 0 picks a free port).
    #[arg(long, value_name = "ADDR")]
    listen: Option<SocketAddr>,
    /// Where the gallery and the registry are kept.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Prometheus metrics address (GET /metrics).
    #[arg(long, value_name = "ADDR")]
    metrics_listen: Option<SocketAddr>,
    /// Log JSON lines instead of text.
    #[arg(long)]
    json_logs: bool,
    /// Print the settings in effect (TOML) and exit.
    #[arg(long)]
    print_config: bool,
    /// Rebuild the gallery's search features for this release (after an upgrade that
    /// changed them: daktilod then refuses the old gallery) from the stored templates, and
    /// exit. Stop the running daktilod first.
    #[arg(long)]
    rebuild_features: bool,
}

fn settings(args: &Args) -> anyhow::Result<Config> {
    let mut config = match &args.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    config.apply_env(|k| std::env::var(k).ok())?;
    if let Some(a) = args.listen {
        config.listen = a;
    }
    if let Some(d) = &args.data_dir {
        config.data_dir = d.clone();
    }
    if let Some(a) = args.metrics_listen {
        config.metrics_listen = Some(a);
    }
    if args.json_logs {
        config.log_format = LogFormat::Json;
    }
    Ok(config)
}

/// `--rebuild-features`: the exit code.
fn rebuild_features(config: &Config) -> i32 {
    use daktilo_engine::gallery::Gallery;
    use daktilo_engine::search::{self, feature::FEATURE_BYTES};
    let dir = config.gallery_dir();
    let same_length = match Gallery::recorded_feature_len(&dir) {
        Ok(Some(n)) if n == FEATURE_BYTES => true,
        Ok(Some(n)) => {
            println!(
                "{}: rebuilding {n}-byte features as {FEATURE_BYTES}-byte ones",
                dir.display()
            );
            false
        }
        Ok(None) => {
            eprintln!("daktilod: {}: no gallery there", dir.display());
            return 2;
        }
        Err(e) => {
            eprintln!("daktilod: {}: {e}", dir.display());
            return 1;
        }
    };
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} templates, eta {eta}")
            .expect("a valid template"),
    );
    let started = std::time::Instant::now();
    // Features of this length computed by an older rule (which codes a template stores)
    // are rebuilt too.
    let result = Gallery::rebuild_features_where(
        &dir,
        FEATURE_BYTES,
        &|f| !search::feature::is_current(f),
        &search::gallery_feature_of_stored,
        &|done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    );
    bar.finish_and_clear();
    match result {
        Ok(0) if same_length => {
            println!(
                "{}: features are current ({FEATURE_BYTES} bytes)",
                dir.display()
            );
            0
        }
        Ok(n) => {
            println!(
                "rebuilt the features of {n} templates in {:.1} s",
                started.elapsed().as_secs_f64()
            );
            0
        }
        Err(e) => {
            eprintln!("daktilod: {}: {e}", dir.display());
            1
        }
    }
}

fn main() {
    let args = Args::parse();
    let config = match settings(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("daktilod: {e}");
            std::process::exit(2);
        }
    };
    if args.print_config {
        match toml::to_string(&config) {
            Ok(text) => print!("{text}"),
            Err(e) => {
                eprintln!("daktilod: {e}");
                std::process::exit(2);
            }
        }
        return;
    }
    if args.rebuild_features {
        std::process::exit(rebuild_features(&config));
    }
    server::init_logging(config.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("daktilod: cannot start the runtime: {e}");
            std::process::exit(1);
        }
    };
    // The signal handlers first, so that a SIGTERM right after the address is printed
    // stops the service cleanly.
    let shutdown = {
        let _in_runtime = runtime.enter();
        server::shutdown_signal()
    };
    let result = runtime.block_on(server::serve(config, shutdown, |bound| {
        // One machine-readable line for scripts and tests.
        println!("daktilod listening on {}", bound.grpc);
        if let Some(m) = bound.metrics {
            println!("daktilod metrics on http://{m}/metrics");
        }
        use std::io::Write;
        let _ = std::io::stdout().flush();
    }));
    if let Err(e) = result {
        eprintln!("daktilod: {e}");
        std::process::exit(1);
    }
}
