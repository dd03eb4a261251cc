//! yubin-testing through its public API only, as a project outside the repository uses
//! it: lettre sends, raw sockets (and rustls) play POP3/IMAP clients.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lettre::message::{Attachment, Mailbox, MultiPart, header::ContentType};
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use yubin_testing::{Direction, MailServer, Retention};

fn smtp(server: &MailServer) -> AsyncSmtpTransport<Tokio1Executor> {
    AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.smtp_addr().port())
        .build()
}

fn simple(to: &str, subject: &str) -> Message {
    Message::builder()
        .from("app@example.com".parse().unwrap())
        .to(to.parse().unwrap())
        .subject(subject)
        .body("hello\r\n".to_owned())
        .unwrap()
}

/// A line-based client on a blocking socket (run on a blocking thread in async tests).
struct Raw<S: Read + Write> {
    stream: BufReader<S>,
}

impl Raw<TcpStream> {
    fn connect(addr: SocketAddr) -> Self {
        let stream = TcpStream::connect(addr).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        Raw {
            stream: BufReader::new(stream),
        }
    }
}

impl<S: Read + Write> Raw<S> {
    fn line(&mut self) -> String {
        let mut line = String::new();
        self.stream.read_line(&mut line).unwrap();
        line
    }

    fn send(&mut self, line: &str) {
        self.stream
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .unwrap();
        self.stream.get_mut().flush().unwrap();
    }

    /// Reads lines until one starts with `prefix`; returns them all.
    fn until(&mut self, prefix: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let line = self.line();
            assert!(!line.is_empty(), "connection closed; so far {lines:?}");
            let done = line.starts_with(prefix);
            lines.push(line);
            if done {
                return lines;
            }
        }
    }
}

#[tokio::test]
async fn lettre_sends_and_the_test_waits_for_decoded_mail() {
    let server = MailServer::start().await.unwrap();
    let message = Message::builder()
        .from("Shop <shop@example.com>".parse().unwrap())
        .to("alice@localhost".parse().unwrap())
        .cc("Zoë <alice@localhost>".parse::<Mailbox>().unwrap())
        .subject("Grüße and your invoice")
        .multipart(
            MultiPart::mixed()
                .multipart(MultiPart::alternative_plain_html(
                    "Schöne Grüße".to_owned(),
                    "<p>Schöne Grüße</p>".to_owned(),
                ))
                .singlepart(Attachment::new("invoice.pdf".to_owned()).body(
                    vec![0u8, 1, 2, 255],
                    ContentType::parse("application/pdf").unwrap(),
                )),
        )
        .unwrap();
    smtp(&server).send(message).await.unwrap();
    let inbox = server
        .wait_for_messages("alice", 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(inbox.len(), 1);
    let m = &inbox[0];
    assert_eq!(m.account(), "alice");
    assert_eq!(m.mailbox(), "INBOX");
    assert_eq!(m.uid(), 1);
    assert!(m.raw().starts_with(b"Return-Path: <shop@example.com>\r\n"));
    assert_eq!(m.subject(), Some("Grüße and your invoice"));
    assert_eq!(m.from()[0], "shop@example.com");
    assert_eq!(m.from()[0].name(), Some("Shop"));
    assert_eq!(m.to()[0].email(), "alice@localhost");
    assert_eq!(m.cc()[0].name(), Some("Zoë"));
    assert_eq!(m.cc()[0].to_string(), "Zoë <alice@localhost>");
    assert_eq!(m.header("mime-version"), Some("1.0"));
    assert!(m.header("Received").unwrap().contains("localhost"));
    assert_eq!(m.text().map(str::trim), Some("Schöne Grüße"));
    assert_eq!(m.html().map(str::trim), Some("<p>Schöne Grüße</p>"));
    let a = &m.attachments()[0];
    assert_eq!(a.name(), Some("invoice.pdf"));
    assert_eq!(a.content_type(), "application/pdf");
    assert_eq!(a.bytes(), &[0u8, 1, 2, 255]);
    assert_eq!(server.messages("alice").len(), 1);
    assert_eq!(server.messages("ALICE@localhost").len(), 1);
    server.stop().await;
}

#[tokio::test]
async fn parallel_servers_stay_isolated() {
    let (a, b) = tokio::join!(MailServer::start(), MailServer::start());
    let (a, b) = (a.unwrap(), b.unwrap());
    assert_ne!(a.smtp_addr(), b.smtp_addr());
    let (sa, sb) = (smtp(&a), smtp(&b));
    let (ra, rb) = tokio::join!(
        sa.send(simple("alice@localhost", "for a")),
        sb.send(simple("alice@localhost", "for b"))
    );
    ra.unwrap();
    rb.unwrap();
    let wait = Duration::from_secs(10);
    let ma = a.wait_for_messages("alice", 1, wait).await.unwrap();
    let mb = b.wait_for_messages("alice", 1, wait).await.unwrap();
    assert_eq!(ma[0].subject(), Some("for a"));
    assert_eq!(mb[0].subject(), Some("for b"));
    assert_eq!(a.received().len(), 1);
    assert_eq!(b.received().len(), 1);
}

#[tokio::test]
async fn wait_returns_when_mail_arrives_and_times_out_saying_what_arrived() {
    let server = MailServer::builder()
        .user("bob", "pw")
        .start()
        .await
        .unwrap();
    // Mail that arrives while the test waits wakes it well before the timeout.
    let started = Instant::now();
    let send = smtp(&server);
    let sender = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        send.send(simple("alice@localhost", "late")).await.unwrap();
    });
    let got = server
        .wait_for_messages("alice", 1, Duration::from_secs(30))
        .await
        .unwrap();
    assert_eq!(got[0].subject(), Some("late"));
    assert!(started.elapsed() < Duration::from_secs(10));
    sender.await.unwrap();

    server
        .deliver("bob", b"Subject: misrouted\r\n\r\nx\r\n")
        .unwrap();
    let err = server
        .wait_for_messages("alice", 2, Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err.arrived().len(), 1);
    let text = err.to_string();
    assert!(text.contains("timed out after 300ms"), "{text}");
    assert!(text.contains("2 messages in alice's INBOX"), "{text}");
    assert!(text.contains("1 arrived"), "{text}");
    assert!(text.contains("\"late\" from app@example.com"), "{text}");
    assert!(text.contains("bob/INBOX"), "{text}");
    assert!(text.contains("\"misrouted\""), "{text}");

    let err = server
        .wait_for_messages("carol", 1, Duration::from_secs(30))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("no such account"), "{err}");
}

