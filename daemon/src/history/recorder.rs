//! The recorder: follows the hub's feed and writes it to the database, a batch a second.
//!
//! ```text
//!   Hub::feed() ──▶ recorder task (async) ──batch/s──▶ writer thread ──▶ SQLite (WAL)
//!                    Flights, snapshots                 prune, usage ──▶ Hub::set_history
//! ```
//!
//! The recorder knows the hub only through [`Live`] and [`Item`] (`publish::history` implements
//! them for the hub and its `Feed`), so `history` depends on nothing on the viewers' side and
//! tests drive it with a channel of their own.
//!
//! The task turns each [`Item`] into rows, cuts flights ([`Flights`]) and asks the hub for
//! a JPEG at a flight's peak and every `snapshot_every_s`. Once a second (or sooner when a batch
//! grows large) it hands the batch to the writer, a plain thread that owns the connection, so no
//! SQLite call ever runs on an async worker.
//!
//! Nothing here slows counting. The feed is a bounded broadcast: if the recorder falls more than
//! `FEED_CAPACITY` items behind it loses the oldest and counts them (`lost_rows`); a writer that
//! cannot keep up gets fewer, larger batches; and when the disk is full (or failing) the writer
//! drops what it cannot write, counts it, says "history paused: disk full" in the status and
//! tries again with a growing backoff (1 s up to 30 s) until a write succeeds.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant, SystemTime};

use tokio::sync::broadcast::error::{RecvError, TryRecvError};
use tokio_util::sync::CancellationToken;

use super::db::{self, AnalysisRow, Batch, SnapshotRow};
use super::flights::Flights;
use crate::analyse::Setup;
use crate::config::HistorySettings;
use crate::wire::{unix_ms, Alert, Analysis, HistoryReport, StreamReport};

/// One thing the recorder follows: what the hub's feed passes on.
#[derive(Debug, Clone)]
pub enum Item {
    Analysis(Arc<Analysis>),
    Stream(StreamReport),
    Alert(Alert),
    Setup(Setup),
}

/// What the recorder asks of the live side (the hub).
pub trait Live: Send + Sync + 'static {
    /// The frame analysis `seq` was made from, as JPEG; `None` when it is not the latest
    /// analysed frame any more (a newer analysis replaced it) or before the first.
    fn snapshot_jpeg(&self, seq: u64) -> Option<Result<Arc<Vec<u8>>, String>>;
    /// The same for another stream analysed beside the configured one (several drones).
    fn snapshot_jpeg_of(&self, _stream: &str, _seq: u64) -> Option<Result<Arc<Vec<u8>>, String>> {
        None
    }
    /// The history's state, for the status.
    fn set_history(&self, report: HistoryReport);
}

/// A batch is handed over at least this often: the most a crash loses.
const COMMIT_EVERY: Duration = Duration::from_secs(1);
/// ...or as soon as it holds this many analyses.
const BATCH_ANALYSES: usize = 256;
/// Rows kept waiting for a busy writer before the oldest analyses are dropped (and counted).
const MAX_WAITING: usize = 20_000;
/// Snapshots kept waiting for a busy writer (the newest).
const MAX_WAITING_SNAPSHOTS: usize = 4;
/// A peak snapshot is taken at most this often while the count keeps rising.
const PEAK_SNAPSHOT_EVERY_MS: u64 = 2_000;
/// How often the writer prunes to `retention_days` and `max_mb`.
const PRUNE_EVERY: Duration = Duration::from_secs(30);
/// The writer's backoff while paused.
const RETRY_FIRST: Duration = Duration::from_secs(1);
const RETRY_MOST: Duration = Duration::from_secs(30);

/// What the recorder needs from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    pub path: PathBuf,
    pub max_bytes: u64,
    pub retention_ms: u64,
    pub flight_gap_ms: u64,
    pub snapshot_every_ms: u64,
    /// The drone's stream path's key (`store::stream_key`), which flights are filed under.
    pub stream: String,
}

impl Options {
    pub fn from_settings(h: &HistorySettings, state_dir: &std::path::Path, stream: String) -> Self {
        Self {
            path: h.db_path(state_dir),
            max_bytes: h.max_mb * 1024 * 1024,
            retention_ms: u64::from(h.retention_days) * 86_400_000,
            flight_gap_ms: u64::from(h.flight_gap_s) * 1000,
            snapshot_every_ms: u64::from(h.snapshot_every_s) * 1000,
            stream,
        }
    }
}

fn now_ms() -> u64 {
    unix_ms(SystemTime::now())
}

