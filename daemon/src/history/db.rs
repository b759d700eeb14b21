//! The database: its schema, its migrations and every statement the history runs.
//!
//! One SQLite file in WAL mode with `synchronous = NORMAL`: a commit is appended to the
//! write-ahead log and survives the process being killed at any instant; a power cut may lose
//! the last commits not yet checkpointed by the OS, never the file's consistency. The recorder
//! commits at least once a second, so that is the most a crash loses.
//!
//! The schema's version is `PRAGMA user_version`; [`open`] runs the migrations from
//! [`MIGRATIONS`] the file has not had yet, each in its own transaction. Add a migration at the
//! end, never edit one that shipped.
//!
//! The file lives on the data partition, which a software update leaves alone, and an update
//! that does not come up healthy rolls back to the slot before (docs/update.md): so a file a
//! newer skycountd migrated is opened again by an older one. Migrations therefore only add (a
//! table, a column that may be NULL or has a DEFAULT, an index): an older skycountd names its
//! columns and keeps reading and writing such a file. A migration that an older skycountd cannot
//! live with (a column renamed, dropped or given a new meaning) must, in the same step, raise
//! the oldest schema that may still write the file: `CREATE TABLE IF NOT EXISTS schema_compat
//! (min_writer INTEGER NOT NULL); DELETE FROM schema_compat; INSERT INTO schema_compat VALUES
//! (<its version>)`. An older skycountd that meets it refuses to open the file for writing
//! ([`open`] fails saying why): the history pauses, counting goes on, and nothing in the file is
//! changed until the newer version runs again. Readers (the HTTP routes) never migrate.
//!
//! `auto_vacuum = INCREMENTAL` (set before the first table) lets pruning give pages back to the
//! file system, so the size cap is a cap on the file, not only on the rows.

use std::path::Path;

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;

/// The schema, one step per version (`user_version` = how many have run).
const MIGRATIONS: &[&str] = &[
    // 1: flights and what happened in them.
    "CREATE TABLE flights (
        id INTEGER PRIMARY KEY,
        stream TEXT NOT NULL,
        start_ms INTEGER NOT NULL,
        -- the last analysis's time; end_ms is set once the flight is over
        last_ms INTEGER NOT NULL,
        end_ms INTEGER,
        peak REAL NOT NULL,
        peak_ms INTEGER NOT NULL,
        analyses INTEGER NOT NULL DEFAULT 0,
        UNIQUE (stream, start_ms)
     );
     CREATE TABLE analyses (
        id INTEGER PRIMARY KEY,
        flight_id INTEGER NOT NULL REFERENCES flights(id) ON DELETE CASCADE,
        t_ms INTEGER NOT NULL,
        count REAL NOT NULL,
        smoothed REAL NOT NULL,
        band_lo REAL NOT NULL,
        band_hi REAL NOT NULL,
        calibrated INTEGER NOT NULL,
        state TEXT NOT NULL,
        -- [{\"name\", \"count\", \"share\", \"limit\", \"alerting\"}] as the analysis sent them
        zones TEXT NOT NULL
     );
     CREATE INDEX analyses_by_flight ON analyses (flight_id, t_ms);
     CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        alert_id INTEGER NOT NULL,
        flight_id INTEGER REFERENCES flights(id) ON DELETE CASCADE,
        stream TEXT NOT NULL,
        zone TEXT NOT NULL,
        limit_people INTEGER NOT NULL,
        count REAL NOT NULL,
        raised_ms INTEGER NOT NULL,
        cleared_ms INTEGER,
        acknowledged_ms INTEGER,
        UNIQUE (alert_id, raised_ms)
     );
     CREATE INDEX alerts_by_time ON alerts (raised_ms);
     CREATE TABLE events (
        id INTEGER PRIMARY KEY,
        flight_id INTEGER REFERENCES flights(id) ON DELETE CASCADE,
        t_ms INTEGER NOT NULL,
        kind TEXT NOT NULL,
        detail TEXT NOT NULL
     );
     CREATE INDEX events_by_time ON events (t_ms);
     CREATE TABLE snapshots (
        id INTEGER PRIMARY KEY,
        flight_id INTEGER NOT NULL REFERENCES flights(id) ON DELETE CASCADE,
        kind TEXT NOT NULL CHECK (kind IN ('peak', 'periodic')),
        t_ms INTEGER NOT NULL,
        count REAL NOT NULL,
        jpeg BLOB NOT NULL,
        grid_width INTEGER NOT NULL,
        grid_height INTEGER NOT NULL,
        grid_max REAL NOT NULL,
        grid BLOB NOT NULL
     );
     CREATE INDEX snapshots_by_flight ON snapshots (flight_id, kind);",
    // 2: when skycountd was last seen recording a flight (its last commit): a restart within
    // flight_gap_s of it goes on with the flight, and its downtime does not count as a gap.
    "ALTER TABLE flights ADD COLUMN alive_ms INTEGER;",
];

