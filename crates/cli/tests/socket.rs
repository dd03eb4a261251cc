//! `yubin socket ...` as a real process: the lesson's conversation line by line, the
//! concurrent server under 200 clients and a silent one (its lines labelled by client, a
//! client over its limit turned away), UDP with and without a server, errors in the
//! lesson's language, and graceful shutdown on SIGTERM. Every wait is bounded.

use std::io::{BufRead, BufReader, Read};
use std::net::{TcpListener, TcpStream, UdpSocket};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread;
use std::time::{Duration, Instant};

/// The longest any single step may take.
const STEP: Duration = Duration::from_secs(20);

fn yubin() -> Command {
    Command::new(assert_cmd::cargo::cargo_bin("yubin"))
}

/// A running `yubin` whose stdout lines arrive live; killed if still running when dropped.
struct Running {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Running {
    fn start(args: &[&str]) -> Running {
        let mut child = yubin()
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("yubin starts");
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Running { child, lines }
    }

    /// The next stdout line.
    fn line(&self) -> String {
        self.lines
            .recv_timeout(STEP)
            .expect("the server prints its next line in time")
    }

    /// Skips lines until one equal to `want`.
    fn wait_for(&self, want: &str) {
        while self.line() != want {}
    }

    fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success());
    }

    fn wait(&mut self) -> ExitStatus {
        wait_bounded(&mut self.child)
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn wait_bounded(child: &mut Child) -> ExitStatus {
    let deadline = Instant::now() + STEP;
    loop {
        if let Some(status) = child.try_wait().expect("try_wait") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("process did not exit within {STEP:?}");
        }
        thread::sleep(Duration::from_millis(10));
    }
}

/// What a finished `yubin` printed.
struct Finished {
    status: ExitStatus,
    stdout: Vec<String>,
    stderr: String,
}

/// Runs `yubin ARGS` to completion (bounded), collecting its output.
fn run(args: &[&str]) -> Finished {
    let mut child = yubin()
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("yubin starts");
    let mut stdout = child.stdout.take().unwrap();
    let mut stderr = child.stderr.take().unwrap();
    let out = thread::spawn(move || {
        let mut s = String::new();
        let _ = stdout.read_to_string(&mut s);
        s
    });
    let err = thread::spawn(move || {
        let mut s = String::new();
        let _ = stderr.read_to_string(&mut s);
        s
    });
    let status = wait_bounded(&mut child);
    Finished {
        status,
        stdout: out.join().unwrap().lines().map(str::to_owned).collect(),
        stderr: err.join().unwrap(),
    }
}

/// The port in "Server bound to port 12345" / "サーバーはポートNO. 12345 に...".
fn port_of(bound_line: &str) -> u16 {
    bound_line
        .split_whitespace()
        .find_map(|word| word.parse().ok())
        .unwrap_or_else(|| panic!("no port in {bound_line:?}"))
}

/// Checks `line` is `prefix` followed by `('127.0.0.1', N)` and returns N.
fn client_port(line: &str, prefix: &str) -> u16 {
    let port = line
        .strip_prefix(prefix)
        .and_then(|rest| rest.strip_prefix("('127.0.0.1', "))
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("not an address line: {line:?}"));
    let port: u16 = port
        .parse()
        .unwrap_or_else(|_| panic!("port is not a number: {line:?}"));
    assert_ne!(port, 0);
    port
}

/// A port nobody listens on: bind, note the port, let go.
fn free_tcp_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn once_conversation_in_japanese_word_for_word() {
    let mut server = Running::start(&["socket", "server", "--once", "--lang", "ja", "--port", "0"]);
    let bound = server.line();
    let port = port_of(&bound);
    assert_eq!(
        bound,
        format!("サーバーはポートNO. {port} にバインドされました")
    );
    assert_eq!(server.line(), "サーバーはクライアントをリスニング中です");

    let port_arg = port.to_string();
    let client = run(&["socket", "client", "--lang", "ja", "--port", &port_arg]);
    assert!(client.status.success(), "{}", client.stderr);
    assert_eq!(
        client.stdout,
        [
            "サーバーへ接続しました",
            "サーバーへデータを送信しました",
            "サーバーからの受信確認が返ってきました : サーバーです。データをしっかり受け取りました",
            "クライアントソケットを閉じました",
        ]
    );

    let peer_port = client_port(&server.line(), "クライアントのアドレスを受信しました : ");
    assert_ne!(peer_port, port);
    assert_eq!(
        server.line(),
        "クライアントからのデータを受信しました : こんにちはサーバーさん。私はクライアントです"
    );
    assert_eq!(server.line(), "コネクションは閉じられました");
    assert_eq!(server.line(), "サーバーソケットは閉じられました");
    assert!(server.wait().success());
}

