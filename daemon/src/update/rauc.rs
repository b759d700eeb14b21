//! The RAUC edge: the `rauc` command, run as a child process, and what it prints, parsed.
//!
//! RAUC does all the work that matters: it checks a bundle's signature against the box's
//! keyring, its `compatible` against the box's, writes the image into the slot that is not
//! running and tells the bootloader to try it next. skycountd only asks:
//!
//! | what | command | read from |
//! | --- | --- | --- |
//! | a bundle's manifest, signature checked | `rauc info --output-format=json B` | stdout (JSON) |
//! | the slots, which runs, which boots next | `rauc status --detailed --output-format=json` | stdout (JSON) |
//! | install | `rauc install B` | stdout: `NN% step` lines, `LastError: …` |
//! | mark a slot good or bad | `rauc status mark-good booted` | exit status |
//!
//! `rauc info` checks the bundle in this process (as skycountd's user, with the keyring named
//! by RAUC's system.conf); the others are D-Bus clients of the RAUC service (root), which
//! installs. `rauc install` prints the service's `Progress` property as `"%3d%% %s"` lines and
//! its `LastError` as `LastError: %s`, the same in RAUC 1.8 (Debian 12, the tests) and 1.15
//! (the image). Everything here is parsed into the types below; refusals keep RAUC's own words.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde::Deserialize;

use crate::config::UpdateSettings;

/// How long a query (`info`, `status`, `mark-*`) may take before it is given up.
pub const QUERY_TIMEOUT: Duration = Duration::from_secs(60);
/// How long an install may take in all (a slow SD card writes a 1 GB image in minutes).
pub const INSTALL_TIMEOUT: Duration = Duration::from_secs(2 * 3600);

/// The `rauc` command as skycountd runs it.
#[derive(Debug, Clone)]
pub struct Rauc {
    program: PathBuf,
    conf: Option<PathBuf>,
}

/// Why a `rauc` command did not give what was asked.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RaucError {
    /// The program could not be started (not installed).
    #[error("cannot run {program}: {reason}")]
    Missing { program: String, reason: String },
    /// It ran and said no: RAUC's own last words.
    #[error("{0}")]
    Refused(String),
    /// It ran past its time and was stopped.
    #[error("{what} did not finish within {} s", .limit.as_secs())]
    Timeout { what: String, limit: Duration },
    /// It answered something this skycountd cannot read.
    #[error("{what} answered something skycountd cannot read: {reason}")]
    Unreadable { what: String, reason: String },
}

/// A bundle's manifest, as `rauc info` gives it once the signature has been checked.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct BundleInfo {
    pub compatible: String,
    #[serde(default)]
    pub version: Option<String>,
    #[serde(default)]
    pub description: Option<String>,
    #[serde(default)]
    pub build: Option<String>,
    /// `[{"rootfs": {"filename", "checksum", "size"}}]`
    #[serde(default)]
    pub images: Vec<BTreeMap<String, ImageInfo>>,
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct ImageInfo {
    #[serde(default)]
    pub filename: Option<String>,
    #[serde(default)]
    pub checksum: Option<String>,
    #[serde(default)]
    pub size: Option<u64>,
}

impl BundleInfo {
    /// What the bundle installs, independent of its file name: its images' checksums, sorted
    /// by slot class (`rootfs=<sha256>`).
    pub fn identity(&self) -> String {
        let mut parts: Vec<String> = self
            .images
            .iter()
            .flat_map(|m| m.iter())
            .map(|(class, i)| format!("{class}={}", i.checksum.as_deref().unwrap_or("?")))
            .collect();
        parts.sort();
        parts.join(",")
    }

    /// The checksum of the image for slot class `class`.
    pub fn checksum_of(&self, class: &str) -> Option<&str> {
        self.images
            .iter()
            .find_map(|m| m.get(class))
            .and_then(|i| i.checksum.as_deref())
    }
}

/// `rauc status --detailed --output-format=json`, as RAUC prints it.
#[derive(Debug, Clone, Deserialize)]
struct RawStatus {
    compatible: String,
    #[serde(default)]
    booted: Option<String>,
    #[serde(default)]
    boot_primary: Option<String>,
    #[serde(default)]
    slots: Vec<BTreeMap<String, RawSlot>>,
}

