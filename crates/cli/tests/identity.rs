//! One identity per account, through a real `yubin serve`: with `--user alice:secret
//! --accept-any-login`, `ALICE` and `alice@localhost` are alice (her password is needed,
//! and mail to any spelling lands in her INBOX), and `--max-accounts` bounds what
//! anonymous logins can create (`NO [LIMIT]`).

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;

use common::live::{STEP, Serve};

/// A line-at-a-time client with a deadline on every read.
struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Client {
    fn connect(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(STEP)).unwrap();
        let mut c = Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        c.line();
        c
    }

    fn line(&mut self) -> String {
        let mut l = String::new();
        self.r
            .read_line(&mut l)
            .expect("the server answers in time");
        l
    }

    /// Sends an IMAP command tagged `t`, returns its tagged reply.
    fn imap(&mut self, command: &str) -> String {
        self.w
            .write_all(format!("t {command}\r\n").as_bytes())
            .unwrap();
        loop {
            let l = self.line();
            assert!(!l.is_empty(), "closed during {command}");
            if l.starts_with("t ") {
                return l;
            }
        }
    }

    /// Sends an SMTP command, returns the last line of its reply.
    fn smtp(&mut self, command: &str) -> String {
        self.w
            .write_all(format!("{command}\r\n").as_bytes())
            .unwrap();
        loop {
            let l = self.line();
            if l.len() < 4 || l.as_bytes()[3] != b'-' {
                return l;
            }
        }
    }
}

fn send_mail(port: u16, to: &str, subject: &str) {
    let mut c = Client::connect(port);
    assert!(c.smtp("EHLO test").starts_with("250"));
    assert!(c.smtp("MAIL FROM:<x@example.com>").starts_with("250"));
    let r = c.smtp(&format!("RCPT TO:<{to}>"));
    assert!(r.starts_with("250"), "{to}: {r}");
    assert!(c.smtp("DATA").starts_with("354"));
    let r = c.smtp(&format!("Subject: {subject}\r\n\r\nhi\r\n."));
    assert!(r.starts_with("250"), "{r}");
    c.smtp("QUIT");
}

#[test]
fn alice_in_any_case_or_as_her_address_is_one_account() {
    let data = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(
        data.path(),
        &["--user", "alice:secret", "--accept-any-login"],
    );
    // Someone else logging in as ALICE or alice@localhost needs alice's password: the
    // name is hers, not a new account that would catch her mail.
    for name in ["ALICE", "alice@LOCALHOST"] {
        let mut c = Client::connect(serve.imap);
        let r = c.imap(&format!("LOGIN \"{name}\" \"guess\""));
        assert!(r.starts_with("t NO [AUTHENTICATIONFAILED]"), "{name}: {r}");
    }
    for to in ["alice@localhost", "ALICE@localhost", "Alice@LocalHost"] {
        send_mail(serve.smtp, to, to);
    }
    // With her password, every spelling is her one INBOX, holding all three messages.
    for name in ["alice", "ALICE", "alice@localhost"] {
        let mut c = Client::connect(serve.imap);
        assert!(
            c.imap(&format!("LOGIN \"{name}\" secret"))
                .starts_with("t OK")
        );
        let r = c.imap("STATUS INBOX (MESSAGES)");
        assert!(r.starts_with("t OK"), "{r}");
    }
    let mut c = Client::connect(serve.imap);
    c.imap("LOGIN alice secret");
    c.w.write_all(b"s STATUS INBOX (MESSAGES)\r\n").unwrap();
    assert_eq!(c.line(), "* STATUS \"INBOX\" (MESSAGES 3)\r\n");
    // No account other than alice's was made on disk.
    let mut dirs: Vec<String> = std::fs::read_dir(data.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with('.'))
        .collect();
    dirs.sort();
    assert_eq!(dirs, ["alice"]);
}

#[test]
fn anonymous_logins_create_at_most_max_accounts() {
    let data = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(data.path(), &["--accept-any-login", "--max-accounts", "2"]);
    for name in ["one", "two"] {
        let mut c = Client::connect(serve.imap);
        assert!(c.imap(&format!("LOGIN {name} pw")).starts_with("t OK"));
    }
    let mut c = Client::connect(serve.imap);
    let r = c.imap("LOGIN three pw");
    assert!(r.starts_with("t NO [LIMIT]"), "{r}");
    // Existing accounts still log in, in any case.
    assert!(c.imap("LOGIN ONE pw").starts_with("t OK"));
}

#[test]
fn one_address_creates_accounts_no_faster_than_the_rate() {
    let data = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(
        data.path(),
        &["--accept-any-login", "--accounts-per-second", "0"],
    );
    // A burst of 100 from one address, then nothing more from it...
    let mut c = Client::connect(serve.imap);
    for n in 0..100 {
        let r = c.imap(&format!("LOGIN user{n} pw"));
        assert!(r.starts_with("t OK"), "user{n}: {r}");
        c = Client::connect(serve.imap);
    }
    let r = c.imap("LOGIN user100 pw");
    assert!(r.starts_with("t NO [LIMIT]"), "{r}");
    // ...while another address still gets its own (Linux routes all of 127/8 to lo).
    #[cfg(target_os = "linux")]
    {
        let s = connect_from([127, 0, 0, 2], serve.imap);
        s.set_read_timeout(Some(STEP)).unwrap();
        let mut other = Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        other.line();
        assert!(other.imap("LOGIN user100 pw").starts_with("t OK"));
    }
}

/// A connection to 127.0.0.1 from another loopback source address.
#[cfg(target_os = "linux")]
fn connect_from(from: [u8; 4], port: u16) -> TcpStream {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let stream = rt.block_on(async {
        let socket = tokio::net::TcpSocket::new_v4().unwrap();
        socket
            .bind(std::net::SocketAddr::from((from, 0)))
            .unwrap_or_else(|e| panic!("binding {from:?}: {e}"));
        tokio::time::timeout(STEP, socket.connect(([127, 0, 0, 1], port).into()))
            .await
            .expect("connect in time")
            .expect("connect")
    });
    let stream = stream.into_std().unwrap();
    stream.set_nonblocking(false).unwrap();
    stream
}

/// Local domains are `localhost`, this machine's name and `--domain` values; mail to any
/// other domain is refused at RCPT with 550 5.7.1 (nothing is relayed).
#[test]
fn mail_is_local_for_localhost_the_machine_and_domain_flags_only() {
    let data = tempfile::tempdir().unwrap();
    let serve = Serve::start_with(data.path(), &["--domain", "Mail.Test"]);
    let mut c = Client::connect(serve.smtp);
    assert!(c.smtp("EHLO test").starts_with("250"));
    assert!(c.smtp("MAIL FROM:<x@example.com>").starts_with("250"));
    let r = c.smtp("RCPT TO:<alice@example.com>");
    assert!(r.starts_with("550 5.7.1"), "{r}");
    assert!(r.contains("relaying denied"), "{r}");
    assert!(c.smtp("RCPT TO:<alice@mail.test>").starts_with("250"));
    assert!(c.smtp("RCPT TO:<alice@localhost>").starts_with("250"));
    if let Ok(host) = std::fs::read_to_string("/proc/sys/kernel/hostname") {
        let r = c.smtp(&format!("RCPT TO:<alice@{}>", host.trim()));
        assert!(r.starts_with("250"), "{host}: {r}");
    }
}
