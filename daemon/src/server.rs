//! Running `daktilod`: binds the address, answers health checks (NOT_SERVING until the
//! gallery is loaded and again while draining), serves reflection for stock tools, the
//! metrics endpoint, TLS when configured, and shuts down gracefully.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tonic::transport::server::TcpIncoming;
use tonic::transport::{Certificate, Identity, Server, ServerTlsConfig};

use crate::config::{Config, LogFormat};
use crate::metrics::{self, Metrics};
use crate::proto::daktilo_server::DaktiloServer;
use crate::service::{Core, Service};

/// The gRPC service name, as health checks name it.
pub const SERVICE_NAME: &str = "daktilo.v1.Daktilo";

/// Addresses the server actually bound (port 0 becomes a real port).
#[derive(Debug, Clone, Copy)]
pub struct Bound {
    /// gRPC.
    pub grpc: SocketAddr,
    /// Metrics, when enabled.
    pub metrics: Option<SocketAddr>,
}

/// Sets the status of the service and of the server as a whole ("").
async fn set_health(
    health: &tonic_health::server::HealthReporter,
    status: tonic_health::ServingStatus,
) {
    health.set_service_status(SERVICE_NAME, status).await;
    health.set_service_status("", status).await;
}

/// Sets up logging to stderr: text or JSON lines, level from `RUST_LOG` (default info).
pub fn init_logging(format: LogFormat) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().try_init(),
        LogFormat::Text => builder.try_init(),
    };
}

fn read(path: &std::path::Path, what: &str) -> anyhow::Result<Vec<u8>> {
    std::fs::read(path)
        .map_err(|e| anyhow::anyhow!("cannot read the TLS {what} {}: {e}", path.display()))
}

