//! TLS with rustls (the `ring` provider: it builds with nothing but a C compiler, no
//! cmake or system OpenSSL, on a fresh machine).
//!
//! - [`TlsServer`]: a server certificate from PEM files, or from a local CA that yubin
//!   creates on first start so that mail clients can verify it (trust the CA once).
//! - [`client_connector`]: a client side that verifies against a CA file, the system's
//!   roots are not needed for localhost, or (explicitly) verifies nothing.
//! - [`Stream`](crate::stream::Stream) carries either kind of connection.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::pki_types::pem::PemObject;

use crate::server::HANDSHAKE_TIMEOUT;
use crate::stream::Stream;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
pub use tokio_rustls::{TlsAcceptor, TlsConnector};

/// Why TLS could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: std::io::Error,
    },
    /// A PEM file held no certificate or key, or a malformed one.
    #[error("{path}: {what}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What was wrong with it.
        what: String,
    },
    /// rustls refused the certificate or key.
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    /// Generating the local CA failed.
    #[error("generating a certificate: {0}")]
    Generate(#[from] rcgen::Error),
}

/// The server side of TLS: what implicit-TLS listeners and STARTTLS upgrades use.
#[derive(Clone)]
pub struct TlsServer {
    acceptor: TlsAcceptor,
    /// The CA a client should trust, when yubin generated the certificate.
    ca_path: Option<PathBuf>,
}

impl std::fmt::Debug for TlsServer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsServer")
            .field("ca_path", &self.ca_path)
            .finish()
    }
}

/// File names of the local CA's material inside its directory.
const CA_FILE: &str = "ca.pem";
const CERT_FILE: &str = "server.pem";
const KEY_FILE: &str = "server-key.pem";

impl TlsServer {
    /// A server certificate (chain) and its private key, both PEM.
    pub fn from_pem_files(cert: &Path, key: &Path) -> Result<TlsServer, TlsError> {
        let chain = read_certs(cert)?;
        let key = read_key(key)?;
        Ok(TlsServer {
            acceptor: acceptor(chain, key)?,
            ca_path: None,
        })
    }

    /// The certificate of the local CA in `dir`, created on first use: a CA and a server
    /// certificate for `localhost`, `127.0.0.1` and `::1`. Later starts reuse them, so a
    /// user trusts the CA once. The CA's private key is never written anywhere: once the
    /// server certificate is signed it is thrown away, so this CA can vouch for nothing else.
    pub fn local_ca(dir: &Path) -> Result<TlsServer, TlsError> {
        if !dir.join(CA_FILE).exists() {
            generate(dir)?;
        }
        let chain = read_certs(&dir.join(CERT_FILE))?;
        Ok(TlsServer {
            acceptor: acceptor(chain, read_key(&dir.join(KEY_FILE))?)?,
            ca_path: Some(dir.join(CA_FILE)),
        })
    }

    /// The acceptor that performs server handshakes.
    pub fn acceptor(&self) -> &TlsAcceptor {
        &self.acceptor
    }

    /// The CA certificate a client should trust, if yubin made it.
    pub fn ca_path(&self) -> Option<&Path> {
        self.ca_path.as_deref()
    }
}

/// The path of the local CA certificate in `dir` (whether or not it exists yet).
pub fn ca_path(dir: &Path) -> PathBuf {
    dir.join(CA_FILE)
}

fn acceptor(
    chain: Vec<CertificateDer<'static>>,
    key: PrivateKeyDer<'static>,
) -> Result<TlsAcceptor, TlsError> {
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()?
    .with_no_client_auth()
    .with_single_cert(chain, key)?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Result<Vec<_>, _> = CertificateDer::pem_file_iter(path)
        .map_err(|e| pem_error(path, e))?
        .collect();
    let certs = certs.map_err(|e| pem_error(path, e))?;
    if certs.is_empty() {
        return Err(TlsError::Pem {
            path: path.to_owned(),
            what: "no CERTIFICATE in the file".into(),
        });
    }
    Ok(certs)
}

fn read_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| pem_error(path, e))
}

fn pem_error(path: &Path, e: rustls::pki_types::pem::Error) -> TlsError {
    match e {
        rustls::pki_types::pem::Error::Io(source) => TlsError::Io {
            path: path.to_owned(),
            source,
        },
        other => TlsError::Pem {
            path: path.to_owned(),
            what: other.to_string(),
        },
    }
}

