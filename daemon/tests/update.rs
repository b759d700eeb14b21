//! Software updates end to end with real RAUC: the real daemon, Debian's `rauc` and its service
//! on a private D-Bus bus, real signed bundles, two A/B slots on loop devices and a bootloader
//! played by `scripts/rauc-testbed/bootloader.sh` (U-Boot's rules: a boot order, three attempts
//! per slot). See `scripts/rauc-testbed/testbed.sh`.
//!
//! Checked: an upload while a drone streams is installed into the other slot (the running one
//! untouched, the boot order switched, RAUC's steps shown as it goes), kept after a healthy
//! start and rejected (and fallen back from) after an unhealthy one or a new slot that never
//! starts; every bad bundle refused with its reason and nothing written; a full data partition;
//! a power cut while RAUC switches the boot order; a bundle on a USB stick installed once.
//!
//! Needs root (RAUC's service mounts bundles and writes the slots). Bundles are in RAUC's `plain`
//! format: this kernel has no device-mapper for `verity` (the box's format; docs/update.md).

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use common::*;
use serde_json::Value;

const PIN: &str = "update-test-pin";

/// One update test at a time: each takes two loop devices and a RAUC service.
static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn sha_file(p: &Path) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    std::io::copy(&mut std::fs::File::open(p).unwrap(), &mut h).unwrap();
    format!("{:x}", h.finalize())
}

/// The daemon's configuration for these tests: `[update]` on the test bed, its folder, sticks
/// and reboot request in `state`.
fn config(tb: &Testbed, url: &str, port: u16, state: &Path, max_mb: u64) -> String {
    let operator = operator_section(PIN, state);
    let update = format!(
        "[update]\nrauc_config = \"{}\"\ndir = \"{}\"\nusb_dir = \"{}\"\nreboot_file = \"{}\"\nmax_bundle_mb = {max_mb}\nconfirm_timeout_s = 60\n",
        tb.env["RAUC_CONF"],
        state.join("update").display(),
        state.join("usb").display(),
        state.join("run/reboot").display(),
    );
    test_config(url, port, &tiny_model(), &format!("{operator}{update}")).replace(
        "[analysis]\n",
        &format!(
            "[analysis]\nstate_dir = \"{}\"\n",
            state.join("analysis").display()
        ),
    )
}

/// A test bed, a state folder and the daemon on it (no stream), the operator signed in.
fn bed(max_mb: u64) -> (Testbed, tempfile::TempDir, Daemon, String) {
    let tb = Testbed::up();
    let state = tempfile::tempdir().unwrap();
    let d = start(&tb, "file:///nonexistent/flight.mp4", state.path(), max_mb);
    let cookie = sign_in(&d, PIN);
    (tb, state, d, cookie)
}

fn start(tb: &Testbed, url: &str, state: &Path, max_mb: u64) -> Daemon {
    let port = free_port();
    let envs = tb.envs();
    Daemon::start_with(&config(tb, url, port, state, max_mb), |c| {
        c.envs(envs);
    })
}

fn upload(d: &Daemon, cookie: &str, name: &str, body: Vec<u8>) -> (u16, Value) {
    put_bundle(d, cookie, name, &body, false)
}

/// Uploads a good bundle of `version` as the operator and waits until it is installed.
fn install(d: &Daemon, cookie: &str, tb: &Testbed, version: &str) -> Value {
    let bundle = std::fs::read(tb.good_bundle(version)).unwrap();
    let (code, answer) = upload(d, cookie, &format!("skycount-{version}.raucb"), bundle);
    assert_eq!(code, 202, "{answer}");
    follow(d, "installed", Duration::from_secs(120)).0
}

/// No bundle, whole or partial, is left in update.dir.
fn assert_no_upload_left(state: &Path) {
    let left: Vec<_> = std::fs::read_dir(state.join("update"))
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".raucb"))
        .collect();
    assert!(left.is_empty(), "{left:?}");
}

fn report(d: &Daemon) -> Value {
    d.get_json("/api/update")
}

