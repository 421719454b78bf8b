//! `daktilod` over TLS (rustls), with client-certificate authentication: a client with a
//! certificate from the configured CA is served; one without, or with another CA's, is not.

mod common;

use std::path::Path;
use std::time::{Duration, Instant};

use common::{Daemon, scratch};
use daktilo_daemon::proto::{self, daktilo_client::DaktiloClient};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use tonic::transport::{Certificate, Channel, ClientTlsConfig, Identity};

struct Pem {
    cert: String,
    key: String,
}

fn new_ca() -> (Pem, Issuer<'static, KeyPair>) {
    let key = KeyPair::generate().unwrap();
    let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    let cert = params.self_signed(&key).unwrap();
    let pem = Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    };
    (pem, Issuer::new(params, key))
}

fn leaf(names: &[&str], issuer: &Issuer<'_, KeyPair>) -> Pem {
    let key = KeyPair::generate().unwrap();
    let params =
        CertificateParams::new(names.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
    let cert = params.signed_by(&key, issuer).unwrap();
    Pem {
        cert: cert.pem(),
        key: key.serialize_pem(),
    }
}

async fn stats(port: u16, ca: &str, identity: Option<&Pem>) -> Result<u64, String> {
    let mut tls = ClientTlsConfig::new()
        .ca_certificate(Certificate::from_pem(ca))
        .domain_name("localhost");
    if let Some(id) = identity {
        tls = tls.identity(Identity::from_pem(&id.cert, &id.key));
    }
    let channel = Channel::from_shared(format!("https://127.0.0.1:{port}"))
        .unwrap()
        .tls_config(tls)
        .map_err(|e| e.to_string())?
        .connect_timeout(Duration::from_secs(5))
        .connect()
        .await
        .map_err(|e| e.to_string())?;
    let mut client = DaktiloClient::new(channel);
    let started = Instant::now();
    loop {
        match client.stats(proto::StatsRequest {}).await {
            Ok(r) => return Ok(r.into_inner().subjects),
            Err(s) if s.code() == tonic::Code::Unavailable && started.elapsed().as_secs() < 30 => {
                if !s.message().contains("loading") {
                    return Err(s.to_string());
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(s) => return Err(s.to_string()),
        }
    }
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[tokio::test]
async fn tls_with_client_certificates() {
    let dir = scratch("e2e-tls");
    let (ca_pem, ca) = new_ca();
    let (other_pem, other_ca) = new_ca();
    let server = leaf(&["localhost"], &ca);
    let client = leaf(&["workstation-17"], &ca);
    let stranger = leaf(&["stranger"], &other_ca);
    let config = format!(
        "[tls]\ncert = \"{}\"\nkey = \"{}\"\nclient_ca = \"{}\"\n",
        write(&dir, "server.pem", &server.cert),
        write(&dir, "server.key", &server.key),
        write(&dir, "ca.pem", &ca_pem.cert),
    );
    let config_path = write(&dir, "daktilod.toml", &config);
    let d = Daemon::start(&dir.join("data"), &["--config", &config_path]);
    let port: u16 = d.url.rsplit(':').next().unwrap().parse().unwrap();

    assert_eq!(stats(port, &ca_pem.cert, Some(&client)).await, Ok(0));
    assert!(stats(port, &ca_pem.cert, None).await.is_err());
    assert!(stats(port, &ca_pem.cert, Some(&stranger)).await.is_err());
    // A client that does not trust the server's CA refuses it.
    assert!(stats(port, &other_pem.cert, Some(&client)).await.is_err());
    // Plain text is not served.
    let plain = DaktiloClient::connect(d.url.clone()).await;
    if let Ok(mut c) = plain {
        assert!(c.stats(proto::StatsRequest {}).await.is_err());
    }
    drop(d);
    let _ = std::fs::remove_dir_all(&dir);
}
