//! Privacy and network surface of the real `gestaltcam run`, end to end: a full session (replay
//! camera with distinctively named photos, PNG panel, keys on stdin, a gallery file built by
//! `gestaltcam gallery build`, debug logging) under `strace -f`.
//!
//! - Saving disabled: no file is created, truncated, renamed, linked, removed or written
//!   anywhere except the configured PNG screen's folder; the screen PNG is a UI screen (panel
//!   size, the UI palette's few colours: no camera picture).
//! - Saving enabled: files only in the screen folder and the configured capture folder, the
//!   captures 0600 in a 0700 folder.
//! - The state folder: the last good gallery, the device key and the per-day counters; the
//!   counters and the usage report made from them (`gestaltcam report`) name no photo, label
//!   or candidate and hold no embedding, score or time finer than a day.
//! - The log (stderr, debug level) names no replayed photo and holds no embedding-like vector.
//! - Network: no bind/listen/accept/connect except the systemd notification datagram (only
//!   with `NOTIFY_SOCKET`), no AF_INET/AF_INET6 socket; while the device runs, none of its
//!   sockets is in /proc/net/{tcp,tcp6,udp,udp6,raw,raw6,unix} as listening or bound.
//!
//! Needs `strace` (CI installs it): without it these tests fail, they do not skip.

use std::collections::{HashMap, HashSet};
use std::io::{BufRead, BufReader, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::common;
use gestaltcam::counters::{key, store};

const BIN: &str = env!("CARGO_BIN_EXE_gestaltcam");
const ROOT: &str = env!("CARGO_MANIFEST_DIR");
/// The replayed "patient" photos: names that must never show up in a log.
const PHOTO_NAMES: [&str; 2] = [
    "zq7-patient-fieldcase-front.jpg",
    "zq7-patient-fieldcase-left.jpg",
];
const STEP: Duration = Duration::from_secs(60);
/// The gallery's labels (what a result screen names).
const LABELS: [&str; 3] = ["Person one", "Person two", "Person three"];

/// What must never be in the counters or the report: the photos' names and the labels.
fn patient_words() -> Vec<String> {
    let stems = PHOTO_NAMES.map(|n| n.trim_end_matches(".jpg").to_string());
    stems.into_iter().chain(LABELS.map(String::from)).collect()
}

fn strace() -> &'static str {
    let ok = Command::new("strace")
        .arg("-V")
        .output()
        .is_ok_and(|o| o.status.success());
    assert!(
        ok,
        "strace is needed for the privacy and network tests and was not found on PATH \
         (Debian: apt-get install strace); these tests do not skip without it"
    );
    "strace"
}

/// A temporary device: config, gallery, replayed photos, screen and capture folders.
struct Rig {
    tmp: tempfile::TempDir,
    config: PathBuf,
    screen_dir: PathBuf,
    captures: PathBuf,
    /// `state_dir`: the last good copy of the gallery (reference data, not patient data).
    state: PathBuf,
    gallery: PathBuf,
}

