//! `yubin send`: compose and send a message over SMTP with the `lettre` crate, an SMTP
//! client independent of ours, so what it proves about our server is not self-confirming.
//!
//! With `--trace`, lettre talks to the server through a loopback [`relay`] that shows the
//! dialogue (lettre itself cannot).

mod relay;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, bail};
use clap::Args;

use crate::client_tls::ClientTlsArgs;
use lettre::message::header::ContentType;
use lettre::message::{Attachment, Mailbox, MultiPart, SinglePart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::Tls;
use lettre::{Address, AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use yubin_core::Transcript;

use self::relay::Relay;

/// Options of `yubin send`.
#[derive(Debug, Args)]
pub struct SendArgs {
    /// SMTP server host.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// SMTP server port [default: 2025, or 2465 with --tls].
    #[arg(long)]
    port: Option<u16>,
    /// Recipient address (repeatable).
    #[arg(long, required = true)]
    to: Vec<String>,
    /// Sender address.
    #[arg(long, default_value = "yubin@localhost")]
    from: String,
    /// Subject line.
    #[arg(long, default_value = "Hello from yubin")]
    subject: String,
    /// Body text.
    #[arg(long, conflicts_with_all = ["body_file", "eml"])]
    body: Option<String>,
    /// Read the body text from a file.
    #[arg(long, conflicts_with = "eml")]
    body_file: Option<PathBuf>,
    /// Attach a file (repeatable).
    #[arg(long, conflicts_with = "eml")]
    attach: Vec<PathBuf>,
    /// Send this .eml file as it is (its headers are not changed; the envelope comes
    /// from --from and --to).
    #[arg(long)]
    eml: Option<PathBuf>,
    /// Log in with AUTH PLAIN as this user (optional: yubin accepts mail without it).
    #[arg(long, requires = "password")]
    user: Option<String>,
    /// Password for --user (or set YUBIN_PASSWORD).
    #[arg(long, env = "YUBIN_PASSWORD", hide_env_values = true)]
    password: Option<String>,
    #[command(flatten)]
    security: ClientTlsArgs,
}

/// lettre's TLS settings from our options: the same CA rules as every other client.
fn lettre_tls(args: &SendArgs) -> anyhow::Result<Tls> {
    use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
    let s = &args.security;
    if !s.tls && !s.starttls {
        return Ok(Tls::None);
    }
    let mut params =
        TlsParameters::builder(args.host.clone()).certificate_store(CertificateStore::None);
    if s.insecure {
        params = params.dangerous_accept_invalid_certs(true);
    } else {
        for ca in s.ca_files()? {
            let pem =
                std::fs::read(&ca).with_context(|| format!("cannot read {}", ca.display()))?;
            params = params.add_root_certificate(Certificate::from_pem(&pem)?);
        }
    }
    let params = params.build_rustls()?;
    Ok(if s.tls {
        Tls::Wrapper(params)
    } else {
        Tls::Required(params)
    })
}

/// Sends one message, showing the SMTP dialogue on `trace`.
pub async fn run(args: SendArgs, trace: Transcript) -> anyhow::Result<ExitCode> {
    let port = args
        .port
        .unwrap_or(if args.security.tls { 2465 } else { 2025 });
    let server = format!("{}:{port}", args.host);
    // The TLS settings name the real host whichever address lettre connects to, so the
    // certificate is checked against it through the relay too.
    let tls = lettre_tls(&args)?;
    let (envelope, raw, summary) = compose(&args)?;
    let relay = if trace.is_enabled() {
        // Worded as lettre words a server that is not there.
        let relay = Relay::start(&args.host, port, args.security.tls, trace)
            .await
            .context("Connection error")
            .with_context(|| format!("sending to {server} failed"))?;
        Some(relay)
    } else {
        None
    };
    let (host, port) = match &relay {
        Some(relay) => ("127.0.0.1".to_owned(), relay.port()),
        None => (args.host.clone(), port),
    };
    let mut transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
        .port(port)
        .tls(tls);
    if let (Some(user), Some(password)) = (&args.user, &args.password) {
        transport = transport.credentials(Credentials::new(user.clone(), password.clone()));
    }
    let sent = transport.build().send_raw(&envelope, &raw).await;
    // The dialogue is shown to its end, a failed one too, before the outcome is said.
    if let Some(relay) = relay {
        relay.finish().await;
    }
    sent.with_context(|| format!("sending to {server} failed"))?;
    println!("{summary}");
    Ok(ExitCode::SUCCESS)
}

/// The envelope, the message as it goes over the wire, and the line that says what was
/// sent.
fn compose(args: &SendArgs) -> anyhow::Result<(lettre::address::Envelope, Vec<u8>, String)> {
    let from: Mailbox = args
        .from
        .parse()
        .with_context(|| format!("bad --from address {:?}", args.from))?;
    let mut to = Vec::new();
    for addr in &args.to {
        to.push(
            addr.parse::<Mailbox>()
                .with_context(|| format!("bad --to address {addr:?}"))?,
        );
    }
    if let Some(path) = &args.eml {
        let raw = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
        let recipients: Vec<Address> = to.iter().map(|m| m.email.clone()).collect();
        let envelope = lettre::address::Envelope::new(Some(from.email.clone()), recipients)?;
        // lettre ends DATA with CRLF "." CRLF after the bytes it is given, so a file that
        // already ends in CRLF would arrive with one empty line more. RFC 5321 §4.1.1.4: the
        // first CRLF of the terminator is the end of the last line, so hand lettre the
        // message without its final line break and it arrives byte for byte.
        let body = raw
            .strip_suffix(b"\r\n")
            .or_else(|| raw.strip_suffix(b"\n"))
            .unwrap_or(&raw)
            .to_vec();
        let summary = format!(
            "sent {} ({} bytes) to {}",
            path.display(),
            raw.len(),
            args.to.join(", ")
        );
        return Ok((envelope, body, summary));
    }
    let body = match (&args.body, &args.body_file) {
        (Some(text), _) => text.clone(),
        (None, Some(path)) => std::fs::read_to_string(path)
            .with_context(|| format!("cannot read {}", path.display()))?,
        (None, None) => "Sent with yubin.\n".to_owned(),
    };
    let mut builder = Message::builder().from(from).subject(&args.subject);
    for m in to {
        builder = builder.to(m);
    }
    let message = if args.attach.is_empty() {
        builder.singlepart(SinglePart::plain(body))?
    } else {
        let mut parts = MultiPart::mixed().singlepart(SinglePart::plain(body));
        for path in &args.attach {
            let bytes =
                std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
            let Some(name) = path.file_name().map(|n| n.to_string_lossy().into_owned()) else {
                bail!("--attach {}: not a file", path.display());
            };
            let kind = ContentType::parse(guess_type(&name)).unwrap_or(ContentType::TEXT_PLAIN);
            parts = parts.singlepart(Attachment::new(name).body(bytes, kind));
        }
        builder.multipart(parts)?
    };
    let summary = format!("sent \"{}\" to {}", args.subject, args.to.join(", "));
    // What `AsyncTransport::send` sends: the message's own envelope and its wire form.
    Ok((message.envelope().clone(), message.formatted(), summary))
}

/// A content type from the file name, enough for attachments a learner sends.
fn guess_type(name: &str) -> &'static str {
    let ext = name
        .rsplit_once('.')
        .map(|(_, e)| e.to_ascii_lowercase())
        .unwrap_or_default();
    match ext.as_str() {
        "txt" => "text/plain; charset=utf-8",
        "html" | "htm" => "text/html; charset=utf-8",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "gif" => "image/gif",
        "pdf" => "application/pdf",
        "eml" => "message/rfc822",
        "json" => "application/json",
        "zip" => "application/zip",
        _ => "application/octet-stream",
    }
}