/// Polls `/api/update` until the activity is `state`, collecting the steps seen.
fn follow(d: &Daemon, state: &str, limit: Duration) -> (Value, Vec<String>) {
    let mut steps = Vec::new();
    let end = Instant::now() + limit;
    loop {
        let r = report(d);
        let a = &r["activity"];
        if let Some(step) = a["step"].as_str() {
            let s = format!("{}% {step}", a["percent"]);
            if steps.last() != Some(&s) {
                steps.push(s);
            }
        }
        if a["state"] == state {
            return (r, steps);
        }
        assert!(
            Instant::now() < end,
            "no {state} within {limit:?}: {r}; steps seen: {steps:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// `skycountd confirm-boot` as its unit runs it after a boot: the exit code and its output.
fn confirm_boot(d: &Daemon, tb: &Testbed, extra: &[(&str, &str)]) -> (i32, String) {
    let mut c = bin();
    c.arg("--config")
        .arg(d.dir.path().join("skycount.toml"))
        .arg("confirm-boot")
        .envs(tb.envs())
        .envs(extra.iter().copied());
    let out = c.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    println!("confirm-boot:\n{text}");
    (out.status.code().unwrap_or(-1), text)
}

fn last(state: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(state.join("update/last.json")).unwrap()).unwrap()
}

fn analysed(d: &Daemon) -> u64 {
    d.status()["totals"]["frames_analysed"]
        .as_u64()
        .unwrap_or(0)
}

fn counting(d: &Daemon) -> u64 {
    let now = analysed(d);
    wait_for(Duration::from_secs(60), || {
        let n = analysed(d);
        (n >= now + 2).then_some(n)
    })
    .unwrap_or_else(|| panic!("the box is not counting: {}", d.status()))
}

#[test]
fn an_update_goes_into_the_other_slot_while_counting_and_is_kept_once_healthy() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut tb = Testbed::up();
    let state = tempfile::tempdir().unwrap();
    let rtmp = RtmpServer::start();
    let url = rtmp.url("drone");
    let _publisher = publish(&url, 320, 240, 10);
    let d = start(&tb, &url, state.path(), 64);
    counting(&d);

    // Viewers read; only the operator acts.
    let r = report(&d);
    assert_eq!(r["available"], true, "{r}");
    assert_eq!(r["compatible"], "skycount-testbed");
    assert_eq!(r["running"]["slot"], "A");
    assert_eq!(r["other"]["slot"], "B");
    assert_eq!(
        r["other"]["version"],
        Value::Null,
        "nothing installed in B yet"
    );
    assert_eq!(r["activity"]["state"], "idle");
    let bundle = tb.good_bundle("2.0.0");
    let bytes = std::fs::read(&bundle).unwrap();
    let (code, _) = upload(&d, "", "x.raucb", b"x".to_vec());
    assert_eq!(code, 401, "a viewer cannot upload");
    let cookie = sign_in(&d, PIN);
    let mut res = agent()
        .put(&format!("{}/api/operator/update/bundle", d.base()))
        .header("Cookie", &cookie)
        .header("Origin", "http://evil.example")
        .send(&b"x"[..])
        .unwrap();
    assert_eq!(
        res.status().as_u16(),
        403,
        "{}",
        res.body_mut().read_to_string().unwrap()
    );

    let a_before = tb.slot_sha("A", None);
    let image = tb.path("work/rootfs-2.0.0.ext4");
    let image_len = std::fs::metadata(&image).unwrap().len();
    let before = analysed(&d);
    let t0 = Instant::now();
    let (code, answer) = upload(&d, &cookie, "skycount-2.0.0.raucb", bytes);
    assert_eq!(code, 202, "{answer}");
    let (r, steps) = follow(&d, "installed", Duration::from_secs(120));
    println!(
        "installed in {:?}; RAUC's steps as the dashboard saw them: {steps:?}",
        t0.elapsed()
    );
    assert!(!steps.is_empty(), "no step of RAUC's was shown");
    assert_eq!(r["activity"]["slot"], "B");
    assert_eq!(r["activity"]["version"], "2.0.0");
    assert_eq!(r["other"]["version"], "2.0.0");
    assert_eq!(r["other"]["next_boot"], true);
    assert_eq!(r["last"]["outcome"], "installed");
    // The other slot holds the image, the running one is untouched, the boot order switched.
    assert_eq!(tb.slot_sha("B", Some(image_len)), sha_file(&image));
    assert_eq!(
        tb.slot_sha("A", None),
        a_before,
        "the running slot was written"
    );
    assert_eq!(tb.writes(), ["set-state B bad", "set-primary B"]);
    assert_eq!(tb.bootloader()["BOOT_ORDER"], "B A");
    assert!(state.path().join("update/pending.json").exists());
    assert!(
        !state.path().join("update/bundle.raucb").exists(),
        "the upload is deleted once installed"
    );
    // Counting went on through it.
    let after = counting(&d);
    println!("analyses: {before} before the upload, {after} after the install");

    // The operator reboots: the request is written for skycount-reboot.path.
    let (code, answer) = {
        let mut res = agent()
            .post(&format!("{}/api/operator/update/reboot", d.base()))
            .header("Cookie", &cookie)
            .send_empty()
            .unwrap();
        (
            res.status().as_u16(),
            res.body_mut().read_to_string().unwrap(),
        )
    };
    assert_eq!(code, 202, "{answer}");
    let asked = std::fs::read_to_string(state.path().join("run/reboot")).unwrap();
    assert!(asked.contains("2.0.0"), "{asked}");

    // The power-on: the bootloader starts B; skycountd is healthy; B is kept.
    assert_eq!(tb.reboot(), "B");
    let (code, out) = confirm_boot(&d, &tb, &[]);
    assert_eq!(code, 0, "{out}");
    assert_eq!(tb.writes().last().unwrap(), "set-state B good");
    assert_eq!(tb.bootloader()["BOOT_B_LEFT"], "3");
    let l = last(state.path());
    assert_eq!(l["outcome"], "updated", "{l}");
    assert!(!state.path().join("update/pending.json").exists());
    let r = wait_for(Duration::from_secs(10), || {
        let r = report(&d);
        (r["running"]["slot"] == "B").then_some(r)
    })
    .unwrap();
    assert_eq!(r["running"]["version"], "2.0.0");
    assert_eq!(r["other"]["slot"], "A");
    assert_eq!(r["last"]["outcome"], "updated");

    // The next boot (an ordinary one) is marked good too, and nothing is recorded for it.
    assert_eq!(tb.reboot(), "B");
    let (code, _) = confirm_boot(&d, &tb, &[]);
    assert_eq!(code, 0);
    assert_eq!(tb.bootloader()["BOOT_B_LEFT"], "3");
    assert_eq!(last(state.path())["outcome"], "updated");
}

#[test]
fn a_new_slot_that_is_not_healthy_or_does_not_start_is_left_for_the_old_one() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (mut tb, state, d, cookie) = bed(64);

    // 1. Installed, started, never healthy within the limit: marked bad, exit 1 (reboot).
    install(&d, &cookie, &tb, "3.0.0");
    assert_eq!(tb.reboot(), "B");
    let dead = free_port().to_string();
    let listen = format!("127.0.0.1:{dead}");
    let (code, out) = confirm_boot(
        &d,
        &tb,
        &[
            ("SKYCOUNT_UPDATE__CONFIRM_TIMEOUT_S", "5"),
            ("SKYCOUNT_SERVER__LISTEN", &listen),
        ],
    );
    assert_eq!(code, 1, "{out}");
    assert_eq!(tb.writes().last().unwrap(), "set-state B bad");
    let l = last(state.path());
    assert_eq!(l["outcome"], "rolled-back", "{l}");
    assert!(l["message"].as_str().unwrap().contains("within 5 s"), "{l}");
    // systemd reboots (FailureAction=reboot): the bootloader starts A again.
    assert_eq!(tb.reboot(), "A");
    let (code, _) = confirm_boot(&d, &tb, &[]);
    assert_eq!(code, 0);
    assert_eq!(tb.bootloader()["BOOT_ORDER"], "A");

    // 2. Installed, and the new slot never gets as far as confirm-boot (a kernel that panics):
    // the bootloader uses up its three attempts and starts the old slot by itself.
    install(&d, &cookie, &tb, "4.0.0");
    let slots: Vec<String> = (0..4).map(|_| tb.reboot()).collect();
    assert_eq!(slots, ["B", "B", "B", "A"], "three attempts of B, then A");
    let (code, out) = confirm_boot(&d, &tb, &[]);
    assert_eq!(code, 0, "{out}");
    let l = last(state.path());
    assert_eq!(l["outcome"], "rolled-back", "{l}");
    assert!(
        l["message"].as_str().unwrap().contains("did not start"),
        "{l}"
    );
    let r = wait_for(Duration::from_secs(10), || {
        let r = report(&d);
        (r["running"]["slot"] == "A").then_some(r)
    })
    .unwrap();
    assert_eq!(r["other"]["good"], false, "{r}");
    assert_eq!(r["other"]["next_boot"], false, "{r}");
}

