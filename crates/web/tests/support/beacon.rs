//! A tiny HTTP listener on loopback that plays the "remote" host of a hostile or
//! tracking message: every request it gets is recorded, so a test can assert that the
//! page fetched nothing (no remote image, no script's beacon), and, as the control, that
//! it does fetch once the user asks for remote images.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

/// A transparent 1×1 GIF, the usual tracking pixel.
const PIXEL: &[u8] = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff!\xf9\x04\x01\x00\x00\x00\x00,\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02D\x01\x00;";

/// The listener and what it has been asked for.
pub struct Beacon {
    addr: SocketAddr,
    hits: Arc<Mutex<Vec<String>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Beacon {
    /// Listens on a free loopback port.
    pub fn start() -> Beacon {
        let listener = TcpListener::bind("127.0.0.1:0").expect("beacon listener");
        let addr = listener.local_addr().expect("beacon address");
        let hits = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (hits, stop) = (hits.clone(), stop.clone());
            std::thread::spawn(move || {
                for conn in listener.incoming() {
                    if stop.load(Ordering::SeqCst) {
                        break;
                    }
                    let Ok(conn) = conn else { continue };
                    // A connection counts even if no request line follows: a browser
                    // that opened one had decided to fetch.
                    let line = request_line(&conn).unwrap_or_else(|| "(connection)".into());
                    hits.lock().unwrap().push(line);
                    let _ = respond(conn);
                }
            })
        };
        Beacon {
            addr,
            hits,
            stop,
            thread: Some(thread),
        }
    }

    /// `127.0.0.1:port`, to write into a message.
    pub fn host(&self) -> String {
        self.addr.to_string()
    }

    /// The request lines received so far (`GET /pixel.png HTTP/1.1`).
    pub fn hits(&self) -> Vec<String> {
        self.hits.lock().unwrap().clone()
    }
}

fn request_line(conn: &TcpStream) -> Option<String> {
    conn.set_read_timeout(Some(Duration::from_secs(2))).ok()?;
    let mut line = String::new();
    BufReader::new(conn).read_line(&mut line).ok()?;
    Some(line.trim_end().to_string())
}

fn respond(mut conn: TcpStream) -> std::io::Result<()> {
    // Headers are drained loosely: the answer matters less than the record.
    let head = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: image/gif\r\nContent-Length: {}\r\nAccess-Control-Allow-Origin: *\r\nConnection: close\r\n\r\n",
        PIXEL.len()
    );
    conn.write_all(head.as_bytes())?;
    conn.write_all(PIXEL)
}

impl Drop for Beacon {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accept loop so it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(500));
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
