//! The flight history's cost: time per analysis written, and the database's size per flight
//! hour, at the recorder's real batching (one commit a second) and the default snapshot rate;
//! then what exporting a day-long flight takes.
//!
//!   cargo bench --bench history                    (5 analyses/s, one simulated hour)
//!   BENCH_RATE=14 BENCH_HOURS=1 cargo bench --bench history
//!   BENCH_EXPORT_ROWS=200000 BENCH_EXPORT_ZONES=4 cargo bench --bench history
//!
//! Each analysis carries three zones (their JSON as the recorder keeps it); snapshots are a real
//! 1920x1080 drone frame encoded as the hub does (`publish::snapshot`), with an 80x45 density
//! grid: one every `history.snapshot_every_s` (60 s) and a new peak one every 2 s for the first
//! minute (a crowd gathering), each replacing the last. The time is the writer's: the `write` of
//! every batch, commit included (`synchronous = NORMAL` in WAL mode).
//!
//! The export: a flight of `BENCH_EXPORT_ROWS` analyses (a day at two a second) with
//! `BENCH_EXPORT_ZONES` zones each, exported as JSON and as CSV through the real routes
//! (`publish::history`, in process, the body read as a client reads it), one at a time and eight
//! at once. Printed: the bytes, the time, the peak of the heap this process allocated (a
//! counting allocator) and the peak of its resident memory (VmHWM, reset before each export),
//! both above what was in use before. Target: flat, a few MB, however long the flight.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Instant;

#[path = "../tests/common/mod.rs"]
mod common;

use common::{long_flight, proc_mib};
use skycountd::history::db::{self, AnalysisRow, Batch, FlightRow, SnapshotRow};
use skycountd::publish::snapshot::encode_jpeg;
use skycountd::sample::Frame;

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The system allocator, counting the bytes in use and their peak.
struct Counting;

static IN_USE: AtomicUsize = AtomicUsize::new(0);
static PEAK: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = unsafe { System.alloc(layout) };
        if !p.is_null() {
            let now = IN_USE.fetch_add(layout.size(), Relaxed) + layout.size();
            PEAK.fetch_max(now, Relaxed);
        }
        p
    }

    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        unsafe { System.dealloc(p, layout) };
        IN_USE.fetch_sub(layout.size(), Relaxed);
    }

    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let q = unsafe { System.realloc(p, layout, new_size) };
        if !q.is_null() {
            if new_size >= layout.size() {
                let now =
                    IN_USE.fetch_add(new_size - layout.size(), Relaxed) + new_size - layout.size();
                PEAK.fetch_max(now, Relaxed);
            } else {
                IN_USE.fetch_sub(layout.size() - new_size, Relaxed);
            }
        }
        q
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

fn main() {
    write_cost();
    export_memory();
}

/// A memory figure of this process in MiB (see `common::proc_mib`), `None` when there is none.
fn own_mib(field: &str) -> Option<f64> {
    Some(proc_mib(std::process::id(), field)).filter(|v| !v.is_nan())
}

/// The figures of one round of exports: bytes, seconds, heap and resident peaks above the start.
struct Round {
    bytes: u64,
    seconds: f64,
    heap_mib: f64,
    resident_mib: Option<f64>,
    refused: usize,
}

/// `n` requests for `uri` at once, each body read to its end.
fn export_round(rt: &tokio::runtime::Runtime, app: &axum::Router, uri: &str, n: usize) -> Round {
    use futures_util::StreamExt as _;
    use tower::ServiceExt as _;
    let reset = std::fs::write("/proc/self/clear_refs", "5").is_ok();
    let resident0 = own_mib("VmRSS");
    let heap0 = IN_USE.load(Relaxed);
    PEAK.store(heap0, Relaxed);
    let started = Instant::now();
    let answers = rt.block_on(async {
        let requests: Vec<_> = (0..n)
            .map(|_| {
                let app = app.clone();
                let uri = uri.to_string();
                tokio::spawn(async move {
                    let r = app
                        .oneshot(
                            axum::http::Request::get(&uri)
                                .header("host", "127.0.0.1")
                                .body(axum::body::Body::empty())
                                .unwrap(),
                        )
                        .await
                        .unwrap();
                    let ok = r.status().is_success();
                    let mut body = r.into_body().into_data_stream();
                    let mut bytes = 0u64;
                    while let Some(chunk) = body.next().await {
                        bytes += chunk.expect("the export ends whole").len() as u64;
                    }
                    (ok, bytes)
                })
            })
            .collect();
        let mut answers = Vec::new();
        for r in requests {
            answers.push(r.await.unwrap());
        }
        answers
    });
    let seconds = started.elapsed().as_secs_f64();
    let mib = |b: usize| b as f64 / 1048576.0;
    Round {
        bytes: answers.iter().filter(|a| a.0).map(|a| a.1).sum(),
        seconds,
        heap_mib: mib(PEAK.load(Relaxed).saturating_sub(heap0)),
        resident_mib: match (reset, resident0, own_mib("VmHWM")) {
            (true, Some(r0), Some(peak)) => Some(peak - r0),
            _ => None,
        },
        refused: answers.iter().filter(|a| !a.0).count(),
    }
}

fn export_memory() {
    let rows: u64 = env_or("BENCH_EXPORT_ROWS", 200_000);
    let zones: usize = env_or("BENCH_EXPORT_ZONES", 4);
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("day.sqlite");
    long_flight(&path, rows, zones);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let app = skycountd::publish::history::routes(Some(path));
    println!(
        "\nexporting a day-long flight ({rows} analyses, {zones} zones each) through the routes:"
    );
    println!("  export  at once  served  MB sent  seconds  heap peak  resident peak");
    for (form, n) in [("json", 1), ("csv", 1), ("json", 8), ("json", 1)] {
        let r = export_round(&rt, &app, &format!("/api/history/flights/1.{form}"), n);
        println!(
            "  {form:6}  {n:7}  {:6}  {:7.1}  {:7.1}  {:6.1} MiB  {}",
            n - r.refused,
            r.bytes as f64 / 1e6,
            r.seconds,
            r.heap_mib,
            r.resident_mib
                .map(|m| format!("{m:6.1} MiB"))
                .unwrap_or_else(|| "n/a (no clear_refs)".into())
        );
    }
}

fn write_cost() {
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
