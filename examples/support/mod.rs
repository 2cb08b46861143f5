//! What the benches that drive the release `portcullis` share: a server started with
//! `init` and `serve` in a directory of their own, its API, processes killed when
//! dropped, and percentiles.
#![allow(dead_code)]

use std::fs::File;
use std::io::{BufRead as _, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A child process killed when dropped.
pub struct Killed(pub Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Runs `command`; its output, or a panic that shows what it printed.
pub fn run(command: &mut Command) -> std::process::Output {
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{command:?}: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    output
}

/// `portcullis serve` on loopback over a state directory `init` made, with an
/// administrator's API token.
pub struct Server {
    pub dir: PathBuf,
    pub portcullis: PathBuf,
    pub url: String,
    pub token: String,
    pub process: Killed,
    pub http: ureq::Agent,
    /// From starting `serve` until it listened.
    pub started_in: Duration,
}

impl Server {
    /// The command line, without the environment that would point it elsewhere.
    pub fn cli(portcullis: &Path) -> Command {
        let mut command = Command::new(portcullis);
        for name in [
            "PORTCULLIS_STATE",
            "PORTCULLIS_SERVER",
            "PORTCULLIS_TOKEN",
            "PORTCULLIS_AGENT_CONFIG",
        ] {
            command.env_remove(name);
        }
        command
    }

    /// `portcullis init` with `bundle` into `dir/state` (administrator `root`), then
    /// `serve` on a free loopback port, and a token for `root`.
    pub fn start(portcullis: &Path, dir: &Path, bundle: &Path) -> Server {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("root.pass"), "correct horse battery staple\n").unwrap();
        run(Self::cli(portcullis)
            .args(["init", "--admin", "root", "--name", "Root", "--state"])
            .arg(dir.join("state"))
            .arg("--bundle")
            .arg(bundle)
            .arg("--password-file")
            .arg(dir.join("root.pass")));
        let log = File::create(dir.join("serve.log")).unwrap();
        let started = Instant::now();
        let mut child = Self::cli(portcullis)
            .args(["serve", "--listen", "127.0.0.1:0", "--state"])
            .arg(dir.join("state"))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .unwrap();
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let started_in = started.elapsed();
        let process = Killed(child);
        let url = line
            .trim()
            .strip_prefix("listening on ")
            .unwrap_or_else(|| panic!("the server said {line:?}"))
            .to_owned();
        run(Self::cli(portcullis)
            .args(["token", "create", "--admin", "root", "--name", "bench"])
            .arg("--server")
            .arg(&url)
            .arg("--password-file")
            .arg(dir.join("root.pass"))
            .arg("--out")
            .arg(dir.join("root.token")));
        let token = std::fs::read_to_string(dir.join("root.token"))
            .unwrap()
            .trim()
            .to_owned();
        Server {
            dir: dir.to_owned(),
            portcullis: portcullis.to_owned(),
            url,
            token,
            process,
            http: ureq::Agent::config_builder()
                .http_status_as_error(false)
                .build()
                .into(),
            started_in,
        }
    }

    /// Calls `/api/v1{path}` with `bearer`; the status and the JSON answered (null when
    /// it is not JSON).
    pub fn call(
        &self,
        method: &str,
        path: &str,
        bearer: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let request = ureq::http::Request::builder()
            .method(method)
            .uri(format!("{}/api/v1{path}", self.url))
            .header("Authorization", format!("Bearer {bearer}"))
            .header("Content-Type", "application/json")
            .body(body.map(|b| b.to_string()).unwrap_or_default())
            .unwrap();
        let mut response = self.http.run(request).unwrap();
        let status = response.status().as_u16();
        let bytes = response
            .body_mut()
            .with_config()
            .limit(1 << 30)
            .read_to_vec()
            .unwrap();
        (
            status,
            serde_json::from_slice(&bytes).unwrap_or(Value::Null),
        )
    }

    /// As [`Server::call`], as `root`.
    pub fn api(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.call(method, path, &self.token, body)
    }

    /// The server's process id.
    pub fn pid(&self) -> u32 {
        self.process.0.id()
    }
}

/// A line of `/proc/PID/status` in bytes (`VmRSS`, `VmHWM`).
pub fn memory(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().strip_suffix("kB"))
        .and_then(|v| v.trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// Microseconds, sorted.
pub struct Sample(pub Vec<f64>);

impl Sample {
    pub fn of(durations: &[Duration]) -> Sample {
        Sample::from_micros(durations.iter().map(|d| d.as_secs_f64() * 1e6).collect())
    }

    pub fn from_micros(mut values: Vec<f64>) -> Sample {
        values.sort_by(f64::total_cmp);
        Sample(values)
    }

    pub fn at(&self, p: f64) -> f64 {
        let last = self.0.len().saturating_sub(1);
        let index = ((last as f64) * p).round() as usize;
        self.0.get(index.min(last)).copied().unwrap_or(f64::NAN)
    }

    pub fn line(&self, unit: f64, name: &str) -> String {
        format!(
            "n={} p50={:.2} p90={:.2} p99={:.2} max={:.2} {name}",
            self.0.len(),
            self.at(0.5) / unit,
            self.at(0.9) / unit,
            self.at(0.99) / unit,
            self.at(1.0) / unit
        )
    }
}