/// Opens (creating it and its folder when missing) and migrates the database for writing.
pub fn open(path: &Path) -> rusqlite::Result<Connection> {
    if let Some(dir) = path.parent() {
        // A missing folder shows up as SQLite's "unable to open" below, with the path.
        let _ = std::fs::create_dir_all(dir);
    }
    let mut conn = Connection::open(path)?;
    configure(&conn)?;
    migrate(&mut conn)?;
    Ok(conn)
}

/// Opens an existing database to read (the HTTP routes): never creates or migrates it.
pub fn open_read(path: &Path) -> rusqlite::Result<Connection> {
    let conn = open_file(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    conn.busy_timeout(std::time::Duration::from_secs(2))?;
    Ok(conn)
}

/// Opens an existing database to change it from outside the recorder (the operator deleting a
/// flight): never creates or migrates it. SQLite serialises it with the recorder's writes.
pub fn open_existing(path: &Path) -> rusqlite::Result<Connection> {
    let conn = open_file(path, rusqlite::OpenFlags::SQLITE_OPEN_READ_WRITE)?;
    configure(&conn)?;
    Ok(conn)
}

/// An existing database file (`SQLITE_OPEN_CREATE` is never among the flags), one thread's.
fn open_file(path: &Path, flags: rusqlite::OpenFlags) -> rusqlite::Result<Connection> {
    Connection::open_with_flags(path, flags | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX)
}

fn configure(conn: &Connection) -> rusqlite::Result<()> {
    conn.busy_timeout(std::time::Duration::from_secs(2))?;
    // Only takes effect on an empty file, before the first table: which is when it is needed.
    conn.pragma_update(None, "auto_vacuum", "INCREMENTAL")?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.pragma_update(None, "foreign_keys", true)?;
    Ok(())
}

fn migrate(conn: &mut Connection) -> rusqlite::Result<()> {
    let done: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    let known = MIGRATIONS.len() as i64;
    if done > known {
        return newer_schema(conn, done, known);
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(done as usize) {
        let tx = conn.transaction()?;
        tx.execute_batch(step)?;
        tx.pragma_update(None, "user_version", i as i64 + 1)?;
        tx.commit()?;
    }
    Ok(())
}

/// A file a newer skycountd migrated (schema `done`, this one knows `known`): fine when every
/// step it had was additive; refused when one raised `schema_compat.min_writer` past `known`.
fn newer_schema(conn: &Connection, done: i64, known: i64) -> rusqlite::Result<()> {
    let has_compat: bool = conn.query_row(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_compat'",
        [],
        |r| r.get::<_, i64>(0).map(|n| n > 0),
    )?;
    let min_writer: Option<i64> = if has_compat {
        conn.query_row("SELECT max(min_writer) FROM schema_compat", [], |r| {
            r.get(0)
        })?
    } else {
        None
    };
    match min_writer {
        Some(m) if m > known => Err(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_CANTOPEN),
            Some(format!(
                "the history was written by a newer skycountd (schema {done}; this one knows \
                 schemas up to {known}, and the file needs {m} or newer to be written): it is \
                 left as it is; the box records again once it runs the newer version (was an \
                 update rolled back? see the Software update section)"
            )),
        )),
        _ => {
            log::warn!(
                "the history was written by a newer skycountd (schema {done}; this one knows \
                 up to {known}); its changes are additive, so it is read and written as it is"
            );
            Ok(())
        }
    }
}

/// The flight as the recorder holds it in memory; written (inserted or updated) at each commit.
#[derive(Debug, Clone, PartialEq)]
pub struct FlightRow {
    pub stream: String,
    pub start_ms: u64,
    pub last_ms: u64,
    pub end_ms: Option<u64>,
    pub peak: f64,
    pub peak_ms: u64,
}

