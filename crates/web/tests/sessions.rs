//! Live transcripts: `GET /api/v1/sessions` and `event: session` show what SMTP, POP3 and
//! IMAP clients said, with the client's address, passwords masked; and the log keeps
//! only as many sessions and lines as its limits allow.

mod http_client;

use std::net::SocketAddr;
use std::time::Duration;

use http_client::{Events, STEP, get};
use serde_json::Value;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use yubin_core::session_log::{SessionLimits, SessionLog};
use yubin_store::{Secret, Store};
use yubin_testing::MailServer;
use yubin_testing::servers::{HttpConfig, Ports, Servers, ServersConfig};

/// A line-protocol client: sends a line, reads the reply lines up to one that starts
/// with `done`.
struct Client {
    reader: BufReader<TcpStream>,
    local: SocketAddr,
}

impl Client {
    async fn open(addr: SocketAddr, greeting: &str) -> Client {
        let stream = TcpStream::connect(addr).await.unwrap();
        let local = stream.local_addr().unwrap();
        let mut client = Client {
            reader: BufReader::new(stream),
            local,
        };
        client.read_until(greeting).await;
        client
    }

    async fn read_until(&mut self, done: &str) -> String {
        let mut all = String::new();
        loop {
            let mut line = String::new();
            let n = tokio::time::timeout(STEP, self.reader.read_line(&mut line))
                .await
                .unwrap()
                .unwrap();
            assert!(n > 0, "closed while waiting for {done:?}: {all}");
            all.push_str(&line);
            if line.starts_with(done) {
                return all;
            }
        }
    }

    async fn say(&mut self, line: &str, done: &str) -> String {
        self.reader
            .get_mut()
            .write_all(format!("{line}\r\n").as_bytes())
            .await
            .unwrap();
        self.read_until(done).await
    }
}