#[derive(Debug, Clone, Deserialize)]
struct RawSlot {
    #[serde(default)]
    class: Option<String>,
    #[serde(default)]
    bootname: Option<String>,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    parent: Option<String>,
    #[serde(default)]
    boot_status: Option<String>,
    #[serde(default)]
    slot_status: Option<RawSlotStatus>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawSlotStatus {
    #[serde(default)]
    bundle: Option<RawBundleStatus>,
    #[serde(default)]
    checksum: Option<RawChecksum>,
    #[serde(default)]
    installed: Option<RawStamp>,
    #[serde(default)]
    status: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawBundleStatus {
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    build: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawChecksum {
    #[serde(default)]
    sha256: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
struct RawStamp {
    #[serde(default)]
    timestamp: Option<String>,
}

/// One bootable slot (a root file system), as RAUC reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Slot {
    /// RAUC's name for it (`rootfs.0`).
    pub name: String,
    /// The bootloader's name for it (`A`, `B`; on the Jetson `0`, `1`).
    pub bootname: String,
    /// The bootloader's verdict: `Some(true)` good, `Some(false)` bad (no attempts left).
    pub good: Option<bool>,
    /// The bootloader starts this slot next.
    pub primary: bool,
    /// What RAUC installed into it last (`None`: nothing since the box was flashed).
    pub version: Option<String>,
    pub build: Option<String>,
    /// The sha256 of the image RAUC wrote into it.
    #[serde(skip)]
    pub checksum: Option<String>,
    /// When RAUC wrote it (RFC 3339, UTC).
    pub installed_at: Option<String>,
    /// RAUC's own word on the last write (`ok`, or what failed).
    pub install_status: Option<String>,
}

/// The box's A/B slots: the one running, the other one of its class, the box's `compatible`.
#[derive(Debug, Clone, PartialEq)]
pub struct Slots {
    pub compatible: String,
    pub booted: Option<Slot>,
    pub other: Option<Slot>,
}

impl Slots {
    /// The slot the bootloader starts next, when RAUC knows it.
    pub fn next_boot(&self) -> Option<&Slot> {
        [self.booted.as_ref(), self.other.as_ref()]
            .into_iter()
            .flatten()
            .find(|s| s.primary)
    }
}

/// A parsed `rauc status --detailed --output-format=json`: the booted slot and the other slot
/// of the same class (the root file systems; child slots with a `parent` are left out).
pub fn parse_status(json: &str) -> Result<Slots, String> {
    let raw: RawStatus = serde_json::from_str(json).map_err(|e| e.to_string())?;
    let slot = |name: &str, s: &RawSlot| {
        let status = s.slot_status.clone().unwrap_or_default();
        let bundle = status.bundle.unwrap_or_default();
        Slot {
            name: name.to_string(),
            bootname: s.bootname.clone().unwrap_or_default(),
            good: s.boot_status.as_deref().map(|b| b == "good"),
            primary: raw.boot_primary.as_deref() == Some(name),
            version: bundle.version,
            build: bundle.build,
            checksum: status.checksum.and_then(|c| c.sha256),
            installed_at: status.installed.and_then(|i| i.timestamp),
            install_status: status.status,
        }
    };
    let all: Vec<(&String, &RawSlot)> = raw
        .slots
        .iter()
        .flat_map(|m| m.iter())
        .filter(|(_, s)| s.parent.is_none() && s.bootname.is_some())
        .collect();
    let booted = all.iter().find(|(name, s)| {
        s.state.as_deref() == Some("booted")
            || raw
                .booted
                .as_deref()
                .is_some_and(|b| s.bootname.as_deref() == Some(b) || name.as_str() == b)
    });
    let class = booted.and_then(|(_, s)| s.class.clone());
    let other = all.iter().find(|(name, s)| {
        Some(*name) != booted.map(|(n, _)| *n) && (class.is_none() || s.class == class)
    });
    Ok(Slots {
        compatible: raw.compatible,
        booted: booted.map(|(n, s)| slot(n, s)),
        other: other.map(|(n, s)| slot(n, s)),
    })
}

/// One step of an install, as RAUC reports it.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Progress {
    pub percent: u8,
    pub step: String,
}

/// A line `rauc install` prints.
#[derive(Debug, Clone, PartialEq)]
pub enum InstallLine {
    Progress(Progress),
    LastError(String),
    /// The service's operation (`installing`, `idle`) or anything else.
    Other,
}

/// Reads one line of `rauc install`'s output.
pub fn parse_install_line(line: &str) -> InstallLine {
    // A terminal would get escape sequences; skycountd reads a pipe, but strip them anyway.
    let line = line.trim_start_matches(['\u{1b}', '[', 'J']);
    if let Some(rest) = line.strip_prefix("LastError:") {
        return InstallLine::LastError(rest.trim().to_string());
    }
    let t = line.trim_start();
    if let Some((num, step)) = t.split_once("% ") {
        if let Ok(p) = num.trim().parse::<u8>() {
            return InstallLine::Progress(Progress {
                percent: p.min(100),
                step: step.trim().to_string(),
            });
        }
    }
    InstallLine::Other
}

/// RAUC's reason in what it printed on stderr: its last line that is not a log message
/// (`rauc-Message: …`), with GLib's prefix (`(rauc:123): rauc-WARNING **: 12:00:00.000: `) cut.
pub fn reason_from_stderr(stderr: &str) -> Option<String> {
    stderr
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with("rauc-Message:"))
        .filter(|l| !(l.starts_with("Installing `") && l.ends_with("failed")))
        .map(|l| match l.find("**: ") {
            Some(i) => {
                let rest = &l[i + 4..];
                // "12:00:00.000: message"
                match rest.split_once(": ") {
                    Some((time, msg))
                        if time
                            .chars()
                            .all(|c| c.is_ascii_digit() || c == ':' || c == '.') =>
                    {
                        msg
                    }
                    _ => rest,
                }
            }
            None => l,
        })
        .map(str::to_string)
        .next_back()
}

/// What a finished child gave: its exit status (`None`: killed at the deadline), stdout, stderr.
struct Finished {
    success: Option<bool>,
    stdout: String,
    stderr: String,
}

/// Reads a child's stream to its end, keeping at most `cap` bytes of it.
fn read_capped(mut r: impl Read, cap: usize) -> String {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        match r.read(&mut chunk) {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                if buf.len() < cap {
                    buf.extend_from_slice(&chunk[..n.min(cap - buf.len())]);
                }
            }
        }
    }
    String::from_utf8_lossy(&buf).into_owned()
}