/// Creates the CA and server certificate files in `dir`.
///
/// They are written into a fresh sibling directory that is then renamed to `dir` in one
/// step, so two servers starting at once never mix one's key with the other's
/// certificate: the loser of the rename race uses the winner's set. Nothing here deletes
/// a directory this call did not create: an incomplete `dir` left by an older run is
/// renamed aside, not removed (it may hold something of the user's).
fn generate(dir: &Path) -> Result<(), TlsError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Io { path, source }
    };
    let parent = dir.parent().unwrap_or(Path::new("."));
    private_dir_all(parent).map_err(io(parent))?;
    let name = dir.file_name().and_then(|n| n.to_str()).unwrap_or("tls");
    let staging = parent.join(format!(".{name}.{}.tmp", unique()));
    // `create`, not `create_dir_all`: the staging directory is new, and ours.
    private_dir(&staging).map_err(io(&staging))?;
    write_set(&staging)?;
    if dir.exists() && !dir.join(CA_FILE).exists() {
        let aside = parent.join(format!("{name}.incomplete.{}", unique()));
        tracing::warn!(
            "{} has no {CA_FILE}: moved aside to {} and made anew",
            dir.display(),
            aside.display()
        );
        std::fs::rename(dir, &aside).map_err(io(dir))?;
    }
    match std::fs::rename(&staging, dir) {
        Ok(()) => Ok(()),
        Err(_) if dir.join(CA_FILE).exists() => {
            // Another server made the set first: use it; the staging set was ours.
            let _ = std::fs::remove_dir_all(&staging);
            Ok(())
        }
        Err(e) => Err(io(dir)(e)),
    }
}

/// Moves a local CA made by an older yubin from `old` to `new` (a CA the user trusts
/// keeps working after an upgrade), file by file, the CA last: `old` itself is left where
/// it is, with whatever else it holds (an account's mail, if an account had that name).
/// Does nothing if `new` has a CA already or `old` has no complete set. Returns whether
/// it moved one.
pub fn adopt_local_ca(old: &Path, new: &Path) -> Result<bool, TlsError> {
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| TlsError::Io { path, source }
    };
    let files = [KEY_FILE, CERT_FILE, CA_FILE];
    if new.join(CA_FILE).exists() || !files.iter().all(|f| old.join(f).is_file()) {
        return Ok(false);
    }
    private_dir_all(new).map_err(io(new))?;
    for file in files {
        std::fs::rename(old.join(file), new.join(file)).map_err(io(&old.join(file)))?;
    }
    tracing::info!(
        "moved the local CA from {} to {}",
        old.display(),
        new.display()
    );
    Ok(true)
}

/// A name part no other server process or earlier run has used.
fn unique() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    format!("{}.{nanos}", std::process::id())
}

/// Creates `path` (not its parents), readable by its owner only.
fn private_dir(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Creates `path` and its missing parents, each new one readable by its owner only.
fn private_dir_all(path: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(path)
}

/// Writes a new CA and server certificate into `dir`.
fn write_set(dir: &Path) -> Result<(), TlsError> {
    use rcgen::{
        BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer,
        KeyPair, KeyUsagePurpose, SanType,
    };
    let now = time_now();

    let mut ca = CertificateParams::new(Vec::<String>::new())?;
    ca.distinguished_name
        .push(DnType::CommonName, "yubin local CA");
    ca.distinguished_name
        .push(DnType::OrganizationName, "yubin (local testing only)");
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    ca.not_before = now - time::Duration::days(1);
    ca.not_after = now + time::Duration::days(3650);
    let ca_key = KeyPair::generate()?;
    let ca_cert = ca.self_signed(&ca_key)?;
    let issuer = Issuer::new(ca, ca_key);

    let mut server = CertificateParams::new(vec!["localhost".to_owned()])?;
    server
        .distinguished_name
        .push(DnType::CommonName, "localhost");
    server.subject_alt_names.push(SanType::IpAddress(
        "127.0.0.1".parse().expect("literal address"),
    ));
    server
        .subject_alt_names
        .push(SanType::IpAddress("::1".parse().expect("literal address")));
    server.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    server.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    // Strict verifiers (OpenSSL's X509_STRICT, on by default in newer Pythons) want it.
    server.use_authority_key_identifier_extension = true;
    server.not_before = now - time::Duration::days(1);
    // 825 days: the longest validity Apple's clients accept for a server certificate.
    server.not_after = now + time::Duration::days(825);
    let server_key = KeyPair::generate()?;
    let server_cert = server.signed_by(&server_key, &issuer)?;

    // Write the key first and the CA last: the CA file is what marks the set complete.
    write_private(&dir.join(KEY_FILE), server_key.serialize_pem().as_bytes())?;
    let chain = format!("{}{}", server_cert.pem(), ca_cert.pem());
    // The certificates are public, but everything in a data directory is private.
    write_private(&dir.join(CERT_FILE), chain.as_bytes())?;
    write_private(&dir.join(CA_FILE), ca_cert.pem().as_bytes())?;
    Ok(())
}

fn time_now() -> time::OffsetDateTime {
    time::OffsetDateTime::now_utc()
}

/// Writes a file only its owner can read (a private key).
fn write_private(path: &Path, bytes: &[u8]) -> Result<(), TlsError> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let io = |source| TlsError::Io {
        path: path.to_owned(),
        source,
    };
    let mut file = options.open(path).map_err(io)?;
    file.write_all(bytes).map_err(io)
}