#[test]
fn once_conversation_in_english_with_trace() {
    let mut server = Running::start(&["socket", "server", "--once", "--port", "0"]);
    let bound = server.line();
    let port = port_of(&bound);
    assert_eq!(bound, format!("Server bound to port {port}"));
    assert_eq!(server.line(), "Server is listening for clients");

    let port_arg = port.to_string();
    let client = run(&["--trace", "socket", "client", "--port", &port_arg]);
    assert!(client.status.success(), "{}", client.stderr);
    assert_eq!(
        client.stdout,
        [
            "Connected to the server",
            "Sent data to the server",
            "The server's acknowledgement came back : \
             This is the server. I received your data safely",
            "Closed the client socket",
        ]
    );
    // --trace shows the two lines on the wire, on stderr.
    assert!(
        client.stderr.contains("C: Hello server. I am the client"),
        "{}",
        client.stderr
    );
    assert!(
        client
            .stderr
            .contains("S: This is the server. I received your data safely"),
        "{}",
        client.stderr
    );

    client_port(&server.line(), "Received the client's address : ");
    assert_eq!(
        server.line(),
        "Received data from the client : Hello server. I am the client"
    );
    assert_eq!(server.line(), "Connection closed");
    assert_eq!(server.line(), "Server socket closed");
    assert!(server.wait().success());
}

#[test]
fn two_hundred_clients_at_once_while_one_stays_silent_then_sigterm() {
    let mut server = Running::start(&["socket", "server", "--port", "0"]);
    let port = port_of(&server.line());
    assert_eq!(server.line(), "Server is listening for clients");

    // Connects and never says a word: with the lesson's one-at-a-time server, everyone
    // behind it would wait.
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();

    let runtime = tokio::runtime::Runtime::new().unwrap();
    let acks = runtime.block_on(async move {
        use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
        let mut clients = tokio::task::JoinSet::new();
        for i in 0..200 {
            clients.spawn(async move {
                let stream = tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .expect("connects");
                let mut stream = BufReader::new(stream);
                stream
                    .get_mut()
                    .write_all(format!("client {i}\r\n").as_bytes())
                    .await
                    .expect("sends");
                let mut ack = String::new();
                stream.read_line(&mut ack).await.expect("receives");
                ack
            });
        }
        tokio::time::timeout(STEP, clients.join_all())
            .await
            .expect("all 200 clients answered in time")
    });
    assert_eq!(acks.len(), 200);
    for ack in &acks {
        assert_eq!(ack, "This is the server. I received your data safely\r\n");
    }

    // The silent client is still connected (its idle timeout is 30 s away). SIGTERM:
    // the server closes it, closes the server socket, says so, and exits 0.
    server.terminate();
    server.wait_for("Server socket closed");
    assert!(server.wait().success());
    silent.set_read_timeout(Some(STEP)).unwrap();
    let mut rest = Vec::new();
    silent
        .read_to_end(&mut rest)
        .expect("the silent client sees the connection closed");
    assert!(rest.is_empty());
}