impl Rig {
    fn new(saving: bool) -> Rig {
        let tmp = tempfile::tempdir().expect("tempdir");
        let root = tmp.path().canonicalize().expect("canonical tempdir");
        let fixtures = Path::new(ROOT).join("tests/fixtures/photos");
        let replay = root.join("replay");
        std::fs::create_dir(&replay).expect("mkdir replay");
        for (src, name) in ["obama2.jpg", "obama3.jpg"].iter().zip(PHOTO_NAMES) {
            std::fs::copy(fixtures.join(src), replay.join(name)).expect("copy photo");
        }
        // A real gallery file, built by the program.
        let labels = root.join("labels.csv");
        std::fs::write(
            &labels,
            "image,label\nobama.jpg,Person one\nbiden.jpg,Person two\nastronaut.png,Person three\n",
        )
        .expect("labels");
        let gallery = root.join("gallery.gcg");
        let out = Command::new(BIN)
            .args([
                "gallery",
                "build",
                "--quiet",
                "--no-flip-tta",
                "--name",
                "privacy-test",
            ])
            .arg("--images")
            .arg(&fixtures)
            .arg("--labels")
            .arg(&labels)
            .arg("--out")
            .arg(&gallery)
            .current_dir(&root)
            .output()
            .expect("run gallery build");
        assert!(
            out.status.success(),
            "gallery build: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let screen_dir = root.join("screen");
        std::fs::create_dir(&screen_dir).expect("mkdir screen");
        let captures = root.join("captures");
        let state = root.join("state");
        let config = root.join("config.toml");
        std::fs::write(
            &config,
            format!(
                "models_dir = \"{ROOT}/models\"\n\
                 gallery = \"{}\"\n\
                 photos_per_patient = 2\n\
                 flip_tta = false\n\
                 idle_timeout_s = 0\n\
                 log_level = \"debug\"\n\
                 state_dir = \"{}\"\n\
                 [camera]\nreplay = \"{}\"\nfps = 30\n\
                 [display]\npanel = \"png\"\npng_path = \"{}\"\n\
                 [saving]\nenabled = {saving}\ndirectory = \"{}\"\n",
                gallery.display(),
                state.display(),
                replay.display(),
                screen_dir.join("screen.png").display(),
                captures.display()
            ),
        )
        .expect("config");
        Rig {
            tmp,
            config,
            screen_dir,
            captures,
            state,
            gallery,
        }
    }

    /// The state folder holds the last good gallery (a byte copy of the configured one and the
    /// `last-good` pointer naming it), the device key and the counters; the counters, and the
    /// report `gestaltcam report` makes of them, hold no patient data and count the session.
    fn assert_state_is_gallery_copy(&self) {
        let gallery = std::fs::read(&self.gallery).expect("read gallery");
        let mut files = common::files_under(&self.state);
        files.sort();
        let own = [store::COUNTERS_FILE, key::SECRET_FILE, key::PUBLIC_FILE];
        for name in own {
            assert!(
                files.contains(&self.state.join(name)),
                "{files:?} lacks {name}"
            );
        }
        files.retain(|f| !own.iter().any(|n| f.ends_with(n)));
        // Beside it, at most the clock's last trusted time: one time, nothing of the patient.
        let clock = self.state.join(gestaltcam::clock::store::FILE);
        if let Ok(t) = std::fs::read_to_string(&clock) {
            assert!(gestaltcam::clock::parse_rfc3339(t.trim()).is_ok(), "{t:?}");
        }
        files.retain(|f| f != &clock);
        assert_eq!(files.len(), 2, "state folder: {files:?}");
        let pointer = std::fs::read_to_string(self.state.join("last-good")).expect("last-good");
        let copy = self.state.join(pointer.trim());
        assert!(files.contains(&copy), "{files:?} lacks {}", copy.display());
        assert!(
            std::fs::read(&copy).expect("read copy") == gallery,
            "copy differs"
        );
        self.assert_counted_without_patient_data();
    }

    /// The counters after one full session (two photos), and the signed report of them.
    fn assert_counted_without_patient_data(&self) {
        let words = patient_words();
        let words: Vec<&str> = words.iter().map(String::as_str).collect();
        let text = std::fs::read_to_string(store::counters_path(&self.state)).expect("counters");
        common::assert_no_patient_data("counters", &text, &words);
        let counters = store::read(&store::counters_path(&self.state)).expect("counters");
        // One day: the trusted date of this machine's clock, or `undated` where it cannot be
        // trusted.
        let days: Vec<_> = counters.days.iter().collect();
        assert_eq!(days.len(), 1, "{days:?}");
        let (name, day) = days[0];
        assert!(
            name == gestaltcam::counters::UNDATED
                || (name.len() == 10 && name.starts_with("20") && name.as_bytes()[4] == b'-'),
            "{name}"
        );
        assert_eq!((day.sessions, day.photos, day.starts), (1, 2, 1), "{day:?}");
        let out = self.root().join("usage-report.json");
        let (ok, _, stderr) = common::run_gestaltcam(
            &[
                "report",
                "--out",
                out.to_str().expect("utf-8"),
                "--config",
                self.config.to_str().expect("utf-8"),
            ],
            &self.root(),
        );
        assert!(ok, "gestaltcam report: {stderr}");
        let report = std::fs::read_to_string(&out).expect("report");
        common::assert_no_patient_data("report", &report, &words);
        let public =
            gestaltcam::gallery::sign::read_verifying_key(&self.state.join(key::PUBLIC_FILE));
        gestaltcam::counters::report::verify(&out, &public.expect("public key")).expect("verifies");
        std::fs::remove_file(&out).expect("rm report");
        std::fs::remove_file(gestaltcam::counters::report::sig_path(&out)).expect("rm sig");
    }

    fn root(&self) -> PathBuf {
        self.tmp.path().canonicalize().expect("canonical tempdir")
    }
}

/// A running `gestaltcam run` under strace, driven through stdin while its debug log says what
/// is on screen.
struct Session {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: Receiver<String>,
    log: Vec<String>,
}

impl Session {
    fn start(rig: &Rig, trace: &str, trace_log: &Path, env: &[(&str, &Path)]) -> Session {
        let mut cmd = Command::new(strace());
        cmd.args(["-f", "-qq", "-y", "-s", "64", "-e"])
            .arg(format!("trace={trace}"))
            .arg("-o")
            .arg(trace_log)
            .arg("--")
            .arg(BIN)
            .arg("run")
            .arg("--config")
            .arg(&rig.config)
            .current_dir(rig.root())
            .env("RUST_LOG", "debug")
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("spawn strace");
        let stdin = child.stdin.take();
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Session {
            child,
            stdin,
            lines,
            log: Vec::new(),
        }
    }