/// Follows `feed` (the configured stream's) and `others` (the other drones' analyses, when
/// several are analysed: each its own flights, with its alerts) until `stop`, then writes what is
/// left (the feed's items included) and returns. Cancel `stop` once the engine has stopped, so
/// that its last analyses are kept.
pub async fn run<L: Live, F: Into<Item> + Clone>(
    hub: Arc<L>,
    mut feed: tokio::sync::broadcast::Receiver<F>,
    mut others: Option<tokio::sync::broadcast::Receiver<Arc<Analysis>>>,
    opts: Options,
    stop: CancellationToken,
) {
    let lost = Arc::new(AtomicU64::new(0));
    let (to_writer, batches) = mpsc::sync_channel::<Batch>(2);
    let (resumed_tx, resumed_rx) = tokio::sync::oneshot::channel::<Option<Resumed>>();
    let writer = {
        let hub = hub.clone();
        let opts = opts.clone();
        let lost = lost.clone();
        std::thread::Builder::new()
            .name("history".into())
            .spawn(move || {
                Writer::new(opts, lost, move |r| hub.set_history(r)).run(batches, resumed_tx)
            })
    };
    let writer = match writer {
        Ok(w) => w,
        Err(e) => {
            // Out of threads or memory: counting goes on without history.
            log::error!("history is off: cannot start its writer thread: {e}");
            return;
        }
    };
    // The flight a restart (or a crash) interrupted goes on if the drone is still up.
    let resumed = resumed_rx.await.ok().flatten();
    let mut rec = Recording::new(&opts, resumed, now_ms());
    // The other drones' recordings, by stream: made at their first analysis, dropped once their
    // flight has ended and been handed over.
    let mut other_recs: BTreeMap<String, Recording> = BTreeMap::new();
    let mut tick = tokio::time::interval(COMMIT_EVERY);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            item = feed.recv() => match item.map(Into::into) {
                Ok(Item::Analysis(a)) => {
                    if let Some(due) = rec.analysis(&a) {
                        rec.snapshot(due, &a, snapshot_jpeg(&hub, a.seq).await);
                    }
                    if rec.batch.analyses.len() >= BATCH_ANALYSES {
                        rec.hand_over(&to_writer, &lost);
                    }
                }
                // Another drone's alert belongs to its flight.
                Ok(Item::Alert(a)) if a.stream != opts.stream => {
                    other_of(&mut other_recs, &opts, &a.stream).other(Item::Alert(a), now_ms());
                }
                Ok(item) => rec.other(item, now_ms()),
                Err(RecvError::Lagged(n)) => {
                    log::warn!("history: fell {n} items behind the analyses; they are not kept");
                    lost.fetch_add(n, Ordering::Relaxed);
                }
                Err(RecvError::Closed) => break,
            },
            item = recv_other(&mut others), if others.is_some() => match item {
                Ok(a) => {
                    let r = other_of(&mut other_recs, &opts, a.stream.as_str());
                    if let Some(due) = r.analysis(&a) {
                        let jpeg = snapshot_jpeg_of(&hub, a.stream.as_str(), a.seq).await;
                        r.snapshot(due, &a, jpeg);
                    }
                }
                Err(RecvError::Lagged(n)) => {
                    log::warn!("history: fell {n} analyses of other drones behind; they are not kept");
                    lost.fetch_add(n, Ordering::Relaxed);
                }
                Err(RecvError::Closed) => others = None,
            },
            _ = tick.tick() => {
                let now = now_ms();
                rec.tick(now);
                rec.hand_over(&to_writer, &lost);
                for r in other_recs.values_mut() {
                    r.tick(now);
                    r.hand_over(&to_writer, &lost);
                }
                other_recs.retain(|_, r| r.flights.current().is_some() || !r.batch.is_empty());
            }
        }
    }
    // Stopping: what the feed still holds is kept (the engine has stopped by now, see
    // `commands::run`), and the flight stays open (a restart within flight_gap_s continues it).
    while let Some(rx) = others.as_mut() {
        match rx.try_recv() {
            Ok(a) => {
                other_of(&mut other_recs, &opts, a.stream.as_str()).analysis(&a);
            }
            Err(TryRecvError::Lagged(n)) => {
                lost.fetch_add(n, Ordering::Relaxed);
            }
            Err(_) => break,
        }
    }
    loop {
        match feed.try_recv().map(Into::into) {
            Ok(Item::Analysis(a)) => {
                rec.analysis(&a);
            }
            Ok(Item::Alert(a)) if a.stream != opts.stream => {
                other_of(&mut other_recs, &opts, &a.stream).other(Item::Alert(a), now_ms());
            }
            Ok(item) => rec.other(item, now_ms()),
            Err(TryRecvError::Lagged(n)) => {
                lost.fetch_add(n, Ordering::Relaxed);
            }
            Err(_) => break,
        }
    }
    let mut last = Vec::new();
    for r in std::iter::once(&mut rec).chain(other_recs.values_mut()) {
        r.tick(now_ms());
        r.batch.flight = r.flights.current().cloned();
        r.batch.alive_ms = Some(now_ms());
        last.push(std::mem::take(&mut r.batch));
    }
    let _ = tokio::task::spawn_blocking(move || {
        for batch in last.into_iter().filter(|b| !b.is_empty()) {
            let _ = to_writer.send(batch);
        }
        drop(to_writer);
        let _ = writer.join();
    })
    .await;
}