#[test]
fn silent_client_is_dropped_after_the_idle_timeout() {
    let mut server = Running::start(&["socket", "server", "--port", "0", "--idle-timeout", "1"]);
    let port = port_of(&server.line());
    server.line();
    let mut silent = TcpStream::connect(("127.0.0.1", port)).unwrap();
    silent.set_read_timeout(Some(STEP)).unwrap();
    let mut rest = Vec::new();
    silent
        .read_to_end(&mut rest)
        .expect("closed by the server, not by our read timeout");
    assert!(rest.is_empty());
    client_port(
        &server.line(),
        "[client 1] Received the client's address : ",
    );
    let idle = server.line();
    assert!(
        idle.starts_with("[client 1] No data from ('127.0.0.1', ")
            && idle.ends_with(") within 1 s: closing the connection"),
        "{idle}"
    );
    assert_eq!(server.line(), "[client 1] Connection closed");
    server.terminate();
    assert_eq!(server.line(), "Server socket closed");
    assert!(server.wait().success());
}

#[test]
fn udp_client_gets_the_acknowledgement_from_a_udp_server() {
    let mut server = Running::start(&[
        "socket",
        "udp-server",
        "--once",
        "--port",
        "0",
        "--lang",
        "ja",
    ]);
    let port = port_of(&server.line());
    assert_eq!(
        server.line(),
        "サーバーはデータグラムを待っています（UDP には listen も accept もありません）"
    );
    let port_arg = port.to_string();
    let client = run(&["socket", "udp-client", "--port", &port_arg, "--lang", "ja"]);
    assert!(client.status.success(), "{}", client.stderr);
    assert_eq!(
        client.stdout,
        [
            "サーバーへデータグラムを送信しました（接続はしていません）",
            "サーバーからの受信確認が返ってきました : サーバーです。データをしっかり受け取りました",
            "クライアントソケットを閉じました",
        ]
    );
    client_port(&server.line(), "データグラムを受信しました。送信元 : ");
    assert_eq!(
        server.line(),
        "クライアントからのデータを受信しました : こんにちはサーバーさん。私はクライアントです"
    );
    assert_eq!(server.line(), "受信確認をデータグラムで送り返しました");
    assert_eq!(server.line(), "サーバーソケットは閉じられました");
    assert!(server.wait().success());
}

#[test]
fn udp_client_without_a_server_times_out_with_status_3() {
    // A bound socket that never answers: the datagram arrives, nobody replies.
    // (An unbound port behaves the same on Linux, but a port freed by us could be reused.)
    let deaf = UdpSocket::bind("127.0.0.1:0").unwrap();
    let port = deaf.local_addr().unwrap().port().to_string();
    let client = run(&[
        "socket",
        "udp-client",
        "--port",
        &port,
        "--timeout-ms",
        "300",
    ]);
    assert_eq!(client.status.code(), Some(3), "{}", client.stderr);
    assert_eq!(
        client.stdout,
        [
            "Sent a datagram to the server (no connection was made)",
            "No acknowledgement within 300 ms: UDP does not guarantee delivery, \
             and nobody may be listening",
            "Closed the client socket",
        ]
    );
}

#[test]
fn client_without_a_server_prints_one_error_line() {
    let port = free_tcp_port().to_string();
    let client = run(&["socket", "client", "--port", &port]);
    assert_eq!(client.status.code(), Some(1));
    assert!(client.stdout.is_empty(), "{:?}", client.stdout);
    assert_eq!(
        client.stderr.trim_end(),
        format!(
            "error: cannot connect to 127.0.0.1:{port}: Connection refused (is the server running?)"
        )
    );
}

#[test]
fn client_errors_follow_lang_ja() {
    let port = free_tcp_port().to_string();
    let client = run(&["socket", "client", "--lang", "ja", "--port", &port]);
    assert_eq!(client.status.code(), Some(1));
    assert!(client.stdout.is_empty(), "{:?}", client.stdout);
    assert_eq!(
        client.stderr.trim_end(),
        format!(
            "エラー: 127.0.0.1:{port} に接続できません : 接続を拒否されました\
             （サーバーは起動していますか？）"
        )
    );

    let client = run(&[
        "socket",
        "client",
        "--lang",
        "ja",
        "--message",
        "一行目\n二行目",
    ]);
    assert_eq!(client.status.code(), Some(1));
    assert_eq!(
        client.stderr.trim_end(),
        "エラー: メッセージは1行にしてください（CR や LF は使えません）"
    );
}