    /// Reads the log until a line contains `what`.
    fn wait_for(&mut self, what: &str) {
        let deadline = Instant::now() + STEP;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    let hit = line.contains(what);
                    self.log.push(line);
                    if hit {
                        return;
                    }
                }
                Err(_) => {
                    let _ = self.child.kill();
                    panic!(
                        "no `{what}` in the log within {STEP:?}:\n{}",
                        self.log.join("\n")
                    );
                }
            }
        }
    }

    fn press(&mut self, key: &str) {
        let stdin = self.stdin.as_mut().expect("stdin open");
        writeln!(stdin, "{key}").expect("write key");
        stdin.flush().expect("flush key");
    }

    /// A full session: two photos, results, clear; then stdin closes and the device stops.
    fn full_session(&mut self, mut at_results: impl FnMut(&Child)) -> String {
        self.wait_for("screen: preview: Ready");
        self.press("c");
        self.wait_for("screen: capturing photo 1 of 2");
        self.wait_for("screen: preview: Ready - press capture [1/2");
        self.press("c");
        self.wait_for("screen: capturing photo 2 of 2");
        self.wait_for("screen: results page 1");
        at_results(&self.child);
        self.press("x");
        self.wait_for("screen: preview");
        self.stdin = None; // end of input ends the replayed session
        let deadline = Instant::now() + STEP;
        let status = loop {
            if let Some(s) = self.child.try_wait().expect("wait") {
                break s;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("the device did not stop at end of input");
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.log.push(line);
        }
        let log = self.log.join("\n");
        assert!(status.success(), "gestaltcam run failed ({status}):\n{log}");
        assert!(log.contains("stdin closed"), "{log}");
        log
    }
}

/// The log names no replayed photo and carries no vector of numbers.
fn assert_clean_log(log: &str, saved: &[PathBuf]) {
    for name in PHOTO_NAMES {
        let stem = name.trim_end_matches(".jpg");
        assert!(
            !log.contains(stem),
            "the log names the photo {name}:\n{log}"
        );
    }
    for p in saved {
        let name = p.file_name().and_then(|n| n.to_str()).expect("file name");
        assert!(
            !log.contains(name),
            "the log names the capture {name}:\n{log}"
        );
    }
    for line in log.lines() {
        let decimals = line
            .split(|c: char| !(c.is_ascii_digit() || c == '.' || c == '-' || c == 'e'))
            .filter(|t| t.contains('.') && t.parse::<f64>().is_ok())
            .count();
        assert!(
            decimals < 8,
            "a log line with {decimals} decimal numbers (an embedding?): {line}"
        );
    }
}