/// One analysis as kept.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AnalysisRow {
    pub t_ms: u64,
    pub count: f64,
    pub smoothed: f64,
    pub band: [f64; 2],
    pub calibrated: bool,
    /// The stream's state when it was made (`live`, `stalled`, …).
    pub state: String,
    /// The zones' counts, as JSON (`[]` without zones).
    pub zones: String,
}

/// A snapshot to keep: at the flight's peak (replacing the previous peak one) or periodic.
#[derive(Debug, Clone, PartialEq)]
pub struct SnapshotRow {
    pub peak: bool,
    pub t_ms: u64,
    pub count: f64,
    pub jpeg: Vec<u8>,
    pub grid_width: u32,
    pub grid_height: u32,
    pub grid_max: f32,
    pub grid: Vec<u8>,
}

#[cfg(test)]
impl SnapshotRow {
    /// A peak snapshot at `t_ms` of 7 people: a 4-byte JPEG and a 2x1 grid (`AP8=` in base64).
    pub fn tiny_peak(t_ms: u64) -> Self {
        Self {
            peak: true,
            t_ms,
            count: 7.0,
            jpeg: vec![0xff, 0xd8, 0xff, 0xd9],
            grid_width: 2,
            grid_height: 1,
            grid_max: 2.0,
            grid: vec![0, 255],
        }
    }
}

/// Everything one commit writes; rows belong to `flight` (alerts and events may come without
/// one, between flights).
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Batch {
    pub flight: Option<FlightRow>,
    pub analyses: Vec<AnalysisRow>,
    pub snapshots: Vec<SnapshotRow>,
    pub alerts: Vec<crate::wire::Alert>,
    /// (time, kind, detail as JSON)
    pub events: Vec<(u64, &'static str, String)>,
    /// Flights that ended since the last commit, written before `flight`.
    pub ended: Vec<FlightRow>,
    /// When this batch was handed over: kept as `flight`'s `alive_ms` (skycountd was recording
    /// it then).
    pub alive_ms: Option<u64>,
}

impl Batch {
    /// Rows it holds (what is lost when it cannot be written).
    pub fn rows(&self) -> u64 {
        (self.analyses.len() + self.snapshots.len() + self.alerts.len() + self.events.len()) as u64
    }

    pub fn is_empty(&self) -> bool {
        self.rows() == 0 && self.flight.is_none() && self.ended.is_empty()
    }
}

/// Inserts or updates a flight (known by its stream and start) and gives its id.
fn upsert_flight(tx: &Connection, f: &FlightRow) -> rusqlite::Result<i64> {
    tx.query_row(
        "INSERT INTO flights (stream, start_ms, last_ms, end_ms, peak, peak_ms)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)
         ON CONFLICT (stream, start_ms) DO UPDATE SET
            last_ms = excluded.last_ms, end_ms = excluded.end_ms,
            peak = excluded.peak, peak_ms = excluded.peak_ms
         RETURNING id",
        params![
            f.stream,
            f.start_ms as i64,
            f.last_ms as i64,
            f.end_ms.map(|e| e as i64),
            f.peak,
            f.peak_ms as i64
        ],
        |r| r.get(0),
    )
}

/// Writes a batch in one transaction: all of it or (on an error) none.
pub fn write(conn: &mut Connection, batch: &Batch) -> rusqlite::Result<()> {
    let tx = conn.transaction()?;
    for f in &batch.ended {
        upsert_flight(&tx, f)?;
    }
    let flight_id = match &batch.flight {
        Some(f) => Some(upsert_flight(&tx, f)?),
        None => None,
    };
    if let (Some(id), Some(alive)) = (flight_id, batch.alive_ms) {
        tx.execute(
            "UPDATE flights SET alive_ms = ?2 WHERE id = ?1",
            params![id, alive as i64],
        )?;
    }
    if let Some(id) = flight_id {
        let mut insert = tx.prepare_cached(
            "INSERT INTO analyses (flight_id, t_ms, count, smoothed, band_lo, band_hi, calibrated,
                                   state, zones)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
        )?;
        for a in &batch.analyses {
            insert.execute(params![
                id,
                a.t_ms as i64,
                a.count,
                a.smoothed,
                a.band[0],
                a.band[1],
                a.calibrated,
                a.state,
                a.zones
            ])?;
        }
        tx.execute(
            "UPDATE flights SET analyses = analyses + ?2 WHERE id = ?1",
            params![id, batch.analyses.len() as i64],
        )?;
        for s in &batch.snapshots {
            if s.peak {
                tx.execute(
                    "DELETE FROM snapshots WHERE flight_id = ?1 AND kind = 'peak'",
                    [id],
                )?;
            }
            tx.execute(
                "INSERT INTO snapshots (flight_id, kind, t_ms, count, jpeg, grid_width,
                                        grid_height, grid_max, grid)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    id,
                    if s.peak { "peak" } else { "periodic" },
                    s.t_ms as i64,
                    s.count,
                    s.jpeg,
                    s.grid_width,
                    s.grid_height,
                    f64::from(s.grid_max),
                    s.grid
                ],
            )?;
        }
    }
    for a in &batch.alerts {
        tx.execute(
            "INSERT INTO alerts (alert_id, flight_id, stream, zone, limit_people, count,
                                 raised_ms, cleared_ms, acknowledged_ms)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
             ON CONFLICT (alert_id, raised_ms) DO UPDATE SET
                cleared_ms = excluded.cleared_ms, acknowledged_ms = excluded.acknowledged_ms",
            params![
                a.id as i64,
                flight_id,
                a.stream,
                a.zone,
                a.limit,
                a.count,
                a.raised_ms as i64,
                a.cleared_ms.map(|t| t as i64),
                a.acknowledged_ms.map(|t| t as i64)
            ],
        )?;
    }
    for (t, kind, detail) in &batch.events {
        tx.execute(
            "INSERT INTO events (flight_id, t_ms, kind, detail) VALUES (?1, ?2, ?3, ?4)",
            params![flight_id, *t as i64, kind, detail],
        )?;
    }
    tx.commit()
}

