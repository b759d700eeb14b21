//! The flight history against real components: the real skycountd (tiny model, a recording as
//! its source), real SQLite files, kill -9, and a real tmpfs that fills up.
//!
//! - kill -9 during a stream of writes, five times: the database passes `PRAGMA
//!   integrity_check` every time, loses at most about the last second (the rows lost per kill are
//!   printed), and the flight goes on across the restarts.
//! - a full disk: history pauses ("history paused: disk full"), counting goes on, and once space
//!   is freed history resumes by itself.
//! - a zone set by the operator: its counts, its alert (acknowledged) and the zone change are in
//!   the flight, and the zone is a column of the CSV.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use common::*;

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

/// A looping 10 s recording (640x360, 15 fps).
fn clip(dir: &Path) -> PathBuf {
    recording(dir, 640, 360, 150)
}

fn config(clip: &Path, port: u16) -> String {
    test_config(
        &format!("file://{}", clip.display()),
        port,
        &tiny_model(),
        "[history]\nflight_gap_s = 60\nsnapshot_every_s = 10\n",
    )
}

/// skycountd recording into `db` (kept across the daemons of a test).
fn start(clip: &Path, db: &Path) -> Daemon {
    Daemon::start_with(&config(clip, free_port()), |c| {
        c.env("SKYCOUNT_HISTORY__PATH", db);
    })
}

fn open(db: &Path) -> rusqlite::Connection {
    rusqlite::Connection::open(db).unwrap()
}

fn count_since(db: &Path, since_ms: u64) -> (u64, Option<u64>) {
    let Ok(conn) =
        rusqlite::Connection::open_with_flags(db, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)
    else {
        return (0, None);
    };
    conn.query_row(
        "SELECT count(*), max(t_ms) FROM analyses WHERE t_ms >= ?1",
        [since_ms as i64],
        |r| {
            Ok((
                r.get::<_, i64>(0)? as u64,
                r.get::<_, Option<i64>>(1)?.map(|t| t as u64),
            ))
        },
    )
    .unwrap_or((0, None))
}

#[test]
fn kill_9_during_writes_keeps_the_database_whole_and_loses_at_most_the_last_second() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip(dir.path());
    let db = dir.path().join("history.sqlite");
    let mut report = Vec::new();
    for round in 0..5u64 {
        let started = now_ms();
        let mut daemon = start(&clip, &db);
        // Writes are going on: rows of this run are in the database.
        wait_for(Duration::from_secs(30), || {
            (count_since(&db, started).0 >= 3).then_some(())
        })
        .expect("no analysis reached the history within 30 s");
        // Kill at a different point of the commit cycle each round.
        std::thread::sleep(Duration::from_millis(150 + round * 170));
        let analysed = daemon.status()["totals"]["frames_analysed"]
            .as_u64()
            .unwrap();
        let killed_at = now_ms();
        daemon.proc.kill();

        let conn = open(&db);
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok", "round {round}: the database is damaged");
        drop(conn);
        let (kept, newest) = count_since(&db, started);
        let newest = newest.expect("rows of this run");
        let lost_ms = killed_at.saturating_sub(newest);
        let lost_rows = analysed.saturating_sub(kept);
        println!(
            "kill {round}: {analysed} analysed, {kept} kept, {lost_rows} lost; the newest kept \
             was made {lost_ms} ms before the kill"
        );
        report.push((lost_rows, lost_ms));
        // A commit a second; an analysis waits at most that long, plus the write (the machine
        // may be loaded: half a second of slack).
        assert!(
            lost_ms <= 1_500,
            "round {round}: {lost_ms} ms of analyses lost (at most about a second expected)"
        );
    }
    // A clean stop keeps everything: the recorder writes what it holds before the daemon exits.
    let started = now_ms();
    let mut daemon = start(&clip, &db);
    wait_for(Duration::from_secs(30), || {
        (count_since(&db, started).0 >= 3).then_some(())
    })
    .expect("no analysis reached the history within 30 s");
    std::thread::sleep(Duration::from_millis(500));
    let analysed = daemon.status()["totals"]["frames_analysed"]
        .as_u64()
        .unwrap();
    let (code, took) = daemon
        .proc
        .terminate(Duration::from_secs(5))
        .expect("skycountd stops on SIGTERM");
    assert!(code.success(), "{code:?}");
    let (kept, _) = count_since(&db, started);
    println!("SIGTERM: {analysed} analysed before the stop, {kept} kept; stopped in {took:?}");
    assert!(
        kept >= analysed,
        "a clean stop lost analyses: {kept} kept of {analysed}"
    );

    // The flight went on across the restarts (each within flight_gap_s).
    let conn = open(&db);
    let (flights, open): (i64, i64) = conn
        .query_row(
            "SELECT count(*), sum(end_ms IS NULL) FROM flights",
            [],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )
        .unwrap();
    assert_eq!((flights, open), (1, 1), "one flight, still open");
    println!(
        "rows lost per kill: {:?}",
        report.iter().map(|r| r.0).collect::<Vec<_>>()
    );
}