/// One traced system call, with `<unfinished ...>` / `<... resumed>` halves joined.
fn syscalls(trace: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(trace).expect("read the strace log");
    let mut pending: HashMap<String, String> = HashMap::new();
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((pid, rest)) = line.split_once(' ') else {
            continue;
        };
        let rest = rest.trim_start();
        if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid.to_string(), head.trim_end().to_string());
        } else if rest.starts_with("<...") {
            let tail = rest.split_once("resumed>").map_or("", |(_, t)| t);
            let head = pending.remove(pid).unwrap_or_default();
            out.push(format!("{head}{tail}"));
        } else if !rest.starts_with("+++") && !rest.starts_with("---") {
            out.push(rest.to_string());
        }
    }
    out
}

/// Quoted strings and `<...>` descriptor decorations (`-y`) of a call's arguments, in order.
#[derive(Debug, PartialEq)]
enum Arg {
    Quoted(String),
    Fd(String),
}

fn args_of(call: &str) -> Vec<Arg> {
    let args = call.rsplit_once(" = ").map_or(call, |(a, _)| a);
    let mut out = Vec::new();
    let mut rest = args;
    while let Some(i) = rest.find(['"', '<']) {
        let quoted = rest.as_bytes()[i] == b'"';
        let after = &rest[i + 1..];
        let Some(j) = after.find(if quoted { '"' } else { '>' }) else {
            break;
        };
        let v = after[..j].to_string();
        out.push(if quoted { Arg::Quoted(v) } else { Arg::Fd(v) });
        rest = &after[j + 1..];
    }
    out
}

/// Path arguments, made absolute against the directory descriptor before them (or the cwd).
fn path_args(call: &str, cwd: &Path) -> Vec<PathBuf> {
    let mut dir = cwd.to_path_buf();
    let mut out = Vec::new();
    for a in args_of(call) {
        match a {
            Arg::Fd(d) if d.starts_with('/') => dir = PathBuf::from(d),
            Arg::Fd(_) => {}
            Arg::Quoted(p) => out.push(if Path::new(&p).is_absolute() {
                PathBuf::from(p)
            } else {
                dir.join(p)
            }),
        }
    }
    out
}

fn name_of(call: &str) -> &str {
    call.split('(').next().unwrap_or("")
}

fn failed(call: &str) -> bool {
    call.rsplit_once(" = ")
        .is_some_and(|(_, r)| r.trim_start().starts_with('-'))
}

/// What a call creates, changes or writes (paths), if anything.
fn written_paths(call: &str, cwd: &Path) -> Vec<PathBuf> {
    let name = name_of(call);
    match name {
        "open" | "openat" | "openat2" | "creat" => {
            let writes = name == "creat"
                || ["O_WRONLY", "O_RDWR", "O_CREAT", "O_TRUNC", "O_APPEND"]
                    .iter()
                    .any(|f| call.contains(f));
            if writes {
                path_args(call, cwd).into_iter().take(1).collect()
            } else {
                vec![]
            }
        }
        "mkdir" | "mkdirat" | "rmdir" | "unlink" | "unlinkat" | "rename" | "renameat"
        | "renameat2" | "link" | "linkat" | "symlink" | "symlinkat" | "truncate" | "chmod"
        | "fchmodat" | "chown" | "lchown" | "fchownat" | "mknod" | "mknodat" | "utime"
        | "utimes" | "utimensat" | "setxattr" | "lsetxattr" | "removexattr" => path_args(call, cwd),
        // Writes through a descriptor: `-y` shows the file it is open on.
        "write" | "pwrite64" | "writev" | "pwritev" | "pwritev2" | "ftruncate" | "fallocate"
        | "fchmod" | "fchown" | "fsetxattr" | "sendfile" | "copy_file_range" => {
            match args_of(call).into_iter().next() {
                Some(Arg::Fd(p)) if p.starts_with('/') => vec![PathBuf::from(p)],
                _ => vec![],
            }
        }
        _ => vec![],
    }
}

/// Paths any process may write whatever the configuration says.
fn always_allowed(p: &Path) -> bool {
    p == Path::new("/dev/null") || p == Path::new("/dev/tty") || p.starts_with("/dev/pts")
}