/// The newest flight of `stream` left open (by a restart, a crash or a power cut), if any, and when
/// skycountd was last seen recording it (its last commit; its last analysis for a flight
/// written before that was kept).
pub fn open_flight(conn: &Connection, stream: &str) -> rusqlite::Result<Option<(FlightRow, u64)>> {
    conn.query_row(
        "SELECT stream, start_ms, last_ms, peak, peak_ms, alive_ms FROM flights
         WHERE end_ms IS NULL AND stream = ?1 ORDER BY start_ms DESC LIMIT 1",
        [stream],
        |r| {
            let f = FlightRow {
                stream: r.get(0)?,
                start_ms: r.get::<_, i64>(1)? as u64,
                last_ms: r.get::<_, i64>(2)? as u64,
                end_ms: None,
                peak: r.get(3)?,
                peak_ms: r.get::<_, i64>(4)? as u64,
            };
            let alive = r.get::<_, Option<i64>>(5)?.map_or(f.last_ms, |a| a as u64);
            let alive = alive.max(f.last_ms);
            Ok((f, alive))
        },
    )
    .optional()
}

/// Ends the flights a crash or a power cut left open, at their last analysis; gives how many.
pub fn close_open_flights(conn: &Connection) -> rusqlite::Result<usize> {
    conn.execute(
        "UPDATE flights SET end_ms = last_ms WHERE end_ms IS NULL",
        [],
    )
}

/// What deleting a flight did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Deleted {
    /// The flight, its analyses, snapshots, alerts and events are gone.
    Done,
    Missing,
    /// The flight is going on (the recorder writes to it): not deleted.
    Open,
}

/// Deletes an ended flight with everything recorded in it, and gives the pages back. A flight
/// going on is left alone: its end is written by the recorder first, after which the recorder
/// never writes to it again.
pub fn delete_flight(conn: &Connection, id: i64) -> rusqlite::Result<Deleted> {
    if conn.execute(
        "DELETE FROM flights WHERE id = ?1 AND end_ms IS NOT NULL",
        [id],
    )? == 1
    {
        conn.execute_batch("PRAGMA incremental_vacuum")?;
        return Ok(Deleted::Done);
    }
    let open: Option<bool> = conn
        .query_row(
            "SELECT end_ms IS NULL FROM flights WHERE id = ?1",
            [id],
            |r| r.get(0),
        )
        .optional()?;
    Ok(if open == Some(true) {
        Deleted::Open
    } else {
        Deleted::Missing
    })
}

