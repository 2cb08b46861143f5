//! Real servers on loopback for the notification tests: an SMTP server (aiosmtpd,
//! writing a maildir) and an HTTP server standing in for an SMS gateway.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// A free port on loopback (bound, then released).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn wait_for(port: u16) {
    let start = Instant::now();
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "the server on port {port} did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `python3 -m aiosmtpd` with the Mailbox handler: every message it accepts is a file
/// in `maildir/new`.
pub struct SmtpServer {
    child: Child,
    maildir: PathBuf,
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
}

/// An aiosmtpd server whose Mailbox handler waits before it accepts each message's data.
const SLOW_SMTP: &str = r#"
import asyncio, sys, time
from aiosmtpd.controller import Controller
from aiosmtpd.handlers import Mailbox

class Slow(Mailbox):
    async def handle_DATA(self, server, session, envelope):
        await asyncio.sleep(float(sys.argv[3]))
        return await super().handle_DATA(server, session, envelope)

Controller(Slow(sys.argv[2]), hostname="127.0.0.1", port=int(sys.argv[1])).start()
while True:
    time.sleep(3600)
"#;

impl SmtpServer {
    /// A server on `port` whose maildir is under `dir`.
    pub fn start(port: u16, dir: &Path) -> SmtpServer {
        Self::spawn(port, dir, None)
    }

    /// A server that takes `delay` to accept each message.
    pub fn start_slow(port: u16, dir: &Path, delay: Duration) -> SmtpServer {
        Self::spawn(port, dir, Some(delay))
    }

    fn spawn(port: u16, dir: &Path, delay: Option<Duration>) -> SmtpServer {
        let maildir = dir.join(format!("maildir-{port}"));
        for sub in ["tmp", "new", "cur"] {
            std::fs::create_dir_all(maildir.join(sub)).unwrap();
        }
        let mut command = Command::new("python3");
        match delay {
            None => {
                command
                    .args(["-m", "aiosmtpd", "-n", "-l"])
                    .arg(format!("127.0.0.1:{port}"))
                    .args(["-c", "aiosmtpd.handlers.Mailbox"])
                    .arg(&maildir);
            }
            Some(delay) => {
                command
                    .args(["-c", SLOW_SMTP, &port.to_string()])
                    .arg(&maildir)
                    .arg(delay.as_secs_f64().to_string());
            }
        }
        let child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("python3 with aiosmtpd is needed (scripts/test installs it)");
        let mut server = SmtpServer {
            child,
            maildir,
            port,
        };
        let start = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            if let Ok(Some(status)) = server.child.try_wait() {
                panic!("aiosmtpd exited ({status}); `pip install aiosmtpd` (scripts/test does)");
            }
            assert!(
                start.elapsed() < Duration::from_secs(20),
                "aiosmtpd did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
        server
    }

    /// Every message received: (recipients, subject, body).
    pub fn messages(&self) -> Vec<Mail> {
        let mut out: Vec<Mail> = std::fs::read_dir(self.maildir.join("new"))
            .unwrap()
            .map(|entry| Mail::parse(&std::fs::read_to_string(entry.unwrap().path()).unwrap()))
            .collect();
        out.sort_by(|a, b| a.to.cmp(&b.to));
        out
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One received message.
#[derive(Debug, Clone)]
pub struct Mail {
    /// The `To` header.
    pub to: String,
    /// The `From` header.
    pub from: String,
    /// The `Subject` header.
    pub subject: String,
    /// The body, decoded from quoted-printable.
    pub body: String,
}

impl Mail {
    fn parse(text: &str) -> Mail {
        let text = text.replace("\r\n", "\n");
        let (head, body) = text.split_once("\n\n").unwrap_or((&text, ""));
        // Unfold continuation lines.
        let head = head.replace("\n ", " ").replace("\n\t", " ");
        let header = |name: &str| {
            head.lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
                .unwrap_or_default()
        };
        let quoted = header("Content-Transfer-Encoding").eq_ignore_ascii_case("quoted-printable");
        let body = if quoted {
            decode_quoted_printable(body)
        } else {
            body.to_owned()
        };
        Mail {
            to: header("To"),
            from: header("From"),
            subject: header("Subject"),
            body,
        }
    }
}

fn decode_quoted_printable(text: &str) -> String {
    let joined = text.replace("=\n", "");
    let bytes = joined.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'=' {
            if let Some(hex) = joined.get(i + 1..i + 3) {
                if let Ok(byte) = u8::from_str_radix(hex, 16) {
                    out.push(byte);
                    i += 3;
                    continue;
                }
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// An HTTP server that records every request's body and answers `status`.
pub struct HttpServer {
    /// The port it listens on, on 127.0.0.1.
    pub port: u16,
    /// Every request received.
    pub requests: Arc<Mutex<Vec<HttpRequest>>>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

/// One request the gateway received.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// The method.
    pub method: String,
    /// The path and query.
    pub path: String,
    /// The headers, in order.
    pub headers: Vec<(String, String)>,
    /// The body, as text.
    pub body: String,
}

impl HttpRequest {
    /// A form field of the body, decoded.
    pub fn form(&self, name: &str) -> Option<String> {
        self.body.split('&').find_map(|pair| {
            let (k, v) = pair.split_once('=')?;
            (k == name).then(|| decode_form(v))
        })
    }
}

fn decode_form(value: &str) -> String {
    let value = value.replace('+', " ");
    let bytes = value.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            if let Some(byte) = value
                .get(i + 1..i + 3)
                .and_then(|h| u8::from_str_radix(h, 16).ok())
            {
                out.push(byte);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

impl HttpServer {
    /// A server on `port` that answers every request with `status`.
    pub fn start(port: u16, status: u16) -> HttpServer {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        listener.set_nonblocking(true).unwrap();
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let (seen, halt) = (requests.clone(), stop.clone());
        let thread = std::thread::spawn(move || {
            while !halt.load(Ordering::SeqCst) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        if let Some(request) = serve(stream, status) {
                            seen.lock().unwrap().push(request);
                        }
                    }
                    Err(_) => std::thread::sleep(Duration::from_millis(10)),
                }
            }
        });
        wait_for(port);
        HttpServer {
            port,
            requests,
            stop,
            thread: Some(thread),
        }
    }

    /// The requests received so far.
    pub fn received(&self) -> Vec<HttpRequest> {
        self.requests.lock().unwrap().clone()
    }
}

fn serve(stream: TcpStream, status: u16) -> Option<HttpRequest> {
    stream.set_nonblocking(false).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    let mut reader = BufReader::new(stream.try_clone().ok()?);
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_owned();
    let path = parts.next()?.to_owned();
    let mut headers = Vec::new();
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                length = v.trim().parse().ok()?;
            }
            headers.push((k.trim().to_owned(), v.trim().to_owned()));
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    let mut stream = stream;
    let reply = format!(
        "HTTP/1.1 {status} X\r\nContent-Type: application/json\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    );
    stream.write_all(reply.as_bytes()).ok()?;
    Some(HttpRequest {
        method,
        path,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

impl Drop for HttpServer {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}