/// Checks the file trace: every write is under `allowed`; returns the successful write calls.
fn assert_writes_only_under(trace: &Path, cwd: &Path, allowed: &[&Path]) -> Vec<String> {
    let mut writes = Vec::new();
    let mut outside = Vec::new();
    for call in syscalls(trace) {
        let paths = written_paths(&call, cwd);
        if paths.is_empty() {
            continue;
        }
        if !failed(&call) {
            writes.push(call.clone());
        }
        for p in paths {
            if !(always_allowed(&p) || allowed.iter().any(|a| p.starts_with(a))) {
                // A refused attempt is still an attempt to write where it must not.
                outside.push(call.clone());
            }
        }
    }
    assert!(
        outside.is_empty(),
        "writes outside {allowed:?}:\n{}",
        outside.join("\n")
    );
    writes
}

/// The screen is a UI screen: panel size and a handful of UI colours, not a camera picture.
fn assert_ui_screen(png: &Path) {
    let img = image::open(png).expect("screen PNG").to_rgb8();
    assert_eq!(img.dimensions(), (240, 240), "panel-sized");
    let colours: HashSet<[u8; 3]> = img.pixels().map(|p| p.0).collect();
    assert!(
        colours.len() <= 16,
        "{} colours: a photo on screen?",
        colours.len()
    );
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn saving_disabled_writes_nothing_but_screens_and_logs_no_names() {
    let rig = Rig::new(false);
    let root = rig.root();
    let trace = root.join("strace.log");
    let before = common::files_under(&root);
    let mut s = Session::start(&rig, "%file,%desc", &trace, &[]);
    let log = s.full_session(|_| {});
    assert!(
        log.contains("screen: results page 1") && log.contains("0 photo(s) saved"),
        "{log}"
    );
    assert_clean_log(&log, &[]);

    let writes = assert_writes_only_under(&trace, &root, &[&rig.screen_dir, &rig.state]);
    // The trace saw the process: the models were read and the screen written.
    let calls = syscalls(&trace);
    assert!(
        calls
            .iter()
            .any(|c| c.contains("/models/") && c.contains(".onnx") && !failed(c)),
        "the trace shows no model being read"
    );
    assert!(
        writes
            .iter()
            .any(|c| c.contains("screen.png") && c.contains("O_CREAT")),
        "the trace shows no screen written: {writes:#?}"
    );
    // On disk: nothing new but the trace and the screen.
    let after: Vec<PathBuf> = common::files_under(&root)
        .into_iter()
        .filter(|p| !before.contains(p) && p != &trace && !p.starts_with(&rig.state))
        .collect();
    rig.assert_state_is_gallery_copy();
    assert_eq!(after, vec![rig.screen_dir.join("screen.png")]);
    assert!(!rig.captures.exists());
    // The last screen is the preview, the one that could have shown the camera picture.
    assert_ui_screen(&rig.screen_dir.join("screen.png"));
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn saving_enabled_writes_private_captures_only_where_configured() {
    let rig = Rig::new(true);
    let root = rig.root();
    let trace = root.join("strace.log");
    let mut s = Session::start(&rig, "%file,%desc", &trace, &[]);
    let log = s.full_session(|_| {});
    assert!(log.contains("2 photo(s) saved"), "{log}");

    let writes =
        assert_writes_only_under(&trace, &root, &[&rig.screen_dir, &rig.captures, &rig.state]);
    rig.assert_state_is_gallery_copy();
    let saved = common::files_under(&rig.captures);
    assert_eq!(saved.len(), 2, "{saved:?}");
    assert_clean_log(&log, &saved);
    let mode = |p: &Path| std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777;
    assert_eq!(mode(&rig.captures), 0o700, "capture folder");
    for f in &saved {
        assert_eq!(mode(f), 0o600, "{f:?}");
        let img = image::open(f).expect("a saved capture").to_rgb8();
        assert!(img.width() > 240, "the saved capture is the camera photo");
    }
    // Created private, not tightened afterwards: the traced calls carry the modes.
    for f in &saved {
        let name = f.to_str().expect("utf-8");
        assert!(
            writes
                .iter()
                .any(|c| c.contains(name) && c.contains("O_EXCL") && c.contains("0600")),
            "{name} not created 0600 with O_EXCL: {writes:#?}"
        );
    }
    assert!(
        writes.iter().any(|c| name_of(c).starts_with("mkdir")
            && c.contains("/captures")
            && c.contains("0700")),
        "capture folder not created 0700: {writes:#?}"
    );
    // The screens never show the photo even when it is saved.
    assert_ui_screen(&rig.screen_dir.join("screen.png"));
}

/// Socket inodes of `pid` (from its fd links).
fn socket_inodes(pid: u32) -> (usize, Vec<String>) {
    let mut fds = 0;
    let mut out = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("list the device's fds")
        .flatten()
    {
        fds += 1;
        if let Ok(target) = std::fs::read_link(e.path()) {
            let t = target.to_string_lossy().into_owned();
            if let Some(inode) = t.strip_prefix("socket:[").and_then(|r| r.strip_suffix(']')) {
                out.push(inode.to_string());
            }
        }
    }
    (fds, out)
}

/// Lines of /proc/net tables that belong to one of `inodes` and are listening or bound.
fn exposed(inodes: &[String]) -> Vec<String> {
    let mut out = Vec::new();
    for table in ["tcp", "tcp6", "udp", "udp6", "raw", "raw6", "unix"] {
        let Ok(text) = std::fs::read_to_string(format!("/proc/net/{table}")) else {
            continue;
        };
        for line in text.lines().skip(1) {
            let cols: Vec<&str> = line.split_whitespace().collect();
            let (inode, listening) = if table == "unix" {
                // Num RefCount Protocol Flags Type St Inode [Path]; Flags 00010000 = accepting.
                let flags = cols.get(3).copied().unwrap_or("");
                (cols.get(6).copied(), flags == "00010000")
            } else {
                // Any TCP socket in LISTEN (0A); any UDP/raw socket at all is a bound port.
                let st = cols.get(3).copied().unwrap_or("");
                (
                    cols.get(9).copied(),
                    table.starts_with("udp") || table.starts_with("raw") || st == "0A",
                )
            };
            if listening && inode.is_some_and(|i| inodes.iter().any(|x| x == i)) {
                out.push(format!("/proc/net/{table}: {line}"));
            }
        }
    }
    out
}

/// The device process: strace's child.
fn traced_child(strace_pid: u32) -> Option<u32> {
    for e in std::fs::read_dir("/proc").ok()?.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // pid (comm) state ppid ...
        let after = stat.rsplit_once(')').map_or("", |(_, r)| r);
        let ppid = after.split_whitespace().nth(1).and_then(|p| p.parse().ok());
        if ppid == Some(strace_pid) {
            return Some(pid);
        }
    }
    None
}

#[test]
#[cfg_attr(
    not(target_arch = "x86_64"),
    ignore = "spawns the binary: needs binfmt under qemu-user"
)]
fn no_listening_socket_and_only_the_systemd_datagram() {
    let rig = Rig::new(false);
    let root = rig.root();
    let trace = root.join("strace-net.log");
    // Play systemd: a datagram socket for READY=1 / STATUS= / WATCHDOG=1.
    let notify_path = root.join("notify.sock");
    let notify = std::os::unix::net::UnixDatagram::bind(&notify_path).expect("bind notify");
    notify
        .set_read_timeout(Some(Duration::from_millis(200)))
        .expect("timeout");
    // Read as systemd does, all along: an unread socket holds 10 datagrams
    // (net.unix.max_dgram_qlen), then the device's next notification waits.
    let reading = Arc::new(AtomicBool::new(true));
    let reader = {
        let reading = reading.clone();
        std::thread::spawn(move || {
            let mut got = Vec::new();
            let mut buf = [0u8; 512];
            loop {
                match notify.recv(&mut buf) {
                    Ok(n) => got.push(String::from_utf8_lossy(&buf[..n]).into_owned()),
                    Err(_) if reading.load(Ordering::SeqCst) => {}
                    Err(_) => return got,
                }
            }
        })
    };
    let mut s = Session::start(
        &rig,
        "%network",
        &trace,
        &[("NOTIFY_SOCKET", notify_path.as_path())],
    );
    let mut live = None;
    let log = s.full_session(|child| {
        let pid = traced_child(child.id()).expect("the device process under strace");
        let (fds, inodes) = socket_inodes(pid);
        live = Some((pid, fds, inodes.clone(), exposed(&inodes)));
    });
    let (pid, fds, inodes, open) = live.expect("checked while running");
    assert!(fds >= 3, "read the fds of {pid}: {fds}");
    assert!(
        open.is_empty(),
        "listening or bound sockets of the device: {open:#?}"
    );
    eprintln!("device pid {pid}: {fds} fds, sockets {inodes:?} (none listening or bound)");

    // Every network call: the notification datagram and nothing else. (sd_notify connects an
    // unbound AF_UNIX datagram socket to NOTIFY_SOCKET and writes to it.)
    let target = notify_path.to_str().expect("utf-8");
    let mut bad = Vec::new();
    let mut notifications = 0;
    for call in syscalls(&trace) {
        let ok = match name_of(&call) {
            "socket" => call.starts_with("socket(AF_UNIX, SOCK_DGRAM"),
            "connect" => {
                let to_notify = call.contains("sa_family=AF_UNIX")
                    && call.contains(&format!("sun_path=\"{target}\""));
                notifications += usize::from(to_notify);
                to_notify
            }
            "sendto" | "sendmsg" | "send" | "shutdown" => call.contains("socket:["),
            _ => false,
        };
        if !ok {
            bad.push(call);
        }
    }
    assert!(
        bad.is_empty(),
        "unexpected network calls:\n{}",
        bad.join("\n")
    );
    assert!(
        notifications > 0,
        "the trace shows no notification: {:#?}\n{log}",
        syscalls(&trace)
    );
    reading.store(false, Ordering::SeqCst);
    let got = reader.join().expect("the notification reader");
    assert!(got.iter().any(|m| m.contains("READY=1")), "{got:?}");
}