/// What the database holds, for the status.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Bytes in use (pages not free).
    pub bytes: u64,
    pub oldest_ms: Option<u64>,
    pub flights: u64,
}

pub fn usage(conn: &Connection) -> rusqlite::Result<Usage> {
    let pragma = |name| conn.pragma_query_value(None, name, |r| r.get::<_, i64>(0));
    let (page_size, pages, free) = (
        pragma("page_size")?,
        pragma("page_count")?,
        pragma("freelist_count")?,
    );
    let (flights, oldest): (i64, Option<i64>) =
        conn.query_row("SELECT count(*), min(start_ms) FROM flights", [], |r| {
            Ok((r.get(0)?, r.get(1)?))
        })?;
    Ok(Usage {
        bytes: (pages.saturating_sub(free) * page_size) as u64,
        oldest_ms: oldest.map(|t| t as u64),
        flights: flights as u64,
    })
}

/// Deletes what is past `retention_ms` before `now_ms`, then the oldest flights (or, when only
/// the current one is left, its oldest analyses and periodic snapshots) until the data fits in
/// `max_bytes`; gives the pages back. Returns how many flights were deleted.
pub fn prune(
    conn: &mut Connection,
    now_ms: u64,
    retention_ms: u64,
    max_bytes: u64,
) -> rusqlite::Result<u64> {
    let cutoff = now_ms.saturating_sub(retention_ms) as i64;
    let mut deleted = conn.execute(
        "DELETE FROM flights WHERE end_ms IS NOT NULL AND end_ms < ?1",
        [cutoff],
    )? as u64;
    conn.execute(
        "DELETE FROM alerts WHERE flight_id IS NULL AND raised_ms < ?1",
        [cutoff],
    )?;
    conn.execute(
        "DELETE FROM events WHERE flight_id IS NULL AND t_ms < ?1",
        [cutoff],
    )?;
    // Each round frees a flight or a slice of one; the data shrinks, so this ends.
    for _ in 0..10_000 {
        if usage(conn)?.bytes <= max_bytes {
            break;
        }
        let oldest: Option<(i64, bool)> = conn
            .query_row(
                "SELECT id, end_ms IS NULL FROM flights ORDER BY start_ms LIMIT 1",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let Some((id, open)) = oldest else { break };
        let flights: i64 = conn.query_row("SELECT count(*) FROM flights", [], |r| r.get(0))?;
        if flights > 1 || !open {
            conn.execute("DELETE FROM flights WHERE id = ?1", [id])?;
            deleted += 1;
        } else {
            // The one flight left is going on: keep its newest part.
            let tx = conn.transaction()?;
            tx.execute(
                "DELETE FROM analyses WHERE id IN (SELECT id FROM analyses WHERE flight_id = ?1
                 ORDER BY t_ms LIMIT 1000)",
                [id],
            )?;
            let snaps = tx.execute(
                "DELETE FROM snapshots WHERE id IN (SELECT id FROM snapshots WHERE flight_id = ?1
                 AND kind = 'periodic' ORDER BY t_ms LIMIT 5)",
                [id],
            )?;
            let left: i64 = tx.query_row(
                "SELECT count(*) FROM analyses WHERE flight_id = ?1",
                [id],
                |r| r.get(0),
            )?;
            tx.commit()?;
            if left == 0 && snaps == 0 {
                break;
            }
        }
    }
    conn.execute_batch("PRAGMA incremental_vacuum")?;
    Ok(deleted)
}

