//! The flight history's cost: time per analysis written, and the database's size per flight
//! hour, at the recorder's real batching (one commit a second) and the default snapshot rate.
//!
//!   cargo bench --bench history                    (5 analyses/s, one simulated hour)
//!   BENCH_RATE=14 BENCH_HOURS=1 cargo bench --bench history
//!
//! Each analysis carries three zones (their JSON as the recorder keeps it); snapshots are a real
//! 1920x1080 drone frame encoded as the hub does (`publish::snapshot`), with an 80x45 density
//! grid: one every `history.snapshot_every_s` (60 s) and a new peak one every 2 s for the first
//! minute (a crowd gathering), each replacing the last. The time is the writer's: the `write` of
//! every batch, commit included (`synchronous = NORMAL` in WAL mode).

use std::path::PathBuf;
use std::time::Instant;

use skycountd::history::db::{self, AnalysisRow, Batch, FlightRow, SnapshotRow};
use skycountd::publish::snapshot::encode_jpeg;
use skycountd::sample::Frame;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let rate: u64 = env_or("BENCH_RATE", 5);
    let hours: f64 = env_or("BENCH_HOURS", 1.0);
    let seconds = (hours * 3600.0) as u64;
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..");
    let img = image::open(root.join("../shared/testdata/drone/dronecrowd_seq001_1.jpg"))
        .expect("the drone test frames (../shared/testdata/drone)")
        .to_rgb8();
    let (w, h) = img.dimensions();
    let jpeg = encode_jpeg(&Frame::packed(w, h, img.into_raw())).unwrap();
    let grid: Vec<u8> = (0..80 * 45).map(|i| (i * 7 % 256) as u8).collect();
    let zones = serde_json::json!([
        {"name": "stage front", "count": 131.2, "share": 0.31, "limit": 300, "alerting": false},
        {"name": "exit north", "count": 12.7, "share": 0.03, "limit": 50, "alerting": false},
        {"name": "bar", "count": 40.0, "share": 0.09, "limit": null, "alerting": false}
    ])
    .to_string();

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("history.sqlite");
    let mut conn = db::open(&path).unwrap();
    let t0 = 1_800_000_000_000u64;
    let mut flight = FlightRow {
        stream: "live_drone".into(),
        start_ms: t0,
        last_ms: t0,
        end_ms: None,
        peak: 0.0,
        peak_ms: t0,
    };
    let mut commits = Vec::with_capacity(seconds as usize);
    let started = Instant::now();
    for s in 0..seconds {
        let t = t0 + s * 1000;
        let analyses: Vec<AnalysisRow> = (0..rate)
            .map(|i| AnalysisRow {
                t_ms: t + i * 1000 / rate,
                count: 400.0 + (s % 97) as f64,
                smoothed: 420.0,
                band: [210.0, 840.0],
                calibrated: true,
                state: "live".into(),
                zones: zones.clone(),
            })
            .collect();
        let snap = |peak| SnapshotRow {
            peak,
            t_ms: t,
            count: 420.0,
            jpeg: jpeg.clone(),
            grid_width: 80,
            grid_height: 45,
            grid_max: 2.5,
            grid: grid.clone(),
        };
        let mut snapshots = Vec::new();
        if s < 60 && s % 2 == 0 {
            snapshots.push(snap(true));
        }
        if s % 60 == 0 {
            snapshots.push(snap(false));
        }
        flight.last_ms = t;
        let batch = Batch {
            flight: Some(flight.clone()),
            analyses,
            snapshots,
            ..Batch::default()
        };
        let one = Instant::now();
        db::write(&mut conn, &batch).unwrap();
        commits.push(one.elapsed().as_secs_f64() * 1000.0);
    }
    let total = started.elapsed().as_secs_f64();
    conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")
        .unwrap();
    let usage = db::usage(&conn).unwrap();
    let file = std::fs::metadata(&path).unwrap().len();
    commits.sort_by(|a, b| a.total_cmp(b));
    let analyses = seconds * rate;
    println!("history write cost ({rate} analyses/s, {hours} h simulated, {seconds} commits):");
    println!(
        "  per analysis: {:.1} µs (all writes, snapshots included, / {analyses} analyses)",
        total * 1e6 / analyses as f64
    );
    println!(
        "  per commit: median {:.2} ms, p99 {:.2} ms, max {:.2} ms",
        commits[commits.len() / 2],
        commits[commits.len() * 99 / 100],
        commits[commits.len() - 1]
    );
    println!(
        "  snapshot JPEG: {} KiB (1920x1080 at the hub's quality)",
        jpeg.len() / 1024
    );
    println!(
        "  database: {:.1} MiB in use, file {:.1} MiB => {:.1} MiB per flight hour",
        usage.bytes as f64 / 1048576.0,
        file as f64 / 1048576.0,
        usage.bytes as f64 / 1048576.0 / hours
    );
}