#[test]
fn concurrent_server_lines_say_which_client_they_belong_to() {
    let mut server = Running::start(&["socket", "server", "--port", "0"]);
    let port = port_of(&server.line());
    assert_eq!(server.line(), "Server is listening for clients");

    // Client 1 connects and waits; its address is on its first line.
    let mut first = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let first_port = first.local_addr().unwrap().port();
    assert_eq!(
        client_port(
            &server.line(),
            "[client 1] Received the client's address : "
        ),
        first_port
    );

    // Client 2 has its whole conversation while client 1 says nothing.
    let port_arg = port.to_string();
    let second = run(&[
        "socket",
        "client",
        "--port",
        &port_arg,
        "--message",
        "second",
    ]);
    assert!(second.status.success(), "{}", second.stderr);
    client_port(
        &server.line(),
        "[client 2] Received the client's address : ",
    );
    assert_eq!(
        server.line(),
        "[client 2] Received data from the client : second"
    );
    assert_eq!(server.line(), "[client 2] Connection closed");

    // Now client 1 speaks: its lines carry its own number.
    std::io::Write::write_all(&mut first, b"first\r\n").unwrap();
    first.set_read_timeout(Some(STEP)).unwrap();
    let mut ack = String::new();
    BufReader::new(&first).read_line(&mut ack).unwrap();
    assert_eq!(ack, "This is the server. I received your data safely\r\n");
    assert_eq!(
        server.line(),
        "[client 1] Received data from the client : first"
    );
    assert_eq!(server.line(), "[client 1] Connection closed");

    server.terminate();
    assert_eq!(server.line(), "Server socket closed");
    assert!(server.wait().success());
}

#[test]
fn client_over_max_connections_is_turned_away_logged_and_exits_1() {
    let mut server = Running::start(&["socket", "server", "--port", "0", "--max-connections", "1"]);
    let port = port_of(&server.line());
    server.line();
    // Client 1 takes the only place, and keeps it.
    let mut first = TcpStream::connect(("127.0.0.1", port)).unwrap();
    client_port(
        &server.line(),
        "[client 1] Received the client's address : ",
    );

    // Client 2 connects (the kernel accepts it), sends, and is told the server is busy.
    let port_arg = port.to_string();
    let turned_away = run(&["socket", "client", "--port", &port_arg]);
    assert_eq!(turned_away.status.code(), Some(1), "{}", turned_away.stderr);
    assert_eq!(
        turned_away.stdout,
        ["Connected to the server", "Sent data to the server"]
    );
    assert_eq!(
        turned_away.stderr.trim_end(),
        "error: the server is busy and refused the connection; please try again later"
    );
    let refused = server.line();
    let peer = refused
        .strip_prefix("[client 2] Too many clients (the limit is 1 at once): told ")
        .and_then(|rest| rest.strip_suffix(" the server is busy and closed the connection"));
    assert!(
        peer.is_some_and(|peer| peer.starts_with("('127.0.0.1', ")),
        "{refused}"
    );

    // The same in Japanese: the client knows the busy line whatever the server's language.
    let turned_away = run(&["socket", "client", "--port", &port_arg, "--lang", "ja"]);
    assert_eq!(turned_away.status.code(), Some(1), "{}", turned_away.stderr);
    assert_eq!(
        turned_away.stderr.trim_end(),
        "エラー: サーバーが混み合っていて、接続を断られました。しばらくしてからもう一度どうぞ"
    );
    assert!(
        server
            .line()
            .starts_with("[client 3] Too many clients (the limit is 1 at once): told "),
    );

    // Client 1 is still served.
    std::io::Write::write_all(&mut first, b"still here\r\n").unwrap();
    first.set_read_timeout(Some(STEP)).unwrap();
    let mut ack = String::new();
    BufReader::new(&first).read_line(&mut ack).unwrap();
    assert_eq!(ack, "This is the server. I received your data safely\r\n");
    assert_eq!(
        server.line(),
        "[client 1] Received data from the client : still here"
    );
    server.terminate();
    server.wait_for("Server socket closed");
    assert!(server.wait().success());
}