/// Another drone's recording, made at its first analysis or alert.
fn other_of<'a>(
    recs: &'a mut BTreeMap<String, Recording>,
    opts: &Options,
    stream: &str,
) -> &'a mut Recording {
    recs.entry(stream.to_string())
        .or_insert_with(|| Recording::of_other(opts, stream.to_string()))
}

/// The next analysis of another drone (`others` is `Some`: the select's guard says so).
async fn recv_other(
    others: &mut Option<tokio::sync::broadcast::Receiver<Arc<Analysis>>>,
) -> Result<Arc<Analysis>, RecvError> {
    match others {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Another drone's frame of analysis `seq` as JPEG, encoded off the async workers.
async fn snapshot_jpeg_of<L: Live>(hub: &Arc<L>, stream: &str, seq: u64) -> Option<Vec<u8>> {
    let (hub, stream) = (hub.clone(), stream.to_string());
    match tokio::task::spawn_blocking(move || hub.snapshot_jpeg_of(&stream, seq)).await {
        Ok(Some(Ok(jpeg))) => Some(jpeg.as_ref().clone()),
        _ => None,
    }
}

/// The frame of analysis `seq` as JPEG, encoded off the async workers.
async fn snapshot_jpeg<L: Live>(hub: &Arc<L>, seq: u64) -> Option<Vec<u8>> {
    let hub = hub.clone();
    match tokio::task::spawn_blocking(move || hub.snapshot_jpeg(seq)).await {
        Ok(Some(Ok(jpeg))) => Some(jpeg.as_ref().clone()),
        Ok(Some(Err(e))) => {
            log::warn!("history: no snapshot: {e}");
            None
        }
        _ => None,
    }
}

/// Which snapshot an analysis calls for.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Due {
    Peak,
    Periodic,
}

/// The task's state: the flights, the batch being filled, when snapshots are due.
struct Recording {
    flights: Flights,
    batch: Batch,
    state: String,
    snapshot_every_ms: u64,
    last_periodic_ms: Option<u64>,
    /// A peak not yet pictured, and when the last peak picture was taken.
    peak_due: bool,
    last_peak_shot_ms: Option<u64>,
    /// The zones were paused (the camera moving) at the last analysis.
    zones_paused: bool,
}

/// A flight a restart interrupted, to go on with: the flight, and how long it had gone without
/// an analysis while the skycountd before was recording.
type Resumed = (db::FlightRow, u64);

impl Recording {
    fn new(opts: &Options, resumed: Option<Resumed>, now: u64) -> Self {
        let mut flights = Flights::new(opts.stream.clone(), opts.flight_gap_ms);
        if let Some((f, quiet)) = resumed {
            flights.resume(f, quiet, now);
        }
        Self {
            flights,
            batch: Batch::default(),
            state: "waiting".into(),
            snapshot_every_ms: opts.snapshot_every_ms,
            last_periodic_ms: None,
            peak_due: false,
            last_peak_shot_ms: None,
            zones_paused: false,
        }
    }

    /// Another drone's recording: its own flights (a restart begins a new one: only the
    /// configured stream's flight is taken up again), counted as live while it is analysed.
    fn of_other(opts: &Options, stream: String) -> Self {
        let mut r = Self::new(
            &Options {
                stream,
                ..opts.clone()
            },
            None,
            now_ms(),
        );
        r.state = "live".into();
        r
    }

    /// Takes in an analysis; says which snapshot to take with it, if any.
    fn analysis(&mut self, a: &Analysis) -> Option<Due> {
        if a.demo {
            return None;
        }
        let t = a.wall_time_ms;
        let step = self.flights.analysis(t, a.smoothed);
        if let Some(ended) = step.ended {
            self.flight_ended(ended);
        }
        // While the camera moves the zones cover other ground: no zone counts are kept (the
        // total is the count of what is in view, and is kept), and the change is an event.
        let paused = a.camera.zones_paused;
        if paused != self.zones_paused {
            self.zones_paused = paused;
            let detail = serde_json::json!({
                "zones_paused": paused,
                "moving": a.camera.moving,
                "away": a.camera.away,
            });
            self.batch.events.push((t, "camera", detail.to_string()));
        }
        let zones: &[crate::wire::ZoneCount] = if paused { &[] } else { &a.zones };
        self.batch.analyses.push(AnalysisRow {
            t_ms: t,
            count: a.count,
            smoothed: a.smoothed,
            band: a.band,
            calibrated: a.calibrated,
            state: self.state.clone(),
            zones: serde_json::to_string(zones).unwrap_or_else(|_| "[]".into()),
        });
        self.peak_due |= step.new_peak;
        if self.peak_due
            && self
                .last_peak_shot_ms
                .is_none_or(|s| t.saturating_sub(s) >= PEAK_SNAPSHOT_EVERY_MS)
        {
            self.peak_due = false;
            self.last_peak_shot_ms = Some(t);
            return Some(Due::Peak);
        }
        if self
            .last_periodic_ms
            .is_none_or(|s| t.saturating_sub(s) >= self.snapshot_every_ms)
        {
            self.last_periodic_ms = Some(t);
            return Some(Due::Periodic);
        }
        None
    }

    /// Keeps the snapshot an analysis called for. Without its frame (a newer analysis had
    /// replaced it) the next analysis takes the snapshot instead, with its own time and count:
    /// a snapshot never shows another frame than the one its figures are from.
    fn snapshot(&mut self, due: Due, a: &Analysis, jpeg: Option<Vec<u8>>) {
        let Some(jpeg) = jpeg else {
            match due {
                Due::Peak => {
                    self.peak_due = true;
                    self.last_peak_shot_ms = None;
                }
                Due::Periodic => self.last_periodic_ms = None,
            }
            return;
        };
        self.batch.snapshots.push(SnapshotRow {
            peak: due == Due::Peak,
            t_ms: a.wall_time_ms,
            count: a.smoothed,
            jpeg,
            grid_width: a.density.width,
            grid_height: a.density.height,
            grid_max: a.density.max,
            grid: a.density.data.clone(),
        });
    }

    fn flight_ended(&mut self, ended: db::FlightRow) {
        log::info!(
            "history: flight of {} s ended (peak {:.0})",
            (ended.last_ms - ended.start_ms) / 1000,
            ended.peak
        );
        self.batch.ended.push(ended);
        self.last_periodic_ms = None;
        self.last_peak_shot_ms = None;
        self.peak_due = false;
    }

    /// Alerts, setup changes and the stream's state.
    fn other(&mut self, item: Item, now: u64) {
        match item {
            Item::Analysis(_) => {}
            Item::Alert(a) => self.batch.alerts.push(a),
            Item::Setup(s) => {
                let detail = serde_json::json!({
                    "calibration": s.calibration,
                    "masks": s.masks,
                    "zones": s.zones,
                });
                self.batch.events.push((now, "setup", detail.to_string()));
            }
            Item::Stream(r) => {
                let state = r.state.to_string();
                if state != self.state {
                    let detail = serde_json::json!({ "state": state, "error": r.error });
                    self.batch.events.push((now, "stream", detail.to_string()));
                    self.state = state;
                }
            }
        }
    }

    fn tick(&mut self, now: u64) {
        if let Some(ended) = self.flights.tick(now) {
            self.flight_ended(ended);
        }
    }

    /// Gives the batch to the writer, or keeps it (bounded) while the writer is busy.
    fn hand_over(&mut self, to_writer: &mpsc::SyncSender<Batch>, lost: &AtomicU64) {
        self.batch.flight = self.flights.current().cloned();
        self.batch.alive_ms = Some(now_ms());
        if self.batch.is_empty() {
            return;
        }
        match to_writer.try_send(std::mem::take(&mut self.batch)) {
            Ok(()) => {}
            Err(mpsc::TrySendError::Full(b)) | Err(mpsc::TrySendError::Disconnected(b)) => {
                self.batch = b;
                let over = self.batch.analyses.len().saturating_sub(MAX_WAITING);
                self.batch.analyses.drain(..over);
                // Snapshots are the large rows: only the newest few wait.
                let shots = self
                    .batch
                    .snapshots
                    .len()
                    .saturating_sub(MAX_WAITING_SNAPSHOTS);
                self.batch.snapshots.drain(..shots);
                lost.fetch_add((over + shots) as u64, Ordering::Relaxed);
            }
        }
    }
}

/// The writer thread: the connection, its state (ok or paused) and the report it keeps current.
struct Writer<R: Fn(HistoryReport)> {
    opts: Options,
    conn: Option<rusqlite::Connection>,
    lost: Arc<AtomicU64>,
    report: R,
    paused: Option<String>,
    retry_at: Instant,
    backoff: Duration,
    /// Flights that ended while paused: written with the next batch that gets through.
    ended: Vec<db::FlightRow>,
    pruned_at: Option<Instant>,
    usage: db::Usage,
}

impl<R: Fn(HistoryReport)> Writer<R> {
    fn new(opts: Options, lost: Arc<AtomicU64>, report: R) -> Self {
        Self {
            opts,
            conn: None,
            lost,
            report,
            paused: None,
            retry_at: Instant::now(),
            backoff: RETRY_FIRST,
            ended: Vec::new(),
            pruned_at: None,
            usage: db::Usage {
                bytes: 0,
                oldest_ms: None,
                flights: 0,
            },
        }
    }

    /// Opens the database, then writes every batch until the task hangs up.
    fn run(
        mut self,
        batches: mpsc::Receiver<Batch>,
        resumed: tokio::sync::oneshot::Sender<Option<Resumed>>,
    ) {
        let _ = resumed.send(self.open());
        self.publish();
        for batch in batches {
            self.write(batch);
        }
    }

    /// Opens the database; gives the flight left open if it may go on (skycountd is back within
    /// `flight_gap_s` of when it last recorded it, and it had not been quiet that long before),
    /// and ends the others.
    fn open(&mut self) -> Option<Resumed> {
        let result = (|| {
            let conn = db::open(&self.opts.path)?;
            let open = db::open_flight(&conn, &self.opts.stream)?;
            db::close_open_flights(&conn)?;
            Ok::<_, rusqlite::Error>((conn, open))
        })();
        match result {
            Ok((conn, open)) => {
                self.conn = Some(conn);
                self.resumed();
                self.prune();
                log::info!("history: recording to {}", self.opts.path.display());
                let gap = self.opts.flight_gap_ms;
                open.and_then(|(mut f, alive)| {
                    let quiet = alive - f.last_ms;
                    let down = now_ms().saturating_sub(alive);
                    (quiet < gap && down < gap).then(|| {
                        f.end_ms = None;
                        log::info!(
                            "history: the flight begun at {} goes on (skycountd was down {} s)",
                            f.start_ms,
                            down / 1000
                        );
                        (f, quiet)
                    })
                })
            }
            Err(e) => {
                self.pause(&e);
                None
            }
        }
    }

    fn write(&mut self, mut batch: Batch) {
        if self.conn.is_none() {
            if Instant::now() < self.retry_at {
                self.lost.fetch_add(batch.rows(), Ordering::Relaxed);
                self.ended.append(&mut batch.ended);
                return;
            }
            self.open();
            if self.conn.is_none() {
                self.lost.fetch_add(batch.rows(), Ordering::Relaxed);
                self.ended.append(&mut batch.ended);
                return;
            }
        }
        if self.paused.is_some() && Instant::now() < self.retry_at {
            self.lost.fetch_add(batch.rows(), Ordering::Relaxed);
            self.ended.append(&mut batch.ended);
            return;
        }
        let mut ended = std::mem::take(&mut self.ended);
        ended.append(&mut batch.ended);
        batch.ended = ended;
        let conn = self.conn.as_mut().expect("opened above");
        match db::write(conn, &batch) {
            Ok(()) => {
                if self.paused.is_some() {
                    self.resumed();
                }
                if self.pruned_at.is_none_or(|t| t.elapsed() >= PRUNE_EVERY) {
                    self.prune();
                }
                self.refresh_usage();
            }
            Err(e) => {
                self.lost.fetch_add(batch.rows(), Ordering::Relaxed);
                self.ended = batch.ended;
                self.pause(&e);
            }
        }
        self.publish();
    }

    fn pause(&mut self, e: &rusqlite::Error) {
        let what = match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => "disk full",
            _ if db::is_disk_trouble(e) => "the disk failed a write",
            _ => "the database cannot be written",
        };
        let reason = format!(
            "history paused: {what} ({e}, {}); counting goes on, and history resumes by itself \
             once it can write again",
            self.opts.path.display()
        );
        if self.paused.is_none() {
            log::warn!("{reason}");
            self.backoff = RETRY_FIRST;
        } else {
            self.backoff = (self.backoff * 2).min(RETRY_MOST);
        }
        self.retry_at = Instant::now() + self.backoff;
        self.paused = Some(reason);
        self.publish();
    }

    fn resumed(&mut self) {
        if self.paused.take().is_some() {
            log::info!(
                "history resumed ({} rows were not kept)",
                self.lost.load(Ordering::Relaxed)
            );
        }
        self.backoff = RETRY_FIRST;
        self.refresh_usage();
    }

    fn prune(&mut self) {
        let Some(conn) = self.conn.as_mut() else {
            return;
        };
        self.pruned_at = Some(Instant::now());
        match db::prune(conn, now_ms(), self.opts.retention_ms, self.opts.max_bytes) {
            Ok(0) => {}
            Ok(n) => log::info!("history: deleted the {n} oldest flights (retention or size cap)"),
            Err(e) => log::warn!("history: pruning failed: {e}"),
        }
        self.refresh_usage();
    }

    fn refresh_usage(&mut self) {
        if let Some(u) = self.conn.as_ref().and_then(|c| db::usage(c).ok()) {
            self.usage = u;
        }
    }

    fn publish(&self) {
        (self.report)(HistoryReport {
            enabled: true,
            state: if self.paused.is_some() {
                "paused"
            } else {
                "ok"
            },
            reason: self.paused.clone(),
            bytes: self.usage.bytes,
            max_bytes: self.opts.max_bytes,
            oldest_ms: self.usage.oldest_ms,
            flights: self.usage.flights,
            lost_rows: self.lost.load(Ordering::Relaxed),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::StreamState;
    use parking_lot::Mutex;

    /// The hub's part, as the recorder sees it.
    #[derive(Default)]
    struct FakeLive {
        reports: Mutex<Vec<HistoryReport>>,
        /// The analysis whose frame is the latest; `None`: whichever is asked for.
        frame_of: Mutex<Option<u64>>,
    }

    impl Live for FakeLive {
        fn snapshot_jpeg(&self, seq: u64) -> Option<Result<Arc<Vec<u8>>, String>> {
            let latest = self.frame_of.lock().unwrap_or(seq);
            (latest == seq).then(|| Ok(Arc::new(vec![0xff, 0xd8, 0xff, (seq % 200) as u8])))
        }
        fn set_history(&self, report: HistoryReport) {
            self.reports.lock().push(report);
        }
    }

    impl FakeLive {
        fn state(&self) -> Option<&'static str> {
            self.reports.lock().last().map(|r| r.state)
        }
    }

    fn analysis(seq: u64, t: u64, smoothed: f64) -> Arc<Analysis> {
        Arc::new(Analysis::example(seq, t, smoothed))
    }

    fn opts(dir: &std::path::Path) -> Options {
        Options {
            path: dir.join("h.sqlite"),
            max_bytes: 64 << 20,
            retention_ms: 86_400_000,
            flight_gap_ms: 60_000,
            snapshot_every_ms: 60_000,
            stream: "live_drone".into(),
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_feed_ends_up_in_the_database_within_a_second_or_two() {
        let dir = tempfile::tempdir().unwrap();
        let live = Arc::new(FakeLive::default());
        let (feed, rx) = tokio::sync::broadcast::channel::<Item>(64);
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(live.clone(), rx, None, opts(dir.path()), stop.clone()));
        // Wait until the recorder has opened the database.
        for _ in 0..200 {
            if live.state() == Some("ok") {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(live.state(), Some("ok"));
        let mut report = StreamReport::waiting("rtmp://x/live/drone".into());
        report.state = StreamState::Live;
        feed.send(Item::Stream(report)).unwrap();
        let t0 = now_ms();
        for (i, c) in [1.0, 5.0, 3.0].into_iter().enumerate() {
            feed.send(Item::Analysis(analysis(i as u64, t0 + i as u64 * 100, c)))
                .unwrap();
        }
        // A demo analysis is no flight's.
        let mut demo = (*analysis(9, t0 + 300, 50.0)).clone();
        demo.demo = true;
        feed.send(Item::Analysis(Arc::new(demo))).unwrap();
        feed.send(Item::Alert(Alert {
            id: 1,
            stream: "live_drone".into(),
            zone: "stage".into(),
            limit: 4,
            count: 5.0,
            raised_ms: t0 + 100,
            cleared_ms: None,
            acknowledged_ms: None,
        }))
        .unwrap();
        let conn = db::open_read(&dir.path().join("h.sqlite")).unwrap();
        let mut rows = 0;
        for _ in 0..400 {
            rows = conn
                .query_row("SELECT count(*) FROM analyses", [], |r| r.get(0))
                .unwrap();
            if rows == 3 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(rows, 3);
        stop.cancel();
        task.await.unwrap();
        let (peak, peak_ms, end): (f64, i64, Option<i64>) = conn
            .query_row("SELECT peak, peak_ms, end_ms FROM flights", [], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?))
            })
            .unwrap();
        assert_eq!((peak, peak_ms as u64, end), (5.0, t0 + 100, None));
        let (alerts, events, peak_shots): (i64, i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM alerts WHERE flight_id IS NOT NULL),
                        (SELECT count(*) FROM events WHERE kind = 'stream'),
                        (SELECT count(*) FROM snapshots WHERE kind = 'peak')",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((alerts, events, peak_shots), (1, 1, 1));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn another_drone_has_its_own_flights_and_alerts() {
        let dir = tempfile::tempdir().unwrap();
        let live = Arc::new(FakeLive::default());
        let (feed, rx) = tokio::sync::broadcast::channel::<Item>(64);
        let (others, others_rx) = tokio::sync::broadcast::channel::<Arc<Analysis>>(64);
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(
            live.clone(),
            rx,
            Some(others_rx),
            opts(dir.path()),
            stop.clone(),
        ));
        let t0 = now_ms();
        let north = |seq: u64, t: u64, c: f64| {
            let mut a = (*analysis(seq, t, c)).clone();
            a.stream = crate::sample::StreamId::new("live_north");
            Arc::new(a)
        };
        for i in 0..3u64 {
            feed.send(Item::Analysis(analysis(i, t0 + i * 100, 1.0)))
                .unwrap();
            others
                .send(north(i, t0 + i * 100 + 50, 7.0 + i as f64))
                .unwrap();
        }
        let alert = |stream: &str, id| Alert {
            id,
            stream: stream.into(),
            zone: "gate".into(),
            limit: 4,
            count: 9.0,
            raised_ms: t0 + 150,
            cleared_ms: None,
            acknowledged_ms: None,
        };
        feed.send(Item::Alert(alert("live_north", 2))).unwrap();
        feed.send(Item::Alert(alert("live_drone", 3))).unwrap();
        // Whatever the recorder had not read when it is stopped is kept.
        stop.cancel();
        task.await.unwrap();
        let conn = db::open_read(&dir.path().join("h.sqlite")).unwrap();
        let flights: Vec<(String, f64, i64)> = conn
            .prepare("SELECT stream, peak, analyses FROM flights ORDER BY stream")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            flights,
            [("live_drone".into(), 1.0, 3), ("live_north".into(), 9.0, 3)]
        );
        let alerts: Vec<(i64, String)> = conn
            .prepare(
                "SELECT a.alert_id, f.stream FROM alerts a JOIN flights f ON f.id = a.flight_id
                 ORDER BY a.alert_id",
            )
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .map(Result::unwrap)
            .collect();
        assert_eq!(
            alerts,
            [(2, "live_north".into()), (3, "live_drone".into())],
            "each alert in its own drone's flight"
        );
    }

    #[test]
    fn a_snapshot_is_never_of_another_frame_than_its_analysis() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recording::new(&opts(dir.path()), None, 0);
        let mut report = StreamReport::waiting("rtmp://x/live/drone".into());
        report.state = StreamState::Live;
        rec.other(Item::Stream(report), 0);
        let live = FakeLive::default();
        // The recorder reads analysis 1 when the hub's latest frame is already analysis 2's.
        *live.frame_of.lock() = Some(2);
        let mut shots = Vec::new();
        for (seq, t, count) in [(1u64, 1_000u64, 10.0), (2, 1_100, 9.0)] {
            let a = analysis(seq, t, count);
            if let Some(due) = rec.analysis(&a) {
                let jpeg = live.snapshot_jpeg(a.seq).map(|j| j.unwrap().to_vec());
                shots.push((seq, due, jpeg.is_some()));
                rec.snapshot(due, &a, jpeg);
            }
        }
        assert_eq!(
            shots,
            vec![(1, Due::Peak, false), (2, Due::Peak, true)],
            "analysis 1's peak waits for a frame of its own; analysis 2 takes it"
        );
        let kept: Vec<(u64, f64, u8)> = rec
            .batch
            .snapshots
            .iter()
            .map(|s| (s.t_ms, s.count, s.jpeg[3]))
            .collect();
        assert_eq!(
            kept,
            vec![(1_100, 9.0, 2)],
            "analysis 2's time, count and frame"
        );
    }

    #[test]
    fn while_the_camera_moves_no_zone_counts_are_kept_and_the_change_is_an_event() {
        let dir = tempfile::tempdir().unwrap();
        let mut rec = Recording::new(&opts(dir.path()), None, 0);
        let zoned = |seq: u64, t: u64, paused: bool| {
            let mut a = Analysis::example(seq, t, 10.0);
            a.zones = vec![crate::wire::ZoneCount {
                name: "stage".into(),
                count: 4.0,
                share: 0.4,
                limit: None,
                alerting: false,
            }];
            a.camera.judged = true;
            a.camera.moving = paused;
            a.camera.zones_paused = paused;
            Arc::new(a)
        };
        for (seq, paused) in [(1, false), (2, true), (3, true), (4, false)] {
            rec.analysis(&zoned(seq, seq * 1000, paused));
        }
        let zones: Vec<&str> = rec
            .batch
            .analyses
            .iter()
            .map(|r| r.zones.as_str())
            .collect();
        assert!(
            zones[0].contains("stage") && zones[3].contains("stage"),
            "{zones:?}"
        );
        assert_eq!(
            &zones[1..3],
            ["[]", "[]"],
            "no zone counts while the camera moves"
        );
        assert_eq!(rec.batch.analyses.len(), 4, "the total is kept all along");
        let events: Vec<(u64, &str, serde_json::Value)> = rec
            .batch
            .events
            .iter()
            .map(|(t, k, d)| (*t, *k, serde_json::from_str(d).unwrap()))
            .collect();
        assert_eq!(events.len(), 2, "{events:?}");
        assert_eq!((events[0].0, events[0].1), (2000, "camera"));
        assert_eq!(events[0].2["zones_paused"], true);
        assert_eq!(
            (events[1].0, events[1].2["zones_paused"].as_bool()),
            (4000, Some(false))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn what_a_slow_recorder_lost_from_the_feed_is_counted() {
        let dir = tempfile::tempdir().unwrap();
        let live = Arc::new(FakeLive::default());
        let (feed, rx) = tokio::sync::broadcast::channel::<Item>(4);
        let t0 = now_ms();
        for i in 0..10 {
            feed.send(Item::Analysis(analysis(i, t0 + i * 10, 1.0)))
                .unwrap();
        }
        let stop = CancellationToken::new();
        let task = tokio::spawn(run(live.clone(), rx, None, opts(dir.path()), stop.clone()));
        let mut lost = 0;
        for _ in 0..400 {
            lost = live.reports.lock().last().map_or(0, |r| r.lost_rows);
            if lost > 0 {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert_eq!(
            lost, 6,
            "10 sent into a feed of 4: the 6 oldest are lost and counted"
        );
        stop.cancel();
        task.await.unwrap();
        let kept: i64 = db::open_read(&dir.path().join("h.sqlite"))
            .unwrap()
            .query_row("SELECT count(*) FROM analyses", [], |r| r.get(0))
            .unwrap();
        assert_eq!(kept, 4);
    }

    #[test]
    fn a_restart_goes_on_with_the_flight_and_its_downtime_is_no_gap() {
        // flight_gap_s = 30 (opts: 60 s; here 30 s). The last analysis 35 s ago, skycountd last
        // recorded 20 s ago (15 s after it: a slow box, a link that stalled), and is back now:
        // 35 s since the last analysis, but 15 s of it watched.
        let dir = tempfile::tempdir().unwrap();
        let o = Options {
            flight_gap_ms: 30_000,
            ..opts(dir.path())
        };
        let now = now_ms();
        let flight = db::FlightRow {
            stream: "live_drone".into(),
            start_ms: now - 100_000,
            last_ms: now - 35_000,
            end_ms: None,
            peak: 9.0,
            peak_ms: now - 50_000,
        };
        let write = |alive: u64| {
            let mut conn = db::open(&o.path).unwrap();
            db::write(
                &mut conn,
                &Batch {
                    flight: Some(flight.clone()),
                    alive_ms: Some(alive),
                    ..Batch::default()
                },
            )
            .unwrap();
        };
        write(now - 20_000);
        let mut w = Writer::new(o.clone(), Arc::new(AtomicU64::new(0)), |_| {});
        let (resumed, quiet) = w.open().expect("the flight goes on");
        assert_eq!((resumed.start_ms, resumed.end_ms), (flight.start_ms, None));
        assert_eq!(quiet, 15_000);
        let mut rec = Recording::new(&o, Some((resumed, quiet)), now);
        assert!(
            rec.flights.tick(now + 14_999).is_none(),
            "15 s of the gap left"
        );
        let a = analysis(1, now + 5_000, 3.0);
        rec.analysis(&a);
        assert!(rec.batch.ended.is_empty(), "the same flight");
        assert_eq!(rec.flights.current().unwrap().start_ms, flight.start_ms);
        drop(w);
        // Down longer than the gap: the flight ended at its last analysis.
        write(now - 31_000);
        let mut w = Writer::new(o.clone(), Arc::new(AtomicU64::new(0)), |_| {});
        assert!(w.open().is_none());
        let end: Option<i64> = db::open_read(&o.path)
            .unwrap()
            .query_row("SELECT end_ms FROM flights", [], |r| r.get(0))
            .unwrap();
        assert_eq!(end, Some(flight.last_ms as i64));
    }

    #[test]
    fn a_full_disk_pauses_the_writer_and_a_later_write_resumes_it() {
        let dir = tempfile::tempdir().unwrap();
        let reports = Arc::new(parking_lot::Mutex::new(Vec::new()));
        let seen = reports.clone();
        let lost = Arc::new(AtomicU64::new(0));
        let mut w = Writer::new(opts(dir.path()), lost.clone(), move |r: HistoryReport| {
            seen.lock().push(r)
        });
        assert!(w.open().is_none());
        let batch = |t| Batch {
            flight: Some(db::FlightRow {
                stream: "s".into(),
                start_ms: 1,
                last_ms: t,
                end_ms: None,
                peak: 1.0,
                peak_ms: 1,
            }),
            analyses: vec![AnalysisRow {
                t_ms: t,
                count: 1.0,
                smoothed: 1.0,
                band: [0.0, 2.0],
                calibrated: false,
                state: "live".into(),
                zones: "[]".into(),
            }],
            ..Batch::default()
        };
        w.write(batch(2));
        // The disk fills up: SQLite says SQLITE_FULL.
        w.pause(&rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
            None,
        ));
        let last = reports.lock().last().cloned().unwrap();
        assert_eq!(last.state, "paused");
        assert!(last
            .reason
            .unwrap()
            .starts_with("history paused: disk full"));
        // Within the backoff, batches are counted as lost, not written.
        w.write(batch(3));
        assert_eq!(lost.load(Ordering::Relaxed), 1);
        // Once the backoff has passed, the next write goes through and history resumes.
        w.retry_at = Instant::now();
        w.write(batch(4));
        let last = reports.lock().last().cloned().unwrap();
        assert_eq!((last.state, last.flights, last.lost_rows), ("ok", 1, 1));
    }
}