/// Runs the server until `shutdown` resolves, then drains: health turns NOT_SERVING,
/// new connections are refused, calls in flight finish. `ready` is called with the bound
/// addresses as soon as the port is open (before the gallery is loaded).
pub async fn serve(
    config: Config,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ready: impl FnOnce(Bound) + Send,
) -> anyhow::Result<()> {
    let config = config.resolve()?;
    let metrics = Arc::new(Metrics::default());
    let service = Service::new(metrics.clone());
    let (health, health_service) = tonic_health::server::health_reporter();
    set_health(&health, tonic_health::ServingStatus::NotServing).await;
    let reflection_v1 = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    let reflection_v1alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(crate::proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()?;

    let incoming = TcpIncoming::bind(config.listen)
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?
        .with_nodelay(Some(true));
    let grpc_addr = incoming.local_addr()?;
    let metrics_task = match config.metrics_listen {
        Some(addr) => {
            let listener = tokio::net::TcpListener::bind(addr)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen for metrics on {addr}: {e}"))?;
            let bound = listener.local_addr()?;
            Some((
                bound,
                tokio::spawn(metrics::serve(listener, metrics.clone())),
            ))
        }
        None => None,
    };
    ready(Bound {
        grpc: grpc_addr,
        metrics: metrics_task.as_ref().map(|(a, _)| *a),
    });
    tracing::info!(
        listen = %grpc_addr,
        tls = config.tls.is_some(),
        workers = config.workers,
        queue = config.queue_capacity,
        "daktilod listening"
    );

    let mut builder = Server::builder()
        .tcp_keepalive(Some(Duration::from_secs(60)))
        .http2_keepalive_interval(Some(Duration::from_secs(30)));
    if let Some(tls) = &config.tls {
        let identity = Identity::from_pem(read(&tls.cert, "certificate")?, read(&tls.key, "key")?);
        let mut tls_config = ServerTlsConfig::new().identity(identity);
        if let Some(ca) = &tls.client_ca {
            tls_config = tls_config.client_ca_root(Certificate::from_pem(read(ca, "client CA")?));
        }
        builder = builder.tls_config(tls_config)?;
    }

    // Load the gallery in the background: health says NOT_SERVING meanwhile.
    let loader = {
        let service = service.clone();
        let health = health.clone();
        let config = config.clone();
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let core = tokio::task::spawn_blocking(move || Core::open(config, metrics)).await;
            match core {
                Ok(Ok(core)) => {
                    service.set_core(Arc::new(core));
                    set_health(&health, tonic_health::ServingStatus::Serving).await;
                    tracing::info!(ms = started.elapsed().as_millis() as u64, "serving");
                    Ok(())
                }
                Ok(Err(e)) => Err(anyhow::anyhow!("cannot open the data directory: {e}")),
                Err(e) => Err(anyhow::anyhow!("loading failed: {e}")),
            }
        })
    };

    let limit = config.max_message_bytes;
    let daktilo = DaktiloServer::new(service)
        .max_decoding_message_size(limit)
        .max_encoding_message_size(limit);
    let (stop_tx, stop_rx) = tokio::sync::oneshot::channel::<()>();
    // Set when draining starts: connections then get `drain_seconds` to finish.
    let draining = Arc::new(tokio::sync::Notify::new());
    let drain = {
        let health = health.clone();
        let draining = draining.clone();
        async move {
            tokio::select! {
                _ = shutdown => {}
                _ = stop_rx => {}
            }
            tracing::info!("draining");
            set_health(&health, tonic_health::ServingStatus::NotServing).await;
            draining.notify_one();
        }
    };
    let drain_limit = Duration::from_secs(config.drain_seconds);
    let server = builder
        .add_service(health_service)
        .add_service(reflection_v1)
        .add_service(reflection_v1alpha)
        .add_service(daktilo)
        .serve_with_incoming_shutdown(incoming, drain);
    tokio::pin!(server);
    // A failed load stops the server: a daemon that can never serve should say so and exit.
    let mut loader = loader;
    let mut stop_tx = Some(stop_tx);
    // Held while serving: dropping the sender would start the drain.
    let mut _keep = None;
    let mut load_error = None;
    let served = loop {
        tokio::select! {
            result = &mut server => break result,
            _ = draining.notified() => {
                // Calls in flight finish; a client that keeps its connection open past
                // the limit does not hold the shutdown up.
                match tokio::time::timeout(drain_limit, &mut server).await {
                    Ok(result) => break result,
                    Err(_) => {
                        tracing::warn!(seconds = drain_limit.as_secs(), "connections still open after the drain limit; stopping");
                        break Ok(());
                    }
                }
            }
            joined = &mut loader, if stop_tx.is_some() => {
                if let Ok(Err(e)) | Err(e) = joined.map_err(anyhow::Error::from) {
                    tracing::error!(error = %e, "stopping");
                    load_error = Some(e);
                    if let Some(tx) = stop_tx.take() {
                        let _ = tx.send(());
                    }
                } else {
                    _keep = stop_tx.take();
                }
            }
        }
    };
    if let Some((_, task)) = metrics_task {
        task.abort();
    }
    served?;
    if let Some(e) = load_error {
        return Err(e);
    }
    tracing::info!("stopped");
    Ok(())
}

/// A future that resolves on SIGINT or SIGTERM, whose handlers are installed at once,
/// before the future is first polled: `serve` says where it listens before it polls its
/// shutdown future, and a SIGTERM sent as soon as the address was read (a service
/// manager's stop, a test) found no handler and killed the process by default instead of
/// stopping it cleanly (seen once under load in the daemon's tests). Must be called
/// within a Tokio runtime (`Runtime::enter`).
pub fn shutdown_signal() -> impl std::future::Future<Output = ()> + Send + 'static {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (interrupt, terminate) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        );
        async move {
            let wait = |s: std::io::Result<tokio::signal::unix::Signal>| async move {
                match s {
                    Ok(mut s) => {
                        s.recv().await;
                    }
                    Err(_) => std::future::pending::<()>().await,
                }
            };
            tokio::select! {
                _ = wait(interrupt) => {}
                _ = wait(terminate) => {}
            }
        }
    }
    #[cfg(not(unix))]
    async {
        let _ = tokio::signal::ctrl_c().await;
    }
}
