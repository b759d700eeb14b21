//! `scripts/run.sh` as a newcomer runs it (its `scripts/dev_up.sh` part; `run.sh` only runs the
//! set-up first): from an empty state folder, the operator's passphrase is printed beside the RTMP
//! URL and signs in (200), and the run writes nothing outside its own folder (no
//! `/var/lib/skycount`, where the box keeps its state) while it analyses and records history.
//! The daemon it starts answers MediaMTX's authentication requests (pairing, on by default).

mod common;

use std::collections::BTreeMap;
use std::io::{BufRead as _, BufReader};
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, SystemTime};

use common::*;

/// The places a skycountd with the built-in defaults writes to (see `check-config` with no file).
const BOX_STATE: &[&str] = &[
    "/var/lib/skycount",
    "/var/lib/skycount-hotspot",
    "/run/skycount",
    "/run/mediamtx",
];

/// Every file and folder under `roots` with its modification time.
fn snapshot(roots: &[&str]) -> BTreeMap<PathBuf, SystemTime> {
    fn walk(p: &Path, out: &mut BTreeMap<PathBuf, SystemTime>) {
        let Ok(meta) = std::fs::symlink_metadata(p) else {
            return;
        };
        out.insert(
            p.to_path_buf(),
            meta.modified().unwrap_or(SystemTime::UNIX_EPOCH),
        );
        if meta.is_dir() {
            for e in std::fs::read_dir(p).into_iter().flatten().flatten() {
                walk(&e.path(), out);
            }
        }
    }
    let mut out = BTreeMap::new();
    for r in roots {
        walk(Path::new(r), &mut out);
    }
    out
}

/// The run's process group, ended (SIGTERM, then SIGKILL) when dropped.
struct Group(std::process::Child);

impl Drop for Group {
    fn drop(&mut self) {
        let pgid = nix::unistd::Pid::from_raw(-(self.0.id() as i32));
        let _ = nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGTERM);
        let ended = wait_for(Duration::from_secs(20), || {
            matches!(self.0.try_wait(), Ok(Some(_))).then_some(())
        });
        if ended.is_none() {
            let _ = nix::sys::signal::kill(pgid, nix::sys::signal::Signal::SIGKILL);
        }
        let _ = self.0.wait();
    }
}

#[test]
fn a_first_run_signs_in_and_keeps_its_state_in_its_folder() {
    let _ = onnxruntime();
    real_model();
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("dev-up");
    let (port, rtmp_port) = (free_port(), free_port());
    let before = snapshot(BOX_STATE);

    let mut child = Command::new("bash");
    child
        .arg(repo_root().join("scripts/dev_up.sh"))
        .env("DEV_UP_DIR", &state)
        .env("PORT", port.to_string())
        .env("RTMP_PORT", rtmp_port.to_string())
        .env("SKYCOUNTD", env!("CARGO_BIN_EXE_skycountd"))
        .env("ORT_DYLIB_PATH", onnxruntime())
        .env_remove("NOTIFY_SOCKET")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .process_group(0);
    let mut run = Group(child.spawn().expect("bash runs scripts/dev_up.sh"));
    let (tx, rx) = mpsc::channel();
    let out = BufReader::new(run.0.stdout.take().unwrap());
    std::thread::spawn(move || {
        for line in out.lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut printed = Vec::new();
    let got_all = wait_for(Duration::from_secs(120), || {
        while let Ok(line) = rx.try_recv() {
            printed.push(line);
        }
        printed
            .iter()
            .any(|l| l.starts_with("Dashboard:"))
            .then_some(())
    });
    assert!(got_all.is_some(), "dev_up.sh printed only {printed:#?}");
    let url_at = printed
        .iter()
        .position(|l| l.starts_with("rtmp://"))
        .unwrap_or_else(|| panic!("no RTMP URL in {printed:#?}"));
    let passphrase = printed[url_at..]
        .iter()
        .find_map(|l| l.strip_prefix("Operator passphrase: "))
        .unwrap_or_else(|| panic!("no operator passphrase after the RTMP URL in {printed:#?}"))
        .trim()
        .to_string();

    let base = format!("http://127.0.0.1:{port}");
    // Signing in with the printed passphrase answers 200 (sign_in_at asserts it).
    let cookie = sign_in_at(&base, &passphrase);

    // Pairing is on (the default): the daemon answers MediaMTX's questions on loopback, the key
    // from the printed URL lets a publisher in, a keyless one waits for the operator.
    let key = printed[url_at]
        .rsplit_once("pass=")
        .map(|(_, k)| k.to_string())
        .expect("the key in the URL");
    let asks = |user: &str, pass: &str| {
        agent()
            .post(&format!("{base}/api/mediamtx/auth"))
            .header("Content-Type", "application/json")
            .send(
                serde_json::json!({
                    "user": user, "password": pass, "token": "", "ip": "192.168.50.23",
                    "action": "publish", "path": "live/drone", "protocol": "rtmp",
                    "id": null, "query": "", "userAgent": ""
                })
                .to_string(),
            )
            .unwrap()
            .status()
            .as_u16()
    };
    assert_eq!(asks("drone", &key), 200);
    assert_eq!(asks("", ""), 401);
    let mut listing = agent()
        .get(&format!("{base}/api/operator/pairing"))
        .header("Cookie", &cookie)
        .call()
        .unwrap();
    let listing: serde_json::Value =
        serde_json::from_str(&listing.body_mut().read_to_string().unwrap()).unwrap();
    assert_eq!(
        listing["requests"][0]["address"], "192.168.50.23",
        "{listing}"
    );

    // The demo is analysed and its flight recorded: the history is written, in the folder.
    let db = state.join("analysis/history.sqlite");
    assert!(
        wait_for(Duration::from_secs(120), || db.is_file().then_some(())).is_some(),
        "no flight history at {} after two minutes",
        db.display()
    );
    for kept in [
        "operator.phc",
        "operator.issue",
        "stream-key",
        "skycount.toml",
    ] {
        assert!(
            state.join(kept).is_file(),
            "{kept} is not in {}",
            state.display()
        );
    }
    drop(run);
    let after = snapshot(BOX_STATE);
    let written: Vec<_> = after
        .iter()
        .filter(|(p, t)| before.get(*p) != Some(t))
        .map(|(p, _)| p)
        .collect();
    assert!(
        written.is_empty(),
        "the run wrote outside {}: {written:?}",
        state.display()
    );
}