#[test]
fn bad_bundles_are_refused_with_their_reason_and_nothing_is_written() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (tb, state, d, cookie) = bed(2);
    let good = std::fs::read(tb.good_bundle("5.0.0")).unwrap();
    let slots = (tb.slot_sha("A", None), tb.slot_sha("B", None));
    let calls = tb.writes();

    let mut junk = vec![0u8; 64 * 1024];
    for (i, b) in junk.iter_mut().enumerate() {
        *b = (i * 7919 % 251) as u8;
    }
    let cases: Vec<(&str, Vec<u8>, u16, &str)> = vec![
        ("unsigned", std::fs::read(tb.bundle("5.0.1", "skycount-testbed", "none", 256)).unwrap(), 422, "not a signed RAUC bundle"),
        ("signed by a stranger", std::fs::read(tb.bundle("5.0.2", "skycount-testbed", "stranger", 256)).unwrap(), 422, "not signed with a key this box trusts"),
        ("truncated", good[..good.len() / 2].to_vec(), 422, "cut short"),
        ("not a bundle", junk, 422, "not a complete RAUC bundle"),
        ("for another board", std::fs::read(tb.bundle("5.0.3", "skycount-jetson-orin-nano-devkit", "dev", 256)).unwrap(), 422, "the bundle is for 'skycount-jetson-orin-nano-devkit', and this box is 'skycount-testbed'"),
        ("too large", std::fs::read(tb.bundle("5.0.4", "skycount-testbed", "dev", 3000)).unwrap(), 413, "up to 2 MB"),
        ("empty", Vec::new(), 400, "empty"),
    ];
    for (what, body, want, words) in cases {
        let (code, answer) = upload(&d, &cookie, &format!("{what}.raucb"), body);
        println!("{what}: {code} {answer}");
        assert_eq!(code, want, "{what}: {answer}");
        let said = answer["error"].as_str().unwrap_or_default();
        assert!(said.contains(words), "{what}: {said}");
        assert_eq!(report(&d)["activity"]["state"], "idle", "{what}");
        assert_eq!(last(state.path())["outcome"], "refused", "{what}");
        assert_eq!(last(state.path())["message"], said, "{what}");
    }
    // Too large without a length (chunked): refused once past the cap.
    let big = std::fs::read(tb.path("5.0.4-dev-skycount-testbed.raucb")).unwrap();
    let (code, answer) = put_bundle(&d, &cookie, "chunked.raucb", &big, true);
    assert_eq!(code, 413, "{answer}");

    // Nothing written anywhere, nothing left behind.
    assert_eq!((tb.slot_sha("A", None), tb.slot_sha("B", None)), slots);
    assert_eq!(tb.writes(), calls, "the bootloader was touched");
    assert_no_upload_left(state.path());
    // And the good one still installs after all that.
    let (code, answer) = upload(&d, &cookie, "good.raucb", good);
    assert_eq!(code, 202, "{answer}");
    follow(&d, "installed", Duration::from_secs(120));
}