/// A tmpfs mounted for the test, unmounted however the test ends.
struct Tmpfs(PathBuf);

impl Tmpfs {
    fn mount(dir: &Path, size: &str) -> Result<Self, String> {
        let o = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir)
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !o.status.success() {
            return Err(String::from_utf8_lossy(&o.stderr).trim().to_string());
        }
        Ok(Self(dir.to_path_buf()))
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// Fills the file system under `path` with a file there until it takes no more byte.
fn fill(path: &Path) {
    use std::io::Write as _;
    let mut f = std::fs::File::create(path).unwrap();
    for chunk in [64 * 1024, 4096, 1] {
        let buf = vec![0u8; chunk];
        while f.write_all(&buf).is_ok() {}
    }
    let _ = f.sync_all();
}

#[test]
fn a_full_disk_pauses_history_counting_goes_on_and_history_resumes_by_itself() {
    let dir = tempfile::tempdir().unwrap();
    let clip = clip(dir.path());
    let mnt = dir.path().join("small");
    std::fs::create_dir(&mnt).unwrap();
    let _tmpfs = match Tmpfs::mount(&mnt, "3m") {
        Ok(t) => t,
        Err(e) => {
            println!("SKIPPED: cannot mount a tmpfs to fill up ({e}); run as root");
            return;
        }
    };
    let db = mnt.join("history.sqlite");
    let daemon = start(&clip, &db);
    let history = |d: &Daemon| d.status()["history"].clone();
    wait_for(Duration::from_secs(30), || {
        (count_since(&db, 0).0 >= 3).then_some(())
    })
    .expect("no analysis reached the history within 30 s");
    assert_eq!(history(&daemon)["state"], "ok");

    let filler = mnt.join("filler");
    fill(&filler);
    let paused = wait_for(Duration::from_secs(30), || {
        let h = history(&daemon);
        (h["state"] == "paused").then_some(h)
    })
    .expect("history did not pause on a full disk within 30 s");
    let reason = paused["reason"].as_str().unwrap().to_string();
    println!("status while full: {paused}");
    assert!(reason.starts_with("history paused: disk full"), "{reason}");

    // Counting goes on: new analyses while history is paused.
    let analysed = |d: &Daemon| d.status()["totals"]["frames_analysed"].as_u64().unwrap();
    let before = analysed(&daemon);
    wait_for(Duration::from_secs(20), || {
        (analysed(&daemon) >= before + 3).then_some(())
    })
    .expect("counting stopped while history was paused");
    assert_eq!(history(&daemon)["state"], "paused");

    std::fs::remove_file(&filler).unwrap();
    let freed_at = now_ms();
    let resumed = wait_for(Duration::from_secs(45), || {
        let h = history(&daemon);
        (h["state"] == "ok").then_some(h)
    })
    .expect("history did not resume within 45 s of space being freed");
    println!(
        "resumed {} ms after space was freed: {resumed}",
        now_ms() - freed_at
    );
    assert!(resumed["lost_rows"].as_u64().unwrap() > 0, "{resumed}");
    assert_eq!(resumed["reason"], serde_json::Value::Null);
    wait_for(Duration::from_secs(20), || {
        (count_since(&db, freed_at).0 >= 3).then_some(())
    })
    .expect("no analysis written after resuming");
    let ok: String = open(&db)
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(ok, "ok");
}

/// A request as the operator (signed in with `cookie`), with a JSON body: (status, body).
fn operator_send(d: &Daemon, cookie: &str, method: &str, path: &str, body: &str) -> (u16, String) {
    let url = format!("{}{path}", d.base());
    let mut res = match method {
        "DELETE" => agent().delete(&url).header("Cookie", cookie).call(),
        _ => match method {
            "PUT" => agent().put(&url),
            _ => agent().post(&url),
        }
        .header("Content-Type", "application/json")
        .header("Cookie", cookie)
        .send(body.to_string()),
    }
    .unwrap();
    let code = res.status().as_u16();
    (code, res.body_mut().read_to_string().unwrap())
}

#[test]
fn a_zones_counts_and_its_alert_reach_the_flight_and_its_exports() {
    let dir = tempfile::tempdir().unwrap();
    // A hovering camera: under snow (the other tests' clip) zones are paused for camera motion.
    let clip = still_recording(dir.path(), 640, 360, 150);
    let db = dir.path().join("history.sqlite");
    let pin = "history-test-pin";
    let cfg = test_config(
        &format!("file://{}", clip.display()),
        free_port(),
        &tiny_model(),
        &operator_section(pin, dir.path()),
    )
    .replace(
        "[analysis]\n",
        &format!(
            "[analysis]\nstate_dir = \"{}\"\nsmooth_ms = 1000\nalert_hold_ms = 500\n",
            dir.path().display()
        ),
    );
    let d = Daemon::start_with(&cfg, |c| {
        c.env("SKYCOUNT_HISTORY__PATH", &db);
    });
    let cookie = sign_in(&d, pin);
    // A zone over the whole frame with a limit the tiny model's count is always above.
    let (code, body) = operator_send(
        &d,
        &cookie,
        "PUT",
        "/api/operator/zones",
        r#"{"zones": [{"name": "whole, frame", "points": [[0,0],[1,0],[1,1],[0,1]], "limit": 1}]}"#,
    );
    assert_eq!(code, 200, "{body}");
    let alert = wait_for(Duration::from_secs(30), || {
        d.status()["alerts"].as_array()?.first().cloned()
    })
    .expect("no alert raised within 30 s");
    let id = alert["id"].as_u64().unwrap();
    let (code, body) = operator_send(
        &d,
        &cookie,
        "POST",
        &format!("/api/operator/alerts/{id}/ack"),
        "{}",
    );
    assert_eq!(code, 200, "{body}");

    // The flight has the alert (acknowledged), the zone's counts, and the setup it flew with.
    let flight = wait_for(Duration::from_secs(10), || {
        let v = d.get_json("/api/history/flights/1");
        let acked = v["alerts"][0]["acknowledged_ms"].as_u64().is_some();
        // The summary is read before the rows (docs/history.md): a document written while the
        // alert was recorded can list it and not count it yet; the next one counts it.
        let counted = v["flight"]["alerts"] == 1;
        let zoned = v["series"]
            .as_array()?
            .iter()
            .any(|p| p["zones"][0]["name"] == "whole, frame");
        (acked && counted && zoned).then_some(v)
    })
    .expect("the alert, acknowledged and counted, and the zone's counts in the flight within 10 s");
    assert_eq!(flight["alerts"][0]["id"].as_u64(), Some(id));
    assert_eq!(flight["alerts"][0]["zone"], "whole, frame");
    assert_eq!(flight["flight"]["alerts"], 1);
    assert!(
        flight["events"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["kind"] == "setup" && e["detail"]["zones"][0]["name"] == "whole, frame"),
        "the zone change is an event: {}",
        flight["events"]
    );
    let (code, csv) = d.get("/api/history/flights/1.csv").unwrap();
    assert_eq!(code, 200);
    let csv = String::from_utf8(csv).unwrap();
    let header = csv.lines().next().unwrap();
    assert!(header.ends_with(",\"zone:whole, frame\""), "{header}");
    let zoned_row = csv.lines().last().unwrap();
    let zone_count: f64 = zoned_row.rsplit(',').next().unwrap().parse().unwrap();
    assert!(zone_count > 1.0, "{zoned_row}");

    // Deleting a flight is the operator's, and only once it has ended.
    let path = "/api/operator/history/flights/1";
    let (code, body) = operator_send(&d, "", "DELETE", path, "");
    assert_eq!(code, 401, "{body}");
    let (code, body) = operator_send(&d, &cookie, "DELETE", path, "");
    assert_eq!(code, 409, "the flight is going on: {body}");
    let (code, body) = operator_send(
        &d,
        &cookie,
        "DELETE",
        "/api/operator/history/flights/1.csv",
        "",
    );
    assert_eq!(code, 400, "{body}");
    let mut d = d;
    d.proc
        .terminate(Duration::from_secs(10))
        .expect("skycountd stops");
    // What a start long after the drone has gone does with a flight a stop left open.
    open(&db)
        .execute(
            "UPDATE flights SET end_ms = last_ms WHERE end_ms IS NULL",
            [],
        )
        .unwrap();
    let unreachable = format!("rtmp://127.0.0.1:{}/live/drone", free_port());
    let d = Daemon::start_with(
        &cfg.replace(&format!("file://{}", clip.display()), &unreachable),
        |c| {
            c.env("SKYCOUNT_HISTORY__PATH", &db);
        },
    );
    let cookie = sign_in(&d, pin);
    let (code, body) = operator_send(&d, &cookie, "DELETE", path, "");
    assert_eq!(code, 204, "{body}");
    assert_eq!(d.get("/api/history/flights/1").unwrap().0, 404);
    assert_eq!(
        d.get_json("/api/history/flights")["flights"],
        serde_json::json!([])
    );
    let left: i64 = open(&db)
        .query_row(
            "SELECT (SELECT count(*) FROM analyses) + (SELECT count(*) FROM alerts)
                  + (SELECT count(*) FROM snapshots)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(
        left, 0,
        "the flight's analyses, alerts and snapshots went with it"
    );
    let (code, body) = operator_send(&d, &cookie, "DELETE", path, "");
    assert_eq!(code, 404, "{body}");
}