#[tokio::test]
async fn received_and_messages_cover_every_mailbox_and_create_nothing() {
    let server = MailServer::builder()
        .accept_any_login(true)
        .start()
        .await
        .unwrap();
    assert!(server.messages("nobody").is_empty());
    assert!(server.received().is_empty());
    assert_eq!(server.store().account_names(), ["alice"]);
    smtp(&server)
        .send(simple("Bob@Example.com", "to bob"))
        .await
        .unwrap();
    let bob = server
        .wait_for_messages("bob", 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(bob[0].account(), "bob");
    let uid = server
        .deliver(
            "alice",
            b"Subject: first\r\nX-Order: =?utf-8?q?n=C2=B0?=\r\n 1\r\n\r\n1\r\n",
        )
        .unwrap();
    assert_eq!(uid, 1);
    assert_eq!(server.messages("alice")[0].header("x-order"), Some("n° 1"));
    let account = server.store().account("alice").unwrap();
    account.create("Archive").unwrap();
    account
        .mailbox("Archive")
        .unwrap()
        .append(b"Subject: archived\r\n\r\n2\r\n", &Default::default(), None)
        .unwrap();
    let all = server.received();
    let places: Vec<_> = all
        .iter()
        .map(|m| format!("{}/{}", m.account(), m.mailbox()))
        .collect();
    assert_eq!(all.len(), 3, "{places:?}");
    assert!(places.contains(&"alice/Archive".to_owned()));
    assert_eq!(server.messages("alice").len(), 1);
    assert_eq!(server.store().account_names(), ["alice", "bob"]);
}

#[tokio::test]
async fn add_user_and_pop_retention() {
    let server = MailServer::builder()
        .pop_retention(Retention::Keep)
        .start()
        .await
        .unwrap();
    server.add_user("carol", "pw2").unwrap();
    server
        .deliver("carol", b"Subject: kept\r\n\r\nbody\r\n")
        .unwrap();
    let addr = server.pop_addr();
    tokio::task::spawn_blocking(move || {
        let mut pop = Raw::connect(addr);
        assert!(pop.line().starts_with("+OK"));
        pop.send("USER carol");
        assert!(pop.line().starts_with("+OK"));
        pop.send("PASS pw2");
        assert!(pop.line().starts_with("+OK"));
        pop.send("RETR 1");
        let lines = pop.until(".\r\n");
        assert!(lines.iter().any(|l| l == "Subject: kept\r\n"), "{lines:?}");
        pop.send("QUIT");
        assert!(pop.line().starts_with("+OK"));
    })
    .await
    .unwrap();
    // Keep: RETR and QUIT left it there.
    assert_eq!(server.messages("carol").len(), 1);
    // The password is masked in the transcript.
    let t = server.transcript();
    let pass: Vec<_> = t
        .iter()
        .filter(|l| l.protocol == "pop3" && l.text.starts_with("PASS"))
        .collect();
    assert_eq!(pass.len(), 1);
    assert!(!pass[0].text.contains("pw2"), "{:?}", pass[0]);
    assert_eq!(pass[0].direction, Direction::Client);
    assert_eq!(pass[0].session, 1);
}

#[tokio::test]
async fn purge_empties_everything_and_an_idling_imap_session_sees_expunge() {
    let server = MailServer::builder()
        .user("bob", "pw")
        .start()
        .await
        .unwrap();
    server.deliver("alice", b"Subject: a\r\n\r\n1\r\n").unwrap();
    server.deliver("alice", b"Subject: b\r\n\r\n2\r\n").unwrap();
    server.deliver("bob", b"Subject: c\r\n\r\n3\r\n").unwrap();
    let addr = server.imap_addr();
    let (idling_tx, idling_rx) = std::sync::mpsc::channel();
    let client = tokio::task::spawn_blocking(move || {
        let mut imap = Raw::connect(addr);
        assert!(imap.line().starts_with("* OK"));
        imap.send("a LOGIN alice secret");
        imap.until("a OK");
        imap.send("b SELECT INBOX");
        let lines = imap.until("b OK");
        assert!(lines.iter().any(|l| l == "* 2 EXISTS\r\n"), "{lines:?}");
        imap.send("c IDLE");
        assert!(imap.line().starts_with("+"));
        idling_tx.send(()).unwrap();
        let mut expunged = vec![imap.line(), imap.line()];
        expunged.sort();
        imap.send("DONE");
        imap.until("c OK");
        imap.send("d LOGOUT");
        imap.until("d OK");
        expunged
    });
    tokio::task::spawn_blocking(move || idling_rx.recv().unwrap())
        .await
        .unwrap();
    server.purge();
    let expunged = client.await.unwrap();
    assert!(
        expunged.iter().all(|l| l.ends_with(" EXPUNGE\r\n")),
        "{expunged:?}"
    );
    assert!(server.received().is_empty());
    // New mail after a purge gets new UIDs.
    assert_eq!(
        server.deliver("alice", b"Subject: d\r\n\r\n4\r\n").unwrap(),
        3
    );
    // The IMAP session's lines are in the transcript, LOGIN's password masked.
    let t = server.transcript();
    let login = t
        .iter()
        .find(|l| l.protocol == "imap" && l.text.starts_with("a LOGIN"))
        .unwrap();
    assert!(!login.text.contains("secret"), "{login:?}");
    assert!(t.iter().any(|l| l.protocol == "imap"
        && l.direction == Direction::Server
        && l.text.ends_with(" EXPUNGE")));
}

#[tokio::test]
async fn require_auth_refuses_mail_before_auth() {
    let server = MailServer::builder()
        .require_auth(true)
        .start()
        .await
        .unwrap();
    let addr = server.smtp_addr();
    tokio::task::spawn_blocking(move || {
        let mut smtp = Raw::connect(addr);
        assert!(smtp.line().starts_with("220"));
        smtp.send("EHLO test");
        smtp.until("250 ");
        smtp.send("MAIL FROM:<app@example.com>");
        assert_eq!(smtp.line(), "530 5.7.0 Authentication required\r\n");
        smtp.send("QUIT");
        smtp.until("221");
    })
    .await
    .unwrap();
    // Without credentials lettre fails; with them the mail goes through.
    assert!(
        smtp(&server)
            .send(simple("alice@localhost", "anon"))
            .await
            .is_err()
    );
    let authed = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("127.0.0.1")
        .port(server.smtp_addr().port())
        .credentials(Credentials::new("alice".into(), "secret".into()))
        .build();
    authed
        .send(simple("alice@localhost", "with auth"))
        .await
        .unwrap();
    let got = server
        .wait_for_messages("alice", 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(got[0].subject(), Some("with auth"));
    // What the client sent: AUTH with its credentials masked, then MAIL.
    let sent: Vec<_> = server
        .transcript()
        .into_iter()
        .filter(|l| l.protocol == "smtp" && l.direction == Direction::Client)
        .map(|l| l.text)
        .collect();
    let auth = sent.iter().find(|l| l.starts_with("AUTH")).unwrap();
    assert!(!auth.contains("AGFsaWNlAHNlY3JldA"), "{auth}");
    assert!(
        sent.iter().any(|l| l == "MAIL FROM:<app@example.com>"),
        "{sent:?}"
    );
}

fn tls_client(ca_pem: &str) -> rustls::ClientConfig {
    let mut roots = rustls::RootCertStore::empty();
    let certs: Vec<_> = rustls::pki_types::CertificateDer::pem_slice_iter(ca_pem.as_bytes())
        .collect::<Result<_, _>>()
        .unwrap();
    for cert in certs {
        roots.add(cert).unwrap();
    }
    rustls::ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth()
}

use rustls::pki_types::pem::PemObject;

/// Implicit TLS to `addr`, verifying the server against `ca_pem`; the first line.
fn tls_greeting(addr: SocketAddr, ca_pem: &str) -> String {
    let config = Arc::new(tls_client(ca_pem));
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let conn = rustls::ClientConnection::new(config, name).unwrap();
    let tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut raw = Raw {
        stream: BufReader::new(rustls::StreamOwned::new(conn, tcp)),
    };
    raw.line()
}

#[tokio::test]
async fn tls_ports_and_starttls_with_a_ca_to_trust() {
    let plain = MailServer::start().await.unwrap();
    assert!(!plain.has_tls());
    // Asking a server without TLS for a TLS port is a bug in the test: it stops there.
    let asked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| plain.imaps_addr()));
    assert!(asked.is_err());

    let server = MailServer::builder().tls(true).start().await.unwrap();
    let ca = server.ca_pem().to_owned();
    assert!(ca.starts_with("-----BEGIN CERTIFICATE-----"));
    let (smtps, pop3s, imaps) = (
        server.smtps_addr(),
        server.pop3s_addr(),
        server.imaps_addr(),
    );
    let smtp = server.smtp_addr();
    let other_ca = MailServer::builder()
        .tls(true)
        .start()
        .await
        .unwrap()
        .ca_pem()
        .to_owned();
    tokio::task::spawn_blocking(move || {
        assert!(tls_greeting(smtps, &ca).starts_with("220"));
        assert!(tls_greeting(pop3s, &ca).starts_with("+OK"));
        assert!(tls_greeting(imaps, &ca).starts_with("* OK"));
        // Each server has a CA of its own: another one's is not trusted.
        let other = std::panic::catch_unwind(|| tls_greeting(imaps, &other_ca));
        assert!(other.is_err() || other.unwrap().is_empty());
        // STARTTLS is offered on the plaintext port.
        let mut s = Raw::connect(smtp);
        s.line();
        s.send("EHLO test");
        let ehlo = s.until("250 ");
        assert!(ehlo.iter().any(|l| l.contains("STARTTLS")), "{ehlo:?}");
    })
    .await
    .unwrap();

    // lettre over SMTPS, trusting the CA.
    let cert =
        lettre::transport::smtp::client::Certificate::from_pem(server.ca_pem().as_bytes()).unwrap();
    let tls = lettre::transport::smtp::client::TlsParameters::builder("localhost".into())
        .add_root_certificate(cert)
        .build_rustls()
        .unwrap();
    let mailer = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous("localhost")
        .port(server.smtps_addr().port())
        .tls(lettre::transport::smtp::client::Tls::Wrapper(tls))
        .build();
    mailer
        .send(simple("alice@localhost", "over tls"))
        .await
        .unwrap();
    let got = server
        .wait_for_messages("alice", 1, Duration::from_secs(10))
        .await
        .unwrap();
    assert_eq!(got[0].subject(), Some("over tls"));
}