/// A tmpfs mounted for the test, unmounted however the test ends.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Self {
        std::fs::create_dir_all(dir).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .status()
            .unwrap()
            .success();
        assert!(ok, "cannot mount a tmpfs at {}", dir.display());
        Self(dir.to_path_buf())
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

#[test]
fn a_full_data_partition_refuses_the_upload_and_keeps_nothing() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let tb = Testbed::up();
    let state = tempfile::tempdir().unwrap();
    // update.dir on a data partition of 4 MB.
    let _data = Tmpfs::mount(&state.path().join("update"), "4m");
    let d = start(&tb, "file:///nonexistent/flight.mp4", state.path(), 64);
    let cookie = sign_in(&d, PIN);
    let big = std::fs::read(tb.bundle("6.0.0", "skycount-testbed", "dev", 6000)).unwrap();
    // With its length declared: refused before a byte is kept.
    let (code, answer) = upload(&d, &cookie, "big.raucb", big.clone());
    assert_eq!(code, 507, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("data partition has"),
        "{answer}"
    );
    // Without (chunked): refused when the disk fills.
    let (code, answer) = put_bundle(&d, &cookie, "big.raucb", &big, true);
    assert_eq!(code, 507, "{answer}");
    assert!(
        answer["error"]
            .as_str()
            .unwrap()
            .contains("data partition is full"),
        "{answer}"
    );
    assert_no_upload_left(state.path());
    assert!(tb.writes().is_empty(), "{:?}", tb.writes());
    assert_eq!(report(&d)["activity"]["state"], "idle");
}