/// The session whose client was at `peer`, once it has ended.
async fn ended_session(http: SocketAddr, peer: SocketAddr) -> Value {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let sessions = get(http, "/api/v1/sessions").await.json();
        let found = sessions
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["Peer"] == peer.to_string())
            .cloned();
        if let Some(s) = found.filter(|s| !s["Ended"].is_null()) {
            return s;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no ended session from {peer}: {sessions}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn texts(session: &Value) -> Vec<String> {
    session["Lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| {
            format!(
                "{} {}",
                l["Direction"].as_str().unwrap(),
                l["Text"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test]
async fn each_protocols_dialogue_is_listed_with_its_peer_and_passwords_masked() {
    let server = MailServer::start().await.unwrap();
    let http = server.http_addr();

    let mut smtp = Client::open(server.smtp_addr(), "220 ").await;
    smtp.say("EHLO sessions.test", "250 ").await;
    // AUTH PLAIN with alice / secret as its initial response.
    smtp.say("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235 ").await;
    smtp.say("QUIT", "221 ").await;

    let mut pop = Client::open(server.pop_addr(), "+OK").await;
    pop.say("USER alice", "+OK").await;
    pop.say("PASS secret", "+OK").await;
    pop.say("QUIT", "+OK").await;

    let mut imap = Client::open(server.imap_addr(), "* OK").await;
    imap.say("a LOGIN alice secret", "a OK").await;
    imap.say("b LOGOUT", "b OK").await;

    let smtp_session = ended_session(http, smtp.local).await;
    assert_eq!(smtp_session["Protocol"], "smtp");
    assert!(smtp_session["ID"].as_str().unwrap().starts_with("smtp#"));
    let lines = texts(&smtp_session);
    assert_eq!(lines[0], "server 220 localhost yubin ESMTP ready");
    assert!(
        lines.contains(&"client EHLO sessions.test".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.contains(&"client AUTH PLAIN ****".to_owned()),
        "{lines:?}"
    );
    assert!(
        lines.iter().any(|l| l.starts_with("server 235 ")),
        "{lines:?}"
    );

    let pop_session = ended_session(http, pop.local).await;
    assert_eq!(pop_session["Protocol"], "pop3");
    let lines = texts(&pop_session);
    assert!(lines.contains(&"client USER alice".to_owned()), "{lines:?}");
    assert!(lines.contains(&"client PASS ****".to_owned()), "{lines:?}");

    let imap_session = ended_session(http, imap.local).await;
    assert_eq!(imap_session["Protocol"], "imap");
    let lines = texts(&imap_session);
    assert!(
        lines
            .iter()
            .any(|l| l.starts_with("client a LOGIN alice ****")),
        "{lines:?}"
    );

    let everything = get(http, "/api/v1/sessions").await.body;
    assert!(!everything.contains("secret"), "{everything}");
    assert!(!everything.contains("AGFsaWNlAHNlY3JldA"), "{everything}");
    server.stop().await;
}

#[tokio::test]
async fn each_new_line_is_a_session_event_on_the_stream() {
    let server = MailServer::start().await.unwrap();
    let mut events = Events::open(server.http_addr(), "/api/v1/events").await;

    let mut smtp = Client::open(server.smtp_addr(), "220 ").await;
    smtp.say("EHLO events.test", "250 ").await;
    smtp.say("AUTH PLAIN AGFsaWNlAHNlY3JldA==", "235 ").await;
    smtp.say("QUIT", "221 ").await;

    let seen = events.collect_until("session", "\"Text\":\"QUIT\"").await;
    let seen: Vec<Value> = seen
        .iter()
        .map(|d| serde_json::from_str(d).unwrap())
        .collect();
    let ehlo = seen
        .iter()
        .find(|e| e["Text"] == "EHLO events.test")
        .unwrap_or_else(|| panic!("no EHLO event in {seen:?}"));
    assert_eq!(ehlo["Direction"], "client");
    assert_eq!(ehlo["Protocol"], "smtp");
    assert_eq!(ehlo["Peer"], smtp.local.to_string());
    assert!(ehlo["ID"].as_str().unwrap().starts_with("smtp#"));
    assert!(
        seen.iter().any(|e| e["Text"] == "AUTH PLAIN ****"),
        "{seen:?}"
    );
    for event in &seen {
        let text = event["Text"].as_str().unwrap();
        assert!(!text.contains("AGFsaWNlAHNlY3JldA"), "{text}");
    }
    server.stop().await;
}

#[tokio::test]
async fn the_log_keeps_only_its_limits_of_sessions_and_lines() {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let log = SessionLog::new(SessionLimits {
        max_sessions: 2,
        max_lines: 4,
    });
    let config = ServersConfig {
        ports: Ports::any(),
        http: Some(HttpConfig {
            port: 0,
            ..HttpConfig::default()
        }),
        sessions: Some(log),
        ..ServersConfig::default()
    };
    let servers = Servers::start(store, config).await.unwrap();
    let http = servers.http_addr().unwrap();

    let mut peers = Vec::new();
    for n in 0..3 {
        let mut smtp = Client::open(servers.smtp_addr(), "220 ").await;
        for i in 0..5 {
            smtp.say(&format!("NOOP {n}.{i}"), "250 ").await;
        }
        smtp.say("QUIT", "221 ").await;
        peers.push(smtp.local);
    }
    let last = ended_session(http, peers[2]).await;
    let kept = get(http, "/api/v1/sessions").await.json();
    let kept = kept.as_array().unwrap();
    assert_eq!(kept.len(), 2, "{kept:?}");
    assert_eq!(
        kept[0]["Peer"],
        peers[1].to_string(),
        "the oldest was forgotten"
    );
    assert_eq!(kept[1]["Peer"], peers[2].to_string());
    // 1 greeting + 5 × 2 NOOP lines + 2 QUIT lines = 13 lines, of which the last 4 kept.
    let lines = texts(&last);
    assert_eq!(
        lines,
        [
            "client NOOP 2.4",
            "server 250 2.0.0 OK",
            "client QUIT",
            "server 221 2.0.0 localhost closing connection"
        ]
    );
    assert_eq!(last["LinesDropped"], 9);
    servers.stop().await;
}

#[tokio::test]
async fn a_flood_of_lines_is_throttled_and_the_rest_counted() {
    let store = Store::memory();
    store.add_account("alice", Secret::from("secret")).unwrap();
    let config = ServersConfig {
        ports: Ports::any(),
        http: Some(HttpConfig {
            port: 0,
            web: yubin_web::WebConfig {
                session_events_per_second: 3,
                ..yubin_web::WebConfig::default()
            },
        }),
        sessions: Some(SessionLog::default()),
        ..ServersConfig::default()
    };
    let servers = Servers::start(store, config).await.unwrap();
    let http = servers.http_addr().unwrap();
    let mut events = Events::open(http, "/api/v1/events").await;

    // 100 pipelined NOOPs: over 100 lines at once.
    let mut smtp = Client::open(servers.smtp_addr(), "220 ").await;
    let burst: String = (0..100).map(|i| format!("NOOP {i}\r\n")).collect();
    smtp.reader
        .get_mut()
        .write_all(burst.as_bytes())
        .await
        .unwrap();
    smtp.say("QUIT", "221 ").await;

    let deadline = tokio::time::Instant::now() + STEP;
    let mut shown = 0;
    let missed = loop {
        let (name, data) = events.next_before(deadline).await;
        match name.as_str() {
            "session" => shown += 1,
            "session-missed" => break serde_json::from_str::<Value>(&data).unwrap(),
            _ => {}
        }
    };
    let missed = missed["Missed"].as_u64().unwrap();
    assert!(missed > 0);
    // At most 3 a second: whatever the machine's pace, most lines were held back.
    assert!(shown < 100, "{shown} lines sent, {missed} missed");
    // The log has them all (the 100 replies, one batch, shortened as --trace shows it).
    let session = ended_session(http, smtp.local).await;
    let lines = texts(&session);
    assert!(lines.contains(&"client NOOP 99".to_owned()), "{lines:?}");
    assert!(lines.len() > 100, "{lines:?}");
    servers.stop().await;
}