#[tokio::test]
async fn dropping_the_server_closes_its_ports() {
    let server = MailServer::builder().tls(true).start().await.unwrap();
    let addrs = [
        server.smtp_addr(),
        server.pop_addr(),
        server.imap_addr(),
        server.smtps_addr(),
        server.pop3s_addr(),
        server.imaps_addr(),
    ];
    // An open session does not keep it alive.
    let mut open = TcpStream::connect(server.imap_addr()).unwrap();
    drop(server);
    for addr in addrs {
        assert!(TcpStream::connect(addr).is_err(), "{addr} still listens");
    }
    open.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    let _ = open.read_to_end(&mut rest);
}

#[tokio::test]
async fn stop_waits_for_sessions_to_end() {
    let server = MailServer::start().await.unwrap();
    let addr = server.imap_addr();
    let mut imap = Raw::connect(addr);
    assert!(imap.line().starts_with("* OK"));
    tokio::time::timeout(Duration::from_secs(10), server.stop())
        .await
        .unwrap();
    assert!(TcpStream::connect(addr).is_err());
    // The session was told goodbye and closed.
    let rest = tokio::task::spawn_blocking(move || imap.until(""))
        .await
        .unwrap();
    assert!(rest.iter().any(|l| l.starts_with("* BYE")), "{rest:?}");
}

#[tokio::test]
async fn data_dir_keeps_mail_in_a_maildir() {
    let dir = tempfile::tempdir().unwrap();
    let server = MailServer::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    smtp(&server)
        .send(simple("alice@localhost", "on disk"))
        .await
        .unwrap();
    server
        .wait_for_messages("alice", 1, Duration::from_secs(10))
        .await
        .unwrap();
    server.stop().await;
    // A second server on the same directory sees it.
    let again = MailServer::builder()
        .data_dir(dir.path())
        .start()
        .await
        .unwrap();
    assert_eq!(again.messages("alice")[0].subject(), Some("on disk"));
}