impl Rauc {
    pub fn new(program: impl Into<PathBuf>, conf: Option<PathBuf>) -> Self {
        Self {
            program: program.into(),
            conf,
        }
    }

    pub fn from_settings(u: &UpdateSettings) -> Self {
        let conf = (!u.rauc_config.as_os_str().is_empty()).then(|| u.rauc_config.clone());
        Self::new(&u.rauc, conf)
    }

    fn command(&self) -> Command {
        let mut c = Command::new(&self.program);
        if let Some(conf) = &self.conf {
            c.arg(format!("--conf={}", conf.display()));
        }
        c.stdin(Stdio::null());
        c
    }

    fn name(&self) -> String {
        self.program.display().to_string()
    }

    /// Starts `rauc ARGS…` with its output piped to us.
    fn spawn(&self, args: &[&std::ffi::OsStr]) -> Result<std::process::Child, RaucError> {
        self.command()
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| RaucError::Missing {
                program: self.name(),
                reason: e.to_string(),
            })
    }

    /// Runs `args` to its end (at most `limit`), collecting its output.
    fn run(&self, args: &[&str], limit: Duration) -> Result<Finished, RaucError> {
        let what = format!("{} {}", self.name(), args.join(" "));
        let os: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
        let mut child = self.spawn(&os)?;
        let out = child.stdout.take().expect("piped");
        let err = child.stderr.take().expect("piped");
        let out = std::thread::spawn(move || read_capped(out, 4 << 20));
        let err = std::thread::spawn(move || read_capped(err, 256 << 10));
        let end = Instant::now() + limit;
        let status = loop {
            match child.try_wait() {
                Ok(Some(s)) => break Some(s),
                Ok(None) if Instant::now() < end => std::thread::sleep(Duration::from_millis(20)),
                _ => {
                    let _ = child.kill();
                    let _ = child.wait();
                    break None;
                }
            }
        };
        let stdout = out.join().unwrap_or_default();
        let stderr = err.join().unwrap_or_default();
        if status.is_none() {
            return Err(RaucError::Timeout { what, limit });
        }
        Ok(Finished {
            success: status.map(|s| s.success()),
            stdout,
            stderr,
        })
    }

    fn refused(f: &Finished, what: &str) -> RaucError {
        RaucError::Refused(
            reason_from_stderr(&f.stderr)
                .or_else(|| reason_from_stderr(&f.stdout))
                .unwrap_or_else(|| format!("{what} failed and said nothing")),
        )
    }

    /// `rauc --version`: whether the command is there at all, and which RAUC it is.
    pub fn version(&self) -> Result<String, RaucError> {
        let f = self.run(&["--version"], QUERY_TIMEOUT)?;
        if f.success != Some(true) {
            return Err(Self::refused(&f, "rauc --version"));
        }
        Ok(f.stdout.trim().to_string())
    }

    /// Checks a bundle (signature against the keyring, format) and reads its manifest.
    pub fn info(&self, bundle: &Path) -> Result<BundleInfo, RaucError> {
        let path = bundle.display().to_string();
        let f = self.run(&["info", "--output-format=json", &path], QUERY_TIMEOUT)?;
        if f.success != Some(true) {
            return Err(Self::refused(&f, "rauc info"));
        }
        serde_json::from_str(f.stdout.trim()).map_err(|e| RaucError::Unreadable {
            what: "rauc info".into(),
            reason: e.to_string(),
        })
    }

    /// The slots, from the RAUC service.
    pub fn status(&self) -> Result<Slots, RaucError> {
        let f = self.run(
            &["status", "--detailed", "--output-format=json"],
            QUERY_TIMEOUT,
        )?;
        if f.success != Some(true) {
            return Err(Self::refused(&f, "rauc status"));
        }
        parse_status(f.stdout.trim()).map_err(|reason| RaucError::Unreadable {
            what: "rauc status".into(),
            reason,
        })
    }

    /// Marks the booted slot good (`true`) or bad (`false`); RAUC's answer.
    pub fn mark_booted(&self, good: bool) -> Result<String, RaucError> {
        let how = if good { "mark-good" } else { "mark-bad" };
        let f = self.run(&["status", how, "booted"], QUERY_TIMEOUT)?;
        if f.success != Some(true) {
            return Err(Self::refused(&f, &format!("rauc status {how}")));
        }
        Ok(f.stdout.trim().to_string())
    }

    /// Installs `bundle` into the slot that is not running, calling `progress` with each step
    /// RAUC reports. Blocks until RAUC is done (at most [`INSTALL_TIMEOUT`]).
    pub fn install(
        &self,
        bundle: &Path,
        mut progress: impl FnMut(Progress),
    ) -> Result<(), RaucError> {
        let mut child = self.spawn(&["install".as_ref(), bundle.as_os_str()])?;
        let pid = child.id();
        let err = child.stderr.take().expect("piped");
        let err = std::thread::spawn(move || read_capped(err, 256 << 10));
        // A hung client must not hold the update forever: stopped at the deadline.
        let (done_tx, done_rx) = std::sync::mpsc::channel::<()>();
        let watchdog = std::thread::spawn(move || {
            if done_rx.recv_timeout(INSTALL_TIMEOUT).is_err() {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(pid as i32),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        });
        let mut last_error = None;
        let mut lines = Vec::new();
        for line in BufReader::new(child.stdout.take().expect("piped")).lines() {
            let Ok(line) = line else { break };
            match parse_install_line(&line) {
                InstallLine::Progress(p) => progress(p),
                InstallLine::LastError(e) if !e.is_empty() => last_error = Some(e),
                _ => {}
            }
            if lines.len() < 200 {
                lines.push(line);
            }
        }
        let status = child.wait();
        let _ = done_tx.send(());
        let _ = watchdog.join();
        let stderr = err.join().unwrap_or_default();
        match status {
            Ok(s) if s.success() => Ok(()),
            Ok(s) => Err(RaucError::Refused(
                last_error
                    .or_else(|| reason_from_stderr(&stderr))
                    .unwrap_or_else(|| {
                        if s.code().is_none() {
                            "rauc install was stopped before it finished".into()
                        } else {
                            format!("rauc install failed ({s}) and said nothing")
                        }
                    }),
            )),
            Err(e) => Err(RaucError::Refused(format!("rauc install: {e}"))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What RAUC 1.8 prints for `rauc status --detailed --output-format=json` after installing
    /// into slot B (the test bed's A/B slots).
    const STATUS: &str = r#"{"compatible":"skycount-test","variant":"","booted":"A","boot_primary":"rootfs.1","slots":[{"rootfs.1":{"class":"rootfs","device":"/dev/loop1","type":"ext4","bootname":"B","state":"inactive","parent":null,"mountpoint":null,"boot_status":"good","slot_status":{"bundle":{"compatible":"skycount-test","version":"1.1.0","description":"test bundle","build":"20260101"},"checksum":{"sha256":"5a50","size":8388608},"installed":{"timestamp":"2026-12-06T22:53:16Z","count":2},"activated":{"timestamp":"2026-12-06T22:53:16Z","count":2},"status":"ok"}}},{"rootfs.0":{"class":"rootfs","device":"/dev/loop0","type":"ext4","bootname":"A","state":"booted","parent":null,"mountpoint":null,"boot_status":"good","slot_status":{"bundle":{"compatible":null}}}},{"appfs.0":{"class":"appfs","device":"/dev/loop2","type":"ext4","bootname":null,"state":"active","parent":"rootfs.0","mountpoint":null,"boot_status":null,"slot_status":{}}}]}"#;

    #[test]
    fn status_gives_the_running_slot_the_other_and_which_boots_next() {
        let s = parse_status(STATUS).unwrap();
        assert_eq!(s.compatible, "skycount-test");
        let booted = s.booted.clone().unwrap();
        assert_eq!(
            (booted.name.as_str(), booted.bootname.as_str()),
            ("rootfs.0", "A")
        );
        assert_eq!(
            (booted.good, booted.primary, booted.version.clone()),
            (Some(true), false, None)
        );
        let other = s.other.clone().unwrap();
        assert_eq!(other.bootname, "B");
        assert!(other.primary);
        assert_eq!(other.version.as_deref(), Some("1.1.0"));
        assert_eq!(other.build.as_deref(), Some("20260101"));
        assert_eq!(other.checksum.as_deref(), Some("5a50"));
        assert_eq!(other.installed_at.as_deref(), Some("2026-12-06T22:53:16Z"));
        assert_eq!(s.next_boot().unwrap().bootname, "B");
        assert!(parse_status("{not json").is_err());
    }

    #[test]
    fn install_lines_are_read_into_steps_and_errors() {
        assert_eq!(
            parse_install_line("  0% Installing"),
            InstallLine::Progress(Progress {
                percent: 0,
                step: "Installing".into()
            })
        );
        assert_eq!(
            parse_install_line(" 90% Copying image to rootfs.1"),
            InstallLine::Progress(Progress {
                percent: 90,
                step: "Copying image to rootfs.1".into()
            })
        );
        assert_eq!(
            parse_install_line("100% Installing failed."),
            InstallLine::Progress(Progress {
                percent: 100,
                step: "Installing failed.".into()
            })
        );
        assert_eq!(
            parse_install_line(
                "LastError: Compatible mismatch: Expected 'a' but bundle manifest has 'b'"
            ),
            InstallLine::LastError(
                "Compatible mismatch: Expected 'a' but bundle manifest has 'b'".into()
            )
        );
        assert_eq!(
            parse_install_line("\u{1b}[JLastError: x"),
            InstallLine::LastError("x".into())
        );
        assert_eq!(parse_install_line("installing"), InstallLine::Other);
        assert_eq!(parse_install_line("idle"), InstallLine::Other);
        assert_eq!(parse_install_line("999% x"), InstallLine::Other, "not a u8");
    }

    #[test]
    fn the_reason_is_raucs_last_word_without_its_log_lines() {
        let stderr = "rauc-Message: 22:52:49.273: Reading bundle: /tmp/x.raucb\n\
                      rauc-Message: 22:52:49.275: Verifying bundle signature... \n\
                      signature verification failed: Verify error: self-signed certificate\n";
        assert_eq!(
            reason_from_stderr(stderr).as_deref(),
            Some("signature verification failed: Verify error: self-signed certificate")
        );
        let glib =
            "(rauc:18393): rauc-WARNING **: 22:53:16.495: Failed mounting bundle: no loop device\n";
        assert_eq!(
            reason_from_stderr(glib).as_deref(),
            Some("Failed mounting bundle: no loop device")
        );
        assert_eq!(reason_from_stderr("rauc-Message: only logs\n"), None);
        assert_eq!(
            reason_from_stderr("Real reason\nInstalling `/x.raucb` failed\n").as_deref(),
            Some("Real reason")
        );
    }

    #[test]
    fn a_bundle_is_known_by_its_images_checksums() {
        let info: BundleInfo = serde_json::from_str(
            r#"{"compatible":"c","version":"1.1.0","description":"d","build":"b","hooks":[],"images":[{"rootfs":{"variant":null,"filename":"rootfs.ext4","checksum":"5a50","size":8388608,"hooks":[],"adaptive":[]}}]}"#,
        )
        .unwrap();
        assert_eq!(info.identity(), "rootfs=5a50");
        assert_eq!(info.checksum_of("rootfs"), Some("5a50"));
        assert_eq!(info.version.as_deref(), Some("1.1.0"));
    }

    #[test]
    fn a_missing_command_says_so() {
        let r = Rauc::new("/nonexistent/rauc", None);
        assert!(matches!(r.version(), Err(RaucError::Missing { .. })));
        assert!(matches!(r.status(), Err(RaucError::Missing { .. })));
    }
}