#[test]
fn strace_lines_are_parsed() {
    let cwd = Path::new("/w");
    let open = r#"openat(AT_FDCWD</w>, "s/screen.png", O_WRONLY|O_CREAT|O_TRUNC|O_CLOEXEC, 0666) = 5</w/s/screen.png>"#;
    assert_eq!(
        written_paths(open, cwd),
        vec![PathBuf::from("/w/s/screen.png")]
    );
    let read = r#"openat(AT_FDCWD</w>, "/m/a.onnx", O_RDONLY|O_CLOEXEC) = 3</m/a.onnx>"#;
    assert!(written_paths(read, cwd).is_empty());
    let mkdir = r#"mkdirat(AT_FDCWD</w>, "/w/captures", 0700) = 0"#;
    assert_eq!(
        written_paths(mkdir, cwd),
        vec![PathBuf::from("/w/captures")]
    );
    let rename = r#"renameat2(3</d>, "a", AT_FDCWD</w>, "/x/b", 0) = 0"#;
    assert_eq!(
        written_paths(rename, cwd),
        vec![PathBuf::from("/d/a"), PathBuf::from("/x/b")]
    );
    let write = r#"write(5</w/s/screen.png>, "\211PNG<>\r\n"..., 8192) = 8192"#;
    assert_eq!(
        written_paths(write, cwd),
        vec![PathBuf::from("/w/s/screen.png")]
    );
    assert!(written_paths(r#"write(2<pipe:[77]>, "x", 1) = 1"#, cwd).is_empty());
    assert!(failed(
        "unlink(\"/x\") = -1 ENOENT (No such file or directory)"
    ));
    let dir = tempfile::tempdir().expect("tempdir");
    let log = dir.path().join("t.log");
    std::fs::write(
        &log,
        "7 openat(AT_FDCWD, \"/a\", O_WRONLY <unfinished ...>\n8 read(0, \"c\", 1) = 1\n7 <... openat resumed>) = 3\n7 +++ exited with 0 +++\n",
    )
    .expect("write log");
    let calls = syscalls(&log);
    assert_eq!(calls.len(), 2, "{calls:?}");
    assert!(
        calls.contains(&r#"openat(AT_FDCWD, "/a", O_WRONLY) = 3"#.to_string()),
        "{calls:?}"
    );
}
