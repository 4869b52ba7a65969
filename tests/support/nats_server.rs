//! A real `nats-server -js` per test, on a free loopback port, with a temporary store.
//!
//! * The binary: `$NATS_SERVER`, else `nats-server` on `PATH`, else `/usr/sbin/nats-server` (where
//!   Debian's package puts it, off a non-root `PATH`). If none exists and the tests run as
//!   root, it is installed with `apt-get install -y nats-server` (one install at a time across
//!   parallel test processes: an exclusive lock file). Otherwise the test fails with a message
//!   saying how to get it: a missing server is never a silent skip.
//! * The port: `-p -1` lets the server pick a free one, and the harness reads it from the
//!   server's log (`Listening for client connections on 127.0.0.1:PORT`, on stderr) before
//!   `Server is ready`: nothing picks a port in advance, so nothing can race for it.
//! * Stop: by PID, `nats-server --signal quit=<pid>`, then `kill` if it has not exited within
//!   2 s; in `Drop`, so a failing test stops its server too. [`NatsServer::kill`] is `kill -9`,
//!   and [`NatsServer::restart`] starts a new server on the same port and store.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// How long a server may take to say it is ready.
const READY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long an install by another process may take.
const INSTALL_TIMEOUT: Duration = Duration::from_secs(600);

/// A running server; stopped when dropped.
pub struct NatsServer {
    child: Option<Child>,
    port: u16,
    store: tempfile::TempDir,
    bin: PathBuf,
}

impl NatsServer {
    /// Starts a server on a free port with a fresh store. Panics (failing the test) with a
    /// clear message if no server can be found or installed.
    pub fn start() -> Self {
        let bin = find_or_install();
        let store = tempfile::tempdir().expect("a temporary directory for the NATS store");
        let (child, port) = spawn(&bin, store.path(), None);
        Self {
            child: Some(child),
            port,
            store,
            bin,
        }
    }

    /// `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// The server's PID.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("the server is running").id()
    }

    /// `kill -9` of the server (no clean shutdown); [`restart`](Self::restart) brings it back.
    pub fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// Starts the server again on the same port with the same store (after [`kill`](Self::kill)).
    pub fn restart(&mut self) {
        assert!(self.child.is_none(), "restart after kill");
        let (child, port) = spawn(&self.bin, self.store.path(), Some(self.port));
        assert_eq!(port, self.port);
        self.child = Some(child);
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let Some(mut child) = self.child.take() else {
            return;
        };
        let _ = Command::new(&self.bin)
            .arg("--signal")
            .arg(format!("quit={}", child.id()))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        // Waiting for another process to exit: a bounded poll is the only portable way
        // without libc.
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

/// Spawns a server and waits until its log says it is ready; returns it and its port.
fn spawn(bin: &Path, store: &Path, port: Option<u16>) -> (Child, u16) {
    let mut child = Command::new(bin)
        .args(["-js", "-a", "127.0.0.1", "-p"])
        .arg(port.map_or("-1".to_owned(), |p| p.to_string()))
        .arg("-sd")
        .arg(store)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", bin.display()));
    let stderr = child.stderr.take().expect("piped stderr");
    let (tx, rx) = mpsc::channel::<String>();
    // Reads the log for as long as the server runs (a full pipe would stall it).
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    let deadline = Instant::now() + READY_TIMEOUT;
    let mut found = None;
    let mut log = Vec::new();
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                if let Some(rest) = line.split("Listening for client connections on ").nth(1) {
                    found = rest.trim().rsplit(':').next().and_then(|p| p.parse().ok());
                }
                let ready = line.contains("Server is ready");
                log.push(line);
                if ready {
                    break;
                }
            }
            Err(_) => {
                let _ = child.kill();
                panic!(
                    "nats-server ({}) did not become ready within {READY_TIMEOUT:?}; its log:\n{}",
                    bin.display(),
                    log.join("\n")
                );
            }
        }
    }
    let port = found.unwrap_or_else(|| {
        let _ = child.kill();
        panic!("no client port in nats-server's log:\n{}", log.join("\n"))
    });
    (child, port)
}

/// Finds the server binary, installing it if needed and possible (see the module docs).
fn find_or_install() -> PathBuf {
    static INSTALL: Mutex<()> = Mutex::new(());
    if let Some(b) = find() {
        return b;
    }
    let _one = INSTALL.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(b) = find() {
        return b;
    }
    if !is_root() {
        panic!(
            "nats-server not found ($NATS_SERVER, PATH, /usr/sbin) and not running as root to \
             install it: run `apt-get install nats-server` (Debian/Ubuntu), or set NATS_SERVER \
             to a nats-server binary (2.9 or later)"
        );
    }
    install();
    find()
        .unwrap_or_else(|| panic!("`apt-get install nats-server` ran but no nats-server was found"))
}

fn find() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("NATS_SERVER") {
        let p = PathBuf::from(p);
        assert!(p.is_file(), "NATS_SERVER={} is not a file", p.display());
        return Some(p);
    }
    let on_path = std::env::var_os("PATH")
        .map(|path| std::env::split_paths(&path).collect::<Vec<_>>())
        .unwrap_or_default();
    on_path
        .into_iter()
        .chain([PathBuf::from("/usr/sbin"), PathBuf::from("/usr/local/bin")])
        .map(|d| d.join("nats-server"))
        .find(|p| p.is_file())
}

fn is_root() -> bool {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("Uid:"))
                .map(|l| l.split_whitespace().nth(1) == Some("0"))
        })
        .unwrap_or(false)
}

/// `apt-get install -y nats-server`, one process at a time: the process that creates the lock
/// file installs, the others wait for the binary (or for the lock to go away).
fn install() {
    let lock = std::env::temp_dir().join("segmq-nats-server-install.lock");
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&lock)
    {
        Ok(_) => {
            let result = apt_install();
            let _ = std::fs::remove_file(&lock);
            if let Err(e) = result {
                panic!("installing nats-server failed: {e}");
            }
        }
        Err(_) => {
            // Another test process installs: wait for it (its clock, not ours).
            let deadline = Instant::now() + INSTALL_TIMEOUT;
            while lock.exists() && find().is_none() {
                assert!(
                    Instant::now() < deadline,
                    "waited {INSTALL_TIMEOUT:?} for another process to install nats-server \
                     (remove {} if it is stale)",
                    lock.display()
                );
                std::thread::sleep(Duration::from_millis(200));
            }
        }
    }
}

fn apt_install() -> Result<(), String> {
    eprintln!("nats-server not found: installing it with apt-get (Debian package nats-server)");
    let run = |args: &[&str]| -> Result<(), String> {
        let out = Command::new("apt-get")
            .args(args)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .output()
            .map_err(|e| format!("cannot run apt-get: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "apt-get {} failed: {}",
                args.join(" "),
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    };
    // The package lists may be missing (fresh container): update first.
    run(&["update", "-qq"])?;
    run(&["install", "-y", "-qq", "nats-server"])
}