/// How a client checks the server's certificate.
#[derive(Debug, Clone)]
pub enum Verify {
    /// Against these CA certificate files (e.g. yubin's local CAs): a server whose
    /// certificate any of them signed is trusted.
    Ca(Vec<PathBuf>),
    /// Not at all: anyone in the middle can read everything. For `--insecure` only.
    Nothing,
}

/// A client-side TLS connector.
pub fn client_connector(verify: &Verify) -> Result<TlsConnector, TlsError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let builder = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?;
    let config = match verify {
        Verify::Ca(paths) => {
            let mut roots = rustls::RootCertStore::empty();
            for path in paths {
                for cert in read_certs(path)? {
                    roots.add(cert)?;
                }
            }
            builder.with_root_certificates(roots).with_no_client_auth()
        }
        Verify::Nothing => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider)))
            .with_no_client_auth(),
    };
    Ok(TlsConnector::from(Arc::new(config)))
}

/// The name a client checks the certificate against: a host name or an IP address.
pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_owned()).map_err(|e| TlsError::Pem {
        path: PathBuf::from(host),
        what: format!("not a valid server name: {e}"),
    })
}

/// Accepts any certificate; signatures are still checked so the handshake is well-formed.
#[derive(Debug)]
struct NoVerification(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// What a session knows about TLS on its connection.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct TlsState {
    /// The connection is encrypted (implicit TLS, or after the upgrade).
    pub active: bool,
    /// The listener can upgrade this connection (STARTTLS, STLS).
    pub upgradable: bool,
    /// `--require-tls`: no password crosses a plaintext connection.
    pub required: bool,
}

impl TlsState {
    /// Whether to offer the upgrade now (capability lists drop it once TLS is on).
    pub fn offer_starttls(&self) -> bool {
        self.upgradable && !self.active
    }

    /// Whether a password may be sent now.
    pub fn login_allowed(&self) -> bool {
        self.active || !self.required
    }

    /// The state after a completed upgrade.
    pub fn started(self) -> TlsState {
        TlsState {
            active: true,
            ..self
        }
    }
}

/// The server's TLS handshake on a TCP connection, bounded by [`HANDSHAKE_TIMEOUT`] so a
/// slow or silent client never holds its task: the one handshake every listener uses, on
/// an implicit-TLS port and after STARTTLS/STLS. The error says what failed, in one line.
pub async fn accept(tcp: tokio::net::TcpStream, tls: &TlsServer) -> Result<Stream, String> {
    match tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor().accept(tcp)).await {
        Ok(Ok(stream)) => Ok(Stream::ServerTls(Box::new(stream))),
        Ok(Err(e)) => Err(format!("TLS handshake failed: {e}")),
        Err(_) => Err("TLS handshake timed out".to_owned()),
    }
}

/// The server's TLS handshake in place of a plaintext conversation (STARTTLS, STLS).
///
/// Whatever the client sent after the STARTTLS command, before the handshake, must be
/// dropped by the caller, never executed (`discarded` says how much it dropped, for the
/// log). That is the command-injection class of bugs (CVE-2011-0411, and the 2021 "NO
/// STARTTLS" research): plaintext an attacker appended must not run inside the encrypted
/// session.
pub async fn upgrade(
    reader: tokio::io::ReadHalf<Stream>,
    writer: tokio::io::WriteHalf<Stream>,
    tls: &TlsServer,
    discarded: usize,
) -> std::io::Result<Stream> {
    if discarded > 0 {
        tracing::info!(
            bytes = discarded,
            "discarded plaintext pipelined after STARTTLS"
        );
    }
    let Stream::Plain(tcp) = reader.unsplit(writer) else {
        return Err(std::io::Error::other(
            "STARTTLS on a connection that is already TLS",
        ));
    };
    accept(tcp, tls).await.map_err(|e| {
        // One clear line on the server side too (the connection's span names the peer).
        tracing::warn!("after STARTTLS: {e}");
        std::io::Error::other(e)
    })
}

/// The client's TLS handshake on a TCP connection; `host` is the name the server's
/// certificate must carry.
pub async fn connect(
    tcp: tokio::net::TcpStream,
    host: &str,
    tls: &TlsConnector,
) -> std::io::Result<Stream> {
    let name = server_name(host).map_err(std::io::Error::other)?;
    let stream = tls
        .connect(name, tcp)
        .await
        .map_err(|e| std::io::Error::other(format!("TLS handshake failed: {e}")))?;
    Ok(Stream::ClientTls(Box::new(stream)))
}