/// Whether an error means the disk (or the file system under the database) cannot take more:
/// full, or failing to write. History pauses on these and retries; others are bugs or a
/// damaged file and are reported as they are.
pub fn is_disk_trouble(e: &rusqlite::Error) -> bool {
    use rusqlite::ErrorCode::{DiskFull, SystemIoFailure};
    matches!(e.sqlite_error_code(), Some(DiskFull | SystemIoFailure))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flight(start: u64) -> FlightRow {
        FlightRow {
            stream: "live_drone".into(),
            start_ms: start,
            last_ms: start,
            end_ms: None,
            peak: 0.0,
            peak_ms: start,
        }
    }

    fn analysis(t: u64) -> AnalysisRow {
        AnalysisRow {
            t_ms: t,
            count: 3.0,
            smoothed: 2.5,
            band: [2.0, 3.0],
            calibrated: false,
            state: "live".into(),
            zones: "[]".into(),
        }
    }

    #[test]
    fn migrations_run_once_and_the_file_is_wal() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("sub/h.sqlite");
        let conn = open(&p).unwrap();
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, MIGRATIONS.len());
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        assert_eq!(mode, "wal");
        drop(conn);
        // Opening again runs nothing (a CREATE TABLE would fail).
        open(&p).unwrap();
    }

    /// After an update rolled back: this skycountd opens a file a newer one migrated.
    #[test]
    fn a_file_from_a_newer_skycountd_is_used_when_its_changes_are_additive_and_left_alone_when_not()
    {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("h.sqlite");
        let known = MIGRATIONS.len();
        let mut conn = open(&p).unwrap();
        write(
            &mut conn,
            &Batch {
                flight: Some(flight(1000)),
                analyses: vec![analysis(1000)],
                ..Batch::default()
            },
        )
        .unwrap();
        // A newer skycountd added a column and a table: this one reads and writes the file.
        conn.execute_batch(&format!(
            "ALTER TABLE analyses ADD COLUMN heading REAL; CREATE TABLE weather (t_ms INTEGER);
             PRAGMA user_version = {}",
            known + 1
        ))
        .unwrap();
        drop(conn);
        let mut conn = open(&p).expect("an additive newer schema is used");
        write(
            &mut conn,
            &Batch {
                flight: Some(flight(1000)),
                analyses: vec![analysis(2000)],
                ..Batch::default()
            },
        )
        .unwrap();
        let rows: i64 = conn
            .query_row("SELECT count(*) FROM analyses", [], |r| r.get(0))
            .unwrap();
        assert_eq!(rows, 2);
        let v: i64 = conn
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(v as usize, known + 1, "not migrated back");
        // A later one changed something this one cannot live with, and said so.
        conn.execute_batch(&format!(
            "CREATE TABLE schema_compat (min_writer INTEGER NOT NULL);
             INSERT INTO schema_compat VALUES ({0}); PRAGMA user_version = {0}",
            known + 2
        ))
        .unwrap();
        drop(conn);
        let contents = |c: &Connection| -> (i64, String, i64) {
            c.query_row(
                "SELECT (SELECT group_concat(sql, ';') FROM sqlite_master),
                        (SELECT count(*) FROM analyses)",
                [],
                |r| {
                    Ok((
                        c.pragma_query_value(None, "user_version", |v| v.get(0))?,
                        r.get(0)?,
                        r.get(1)?,
                    ))
                },
            )
            .unwrap()
        };
        let before = contents(&open_read(&p).unwrap());
        let e = open(&p).unwrap_err().to_string();
        assert!(
            e.contains("written by a newer skycountd")
                && e.contains(&format!("needs {} or newer", known + 2)),
            "{e}"
        );
        // Nothing in it was changed, and the dashboard still reads it.
        let r = open_read(&p).unwrap();
        assert_eq!(contents(&r), before);
        let n: i64 = r
            .query_row("SELECT count(*) FROM flights", [], |r| r.get(0))
            .unwrap();
        assert_eq!(n, 1);
    }

    #[test]
    fn a_flight_is_upserted_and_its_rows_follow_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("h.sqlite")).unwrap();
        let mut f = flight(1000);
        let batch = Batch {
            flight: Some(f.clone()),
            analyses: vec![analysis(1000), analysis(1500)],
            ..Batch::default()
        };
        write(&mut conn, &batch).unwrap();
        f.last_ms = 2000;
        f.peak = 9.0;
        write(
            &mut conn,
            &Batch {
                flight: Some(f.clone()),
                analyses: vec![analysis(2000)],
                ..Batch::default()
            },
        )
        .unwrap();
        let (n, peak, count): (i64, f64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM flights), peak, analyses FROM flights",
                [],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .unwrap();
        assert_eq!((n, peak, count), (1, 9.0, 3));
        assert_eq!(close_open_flights(&conn).unwrap(), 1);
        let end: i64 = conn
            .query_row("SELECT end_ms FROM flights", [], |r| r.get(0))
            .unwrap();
        assert_eq!(end, 2000);
    }

    #[test]
    fn an_ended_flight_is_deleted_with_its_rows_and_one_going_on_is_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let mut conn = open(&path).unwrap();
        let ended = FlightRow {
            end_ms: Some(1500),
            ..flight(1000)
        };
        write(
            &mut conn,
            &Batch {
                flight: Some(ended),
                analyses: vec![analysis(1000), analysis(1500)],
                ..Batch::default()
            },
        )
        .unwrap();
        write(
            &mut conn,
            &Batch {
                flight: Some(flight(5000)),
                analyses: vec![analysis(5000)],
                ..Batch::default()
            },
        )
        .unwrap();
        let ids: Vec<i64> = conn
            .prepare("SELECT id FROM flights ORDER BY start_ms")
            .unwrap()
            .query_map([], |r| r.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        // From a second connection, as the HTTP route does, beside the recorder's.
        let other = open_existing(&path).unwrap();
        assert_eq!(delete_flight(&other, ids[1]).unwrap(), Deleted::Open);
        assert_eq!(delete_flight(&other, ids[0]).unwrap(), Deleted::Done);
        assert_eq!(delete_flight(&other, ids[0]).unwrap(), Deleted::Missing);
        let (flights, analyses): (i64, i64) = conn
            .query_row(
                "SELECT (SELECT count(*) FROM flights), (SELECT count(*) FROM analyses)",
                [],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .unwrap();
        assert_eq!(
            (flights, analyses),
            (1, 1),
            "the ended flight's rows went with it"
        );
        assert!(
            open_existing(&dir.path().join("none.sqlite")).is_err(),
            "never creates one"
        );
    }

    #[test]
    fn the_peak_snapshot_is_replaced_and_periodic_ones_kept() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("h.sqlite")).unwrap();
        let snap = |peak, t| SnapshotRow {
            peak,
            t_ms: t,
            count: 1.0,
            jpeg: vec![0xff, 0xd8],
            grid_width: 2,
            grid_height: 1,
            grid_max: 1.0,
            grid: vec![0, 255],
        };
        for (peak, t) in [(true, 1), (false, 2), (true, 3), (false, 4)] {
            write(
                &mut conn,
                &Batch {
                    flight: Some(flight(0)),
                    snapshots: vec![snap(peak, t)],
                    ..Batch::default()
                },
            )
            .unwrap();
        }
        let kept: Vec<(String, i64)> = conn
            .prepare("SELECT kind, t_ms FROM snapshots ORDER BY t_ms")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        assert_eq!(
            kept,
            [
                ("periodic".to_string(), 2),
                ("peak".to_string(), 3),
                ("periodic".to_string(), 4)
            ]
        );
    }

    #[test]
    fn pruning_deletes_old_flights_first_and_keeps_within_the_cap() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = open(&dir.path().join("h.sqlite")).unwrap();
        let day = 86_400_000;
        for i in 0..5u64 {
            let mut f = flight(i * day);
            f.end_ms = Some(i * day + 1000);
            let analyses = (0..2000).map(|k| analysis(i * day + k)).collect();
            write(
                &mut conn,
                &Batch {
                    flight: Some(f),
                    analyses,
                    ..Batch::default()
                },
            )
            .unwrap();
        }
        // Retention: flights that ended before day 1.5 go.
        let deleted = prune(&mut conn, 3 * day + day / 2, 2 * day, u64::MAX).unwrap();
        assert_eq!(deleted, 2);
        let before = usage(&conn).unwrap();
        assert_eq!(before.flights, 3);
        assert_eq!(before.oldest_ms, Some(2 * day));
        // Cap: below what three flights take, the oldest goes, then the next.
        let cap = before.bytes * 2 / 3;
        prune(&mut conn, 3 * day, 100 * day, cap).unwrap();
        let after = usage(&conn).unwrap();
        assert!(after.bytes <= cap, "{after:?} over {cap}");
        assert!(after.flights < 3 && after.flights >= 1, "{after:?}");
        assert!(
            after.oldest_ms >= Some(3 * day),
            "the oldest went first: {after:?}"
        );
        let ok: String = conn
            .query_row("PRAGMA integrity_check", [], |r| r.get(0))
            .unwrap();
        assert_eq!(ok, "ok");
    }
}