#[test]
fn a_power_cut_while_the_boot_order_switches_leaves_the_box_on_its_running_slot() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let (mut tb, _state, d, cookie) = bed(64);
    let a_before = tb.slot_sha("A", None);
    // RAUC has written slot B and is switching the boot order when the power goes.
    std::fs::write(tb.path("hold"), "set-primary").unwrap();
    let (code, answer) = upload(
        &d,
        &cookie,
        "c.raucb",
        std::fs::read(tb.good_bundle("7.0.0")).unwrap(),
    );
    assert_eq!(code, 202, "{answer}");
    wait_for(Duration::from_secs(60), || {
        tb.calls()
            .iter()
            .any(|c| c == "set-primary B")
            .then_some(())
    })
    .expect("RAUC never switched the boot order");
    tb.run(&["cut"]);
    // skycountd's install ends, failed, and says so.
    let r = wait_for(Duration::from_secs(30), || {
        let r = report(&d);
        (r["activity"]["state"] == "idle" && r["last"]["outcome"] == "failed").then_some(r)
    })
    .unwrap_or_else(|| panic!("{}", report(&d)));
    println!("after the cut: {}", r["last"]["message"]);
    let said = r["last"]["message"].as_str().unwrap();
    assert!(
        said.contains("RAUC's service stopped before it finished") && said.contains("unchanged"),
        "{r}"
    );
    // The power comes back: the box starts the slot it ran, untouched.
    assert_eq!(tb.reboot(), "A");
    assert_eq!(tb.slot_sha("A", None), a_before);
    let (code, _) = confirm_boot(&d, &tb, &[]);
    assert_eq!(code, 0);
    let r = report(&d);
    assert_eq!(r["running"]["slot"], "A");
    assert_eq!(r["other"]["next_boot"], false, "{r}");
}

#[test]
fn a_bundle_on_a_usb_stick_is_installed_once() {
    let _one = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let mut tb = Testbed::up();
    let state = tempfile::tempdir().unwrap();
    let stick = state.path().join("usb/sda1");
    std::fs::create_dir_all(&stick).unwrap();
    let d = start(&tb, "file:///nonexistent/flight.mp4", state.path(), 64);
    std::fs::copy(tb.good_bundle("8.0.0"), stick.join("skycount-8.0.0.raucb")).unwrap();
    let (r, _) = follow(&d, "installed", Duration::from_secs(60));
    assert_eq!(r["last"]["source"], "usb");
    assert_eq!(r["usb"]["bundle"], "skycount-8.0.0.raucb");
    assert!(
        r["usb"]["note"].as_str().unwrap().contains("installing"),
        "{r}"
    );
    assert!(
        stick.join("skycount-8.0.0.raucb").exists(),
        "the stick is only read"
    );
    // Rebooted with the stick still in: the new slot runs it and does not install it again.
    assert_eq!(tb.reboot(), "B");
    let (code, _) = confirm_boot(&d, &tb, &[]);
    assert_eq!(code, 0);
    drop(d);
    let d = start(&tb, "file:///nonexistent/flight.mp4", state.path(), 64);
    let r = wait_for(Duration::from_secs(30), || {
        let r = report(&d);
        r["usb"]["note"].as_str().map(|_| r.clone())
    })
    .unwrap();
    assert!(
        r["usb"]["note"]
            .as_str()
            .unwrap()
            .contains("already runs 8.0.0"),
        "{r}"
    );
    assert_eq!(r["activity"]["state"], "idle");
    assert_eq!(
        tb.writes()
            .iter()
            .filter(|c| c.starts_with("set-primary"))
            .count(),
        1
    );
}

#[test]
fn without_rauc_updates_are_reported_unavailable() {
    let state = tempfile::tempdir().unwrap();
    let port = free_port();
    let toml = test_config(
        "file:///nonexistent/flight.mp4",
        port,
        &tiny_model(),
        &operator_section(PIN, state.path()),
    ) + "[update]\nrauc = \"/nonexistent/rauc\"\n";
    let d = Daemon::start(&toml);
    let r = report(&d);
    assert_eq!(r["available"], false);
    assert!(
        r["reason"]
            .as_str()
            .unwrap()
            .contains("RAUC is not installed"),
        "{r}"
    );
    let cookie = sign_in(&d, PIN);
    let (code, answer) = upload(&d, &cookie, "x.raucb", vec![1, 2, 3]);
    assert_eq!(code, 503, "{answer}");
}
