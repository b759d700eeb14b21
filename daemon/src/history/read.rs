//! Reading the history back: the flights, one flight as JSON or CSV, and its peak snapshot.
//! `publish::history` serves these over HTTP.
//!
//! Every answer is bounded however long the flight: a series longer than the caller's `points`
//! is thinned to every `step`-th analysis (the answer says which `step`), and the list of flights
//! stops at [`MAX_FLIGHTS`]. A flight is never held in memory whole: [`write_json`] and
//! [`write_csv`] read its rows from SQLite a page of [`PAGE`] at a time and write each one to
//! their writer as they go (the HTTP edge's writer sends it to the client in chunks), so an
//! export of a day-long flight takes a few MB, not gigabytes. No statement stays open while the
//! writer waits for a slow client: each page is read, then written, so an export never holds
//! the database against the recorder.

use std::io::{self, Write};

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use crate::wire::Alert;

/// The most flights a list gives (the newest).
pub const MAX_FLIGHTS: i64 = 1000;

/// Rows read from SQLite at once by [`write_json`] and [`write_csv`]: what they hold in memory
/// (an analysis with 16 zones is about 1.5 KB).
pub const PAGE: i64 = 256;

/// The most alerts and events a flight's document lists.
pub const MAX_LISTED: u64 = 10_000;

/// The most `zone:<name>` columns a CSV has: the first zones seen in the flight (the operator
/// may have renamed zones all day; the JSON has every zone of every analysis).
pub const MAX_CSV_ZONES: usize = 64;
/// A flight as listed.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Flight {
    pub id: i64,
    pub stream: String,
    pub start_ms: u64,
    /// None while the flight goes on.
    pub end_ms: Option<u64>,
    /// From the start to the last analysis.
    pub duration_s: f64,
    /// The highest smoothed count, and when.
    pub peak: f64,
    pub peak_ms: u64,
    pub analyses: u64,
    pub alerts: u64,
}

/// One analysis as kept, its zones still as the recorder wrote them (JSON).
struct Analysis {
    t_ms: i64,
    count: f64,
    smoothed: f64,
    band: [f64; 2],
    calibrated: bool,
    state: String,
    zones: String,
}

/// The peak snapshot's metadata and density grid (its JPEG is fetched on its own).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Snapshot {
    pub t_ms: u64,
    pub count: f64,
    pub width: u32,
    pub height: u32,
    pub max: f64,
    /// Row-major bytes, `data / 255 * max` people per cell; base64 in JSON like `analysis`.
    #[serde(serialize_with = "base64")]
    pub data: Vec<u8>,
}

fn base64<S: serde::Serializer>(d: &[u8], s: S) -> Result<S::Ok, S::Error> {
    use base64::Engine as _;
    s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(d))
}

fn flight_of(r: &rusqlite::Row<'_>) -> rusqlite::Result<Flight> {
    let start: i64 = r.get("start_ms")?;
    let last: i64 = r.get("last_ms")?;
    Ok(Flight {
        id: r.get("id")?,
        stream: r.get("stream")?,
        start_ms: start as u64,
        end_ms: r.get::<_, Option<i64>>("end_ms")?.map(|e| e as u64),
        duration_s: (last - start).max(0) as f64 / 1000.0,
        peak: r.get("peak")?,
        peak_ms: r.get::<_, i64>("peak_ms")? as u64,
        analyses: r.get::<_, i64>("analyses")? as u64,
        alerts: r.get::<_, i64>("alerts")? as u64,
    })
}

const FLIGHT_COLUMNS: &str = "id, stream, start_ms, last_ms, end_ms, peak, peak_ms, analyses,
    (SELECT count(*) FROM alerts a WHERE a.flight_id = flights.id) AS alerts";

/// The newest flights first.
pub fn flights(conn: &Connection) -> rusqlite::Result<Vec<Flight>> {
    conn.prepare(&format!(
        "SELECT {FLIGHT_COLUMNS} FROM flights ORDER BY start_ms DESC LIMIT ?1"
    ))?
    .query_map([MAX_FLIGHTS], flight_of)?
    .collect()
}

pub fn flight(conn: &Connection, id: i64) -> rusqlite::Result<Option<Flight>> {
    conn.query_row(
        &format!("SELECT {FLIGHT_COLUMNS} FROM flights WHERE id = ?1"),
        [id],
        flight_of,
    )
    .optional()
}

/// The peak snapshot's grid and metadata.
pub fn peak(conn: &Connection, id: i64) -> rusqlite::Result<Option<Snapshot>> {
    conn.query_row(
        "SELECT t_ms, count, grid_width, grid_height, grid_max, grid FROM snapshots
         WHERE flight_id = ?1 AND kind = 'peak' ORDER BY t_ms DESC LIMIT 1",
        [id],
        |r| {
            Ok(Snapshot {
                t_ms: r.get::<_, i64>(0)? as u64,
                count: r.get(1)?,
                width: r.get(2)?,
                height: r.get(3)?,
                max: r.get(4)?,
                data: r.get(5)?,
            })
        },
    )
    .optional()
}

/// The peak snapshot's JPEG.
pub fn peak_jpeg(conn: &Connection, id: i64) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row(
        "SELECT jpeg FROM snapshots WHERE flight_id = ?1 AND kind = 'peak'
         ORDER BY t_ms DESC LIMIT 1",
        [id],
        |r| r.get(0),
    )
    .optional()
}

/// A failed read, as the writers report it (an `io::Error`, like a failed write).
fn sql(e: rusqlite::Error) -> io::Error {
    io::Error::other(format!("reading the history failed: {e}"))
}

/// Hands the rows of `query` to `each`, a page of [`PAGE`] at a time, at most `limit` of them,
/// with no statement open while `each` runs. `query` takes the flight's id (`?1`), the time and
/// row id after which to read (`?2`, `?3`: the last row of the page before) and the page's size
/// (`?4`); it orders by time and row id, and `row` gives each row's time and id with its value.
fn paged<T>(
    conn: &Connection,
    query: &str,
    flight: i64,
    limit: u64,
    row: impl Fn(&rusqlite::Row<'_>) -> rusqlite::Result<((i64, i64), T)>,
    mut each: impl FnMut(T) -> io::Result<()>,
) -> io::Result<()> {
    let mut stmt = conn.prepare(query).map_err(sql)?;
    let (mut after, mut seen) = ((i64::MIN, i64::MIN), 0u64);
    while seen < limit {
        let page = stmt
            .query_map(params![flight, after.0, after.1, PAGE], &row)
            .and_then(|rows| rows.collect::<rusqlite::Result<Vec<_>>>())
            .map_err(sql)?;
        let Some((last, _)) = page.last() else {
            return Ok(());
        };
        after = *last;
        for (_, value) in page {
            if seen == limit {
                break;
            }
            seen += 1;
            each(value)?;
        }
    }
    Ok(())
}

/// Hands the flight's analyses to `each` in time order, every `step`-th from the first, of the
/// `total` it had when the export began (a flight going on grows meanwhile).
fn analyses(
    conn: &Connection,
    flight: i64,
    step: u64,
    total: u64,
    mut each: impl FnMut(Analysis) -> io::Result<()>,
) -> io::Result<()> {
    let mut n = 0u64;
    paged(
        conn,
        "SELECT t_ms, id, count, smoothed, band_lo, band_hi, calibrated, state, zones
         FROM analyses WHERE flight_id = ?1 AND (t_ms, id) > (?2, ?3)
         ORDER BY t_ms, id LIMIT ?4",
        flight,
        total,
        |r| {
            let t_ms: i64 = r.get(0)?;
            Ok((
                (t_ms, r.get(1)?),
                Analysis {
                    t_ms,
                    count: r.get(2)?,
                    smoothed: r.get(3)?,
                    band: [r.get(4)?, r.get(5)?],
                    calibrated: r.get(6)?,
                    state: r.get(7)?,
                    zones: r.get(8)?,
                },
            ))
        },
        |a| {
            let kept = n.is_multiple_of(step);
            n += 1;
            if kept {
                each(a)
            } else {
                Ok(())
            }
        },
    )
}

/// How many analyses the flight has, and the step that thins them to at most `points`.
fn thinning(conn: &Connection, flight: i64, points: u64) -> io::Result<(u64, u64)> {
    let n: i64 = conn
        .query_row(
            "SELECT count(*) FROM analyses WHERE flight_id = ?1",
            [flight],
            |r| r.get(0),
        )
        .map_err(sql)?;
    let n = n.max(0) as u64;
    Ok((n, n.div_ceil(points.max(1)).max(1)))
}

/// One analysis of the series, as docs/api.md gives it.
#[derive(Serialize)]
struct Point<'a> {
    t_ms: i64,
    count: f64,
    smoothed: f64,
    band: [f64; 2],
    calibrated: bool,
    state: &'a str,
    /// As the analysis had them: `[{name, count, share, limit, alerting}]`.
    zones: Value,
}

/// An event of the flight: `setup` (calibration, masks, zones as set) or `stream` (its state
/// changed).
#[derive(Serialize)]
struct Event {
    t_ms: i64,
    kind: String,
    detail: Value,
}

/// Writes `items` as the elements of a JSON array (the brackets are the caller's).
struct ArrayWriter {
    first: bool,
}

impl ArrayWriter {
    fn new() -> Self {
        Self { first: true }
    }

    fn push(&mut self, out: &mut impl Write, item: &impl Serialize) -> io::Result<()> {
        if !std::mem::take(&mut self.first) {
            out.write_all(b",")?;
        }
        serde_json::to_writer(&mut *out, item).map_err(io::Error::from)
    }
}

/// What the document says about where it was made (for the printed report).
pub struct Stamp {
    /// The box's host name.
    pub host: Option<String>,
    /// skycountd's version.
    pub version: &'static str,
}

/// Writes `flight`'s document (docs/api.md, "A flight") to `out` as it reads it: the flight,
/// its series thinned to at most `points` analyses, its alerts and events (with the setup it
/// flew with), its peak snapshot's density grid, the box and the version. An error of the
/// database or of `out` stops it where it is.
pub fn write_json(
    conn: &Connection,
    flight: &Flight,
    points: u64,
    stamp: &Stamp,
    out: &mut impl Write,
) -> io::Result<()> {
    let id = flight.id;
    let (total, step) = thinning(conn, id, points)?;
    out.write_all(b"{\"flight\":")?;
    serde_json::to_writer(&mut *out, flight)?;
    write!(out, ",\"step\":{step},\"series\":[")?;
    let mut series = ArrayWriter::new();
    analyses(conn, id, step, total, |a| {
        let point = Point {
            t_ms: a.t_ms,
            count: a.count,
            smoothed: a.smoothed,
            band: a.band,
            calibrated: a.calibrated,
            state: &a.state,
            zones: serde_json::from_str(&a.zones).unwrap_or(Value::Array(Vec::new())),
        };
        series.push(out, &point)
    })?;
    out.write_all(b"],\"alerts\":[")?;
    let mut alerts = ArrayWriter::new();
    paged(
        conn,
        "SELECT raised_ms, id, alert_id, stream, zone, limit_people, count, cleared_ms,
                acknowledged_ms
         FROM alerts WHERE flight_id = ?1 AND (raised_ms, id) > (?2, ?3)
         ORDER BY raised_ms, id LIMIT ?4",
        id,
        MAX_LISTED,
        |r| {
            let raised: i64 = r.get(0)?;
            Ok((
                (raised, r.get(1)?),
                Alert {
                    id: r.get::<_, i64>(2)? as u64,
                    stream: r.get(3)?,
                    zone: r.get(4)?,
                    limit: r.get(5)?,
                    count: r.get(6)?,
                    raised_ms: raised as u64,
                    cleared_ms: r.get::<_, Option<i64>>(7)?.map(|t| t as u64),
                    acknowledged_ms: r.get::<_, Option<i64>>(8)?.map(|t| t as u64),
                },
            ))
        },
        |a| alerts.push(out, &a),
    )?;
    out.write_all(b"],\"events\":[")?;
    let event = |(t_ms, kind, detail): (i64, String, String)| Event {
        t_ms,
        kind,
        detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
    };
    let mut events = ArrayWriter::new();
    // The last setup before the flight began: what it flew with.
    let before = conn
        .query_row(
            "SELECT t_ms, kind, detail FROM events WHERE kind = 'setup' AND t_ms < ?1
             ORDER BY t_ms DESC LIMIT 1",
            [flight.start_ms as i64],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .optional()
        .map_err(sql)?;
    if let Some(e) = before {
        events.push(out, &event(e))?;
    }
    paged(
        conn,
        "SELECT t_ms, id, kind, detail FROM events
         WHERE flight_id = ?1 AND (t_ms, id) > (?2, ?3) ORDER BY t_ms, id LIMIT ?4",
        id,
        MAX_LISTED,
        |r| {
            let t_ms: i64 = r.get(0)?;
            Ok(((t_ms, r.get(1)?), (t_ms, r.get(2)?, r.get(3)?)))
        },
        |e| events.push(out, &event(e)),
    )?;
    let peak = peak(conn, id).map_err(sql)?.map(|s| {
        serde_json::json!({
            "t_ms": s.t_ms,
            "count": s.count,
            "url": format!("/api/history/flights/{id}/peak.jpg"),
            "density": s,
        })
    });
    out.write_all(b"],\"peak_snapshot\":")?;
    serde_json::to_writer(&mut *out, &peak)?;
    // The analysis at the peak: its band and whether it was calibrated, for the report.
    let at_peak = conn
        .query_row(
            "SELECT t_ms, smoothed, band_lo, band_hi, calibrated FROM analyses
             WHERE flight_id = ?1 AND t_ms = ?2 ORDER BY id LIMIT 1",
            params![id, flight.peak_ms as i64],
            |r| {
                Ok(serde_json::json!({
                    "t_ms": r.get::<_, i64>(0)?,
                    "smoothed": r.get::<_, f64>(1)?,
                    "band": [r.get::<_, f64>(2)?, r.get::<_, f64>(3)?],
                    "calibrated": r.get::<_, bool>(4)?,
                }))
            },
        )
        .optional()
        .map_err(sql)?;
    out.write_all(b",\"peak_analysis\":")?;
    serde_json::to_writer(&mut *out, &at_peak)?;
    out.write_all(b",\"box\":")?;
    serde_json::to_writer(&mut *out, &stamp.host)?;
    out.write_all(b",\"version\":")?;
    serde_json::to_writer(&mut *out, stamp.version)?;
    out.write_all(b"}")
}

/// A zone's count in an analysis, as the CSV needs it.
#[derive(serde::Deserialize)]
struct ZoneCell {
    name: String,
    count: Option<f64>,
}

/// A CSV error as an `io::Error`, keeping a write's own (a client gone is `BrokenPipe`).
fn csv_io(e: csv::Error) -> io::Error {
    if !e.is_io_error() {
        return io::Error::other(e);
    }
    match e.into_kind() {
        csv::ErrorKind::Io(e) => e,
        other => io::Error::other(format!("{other:?}")),
    }
}

fn zone_cells(zones: &str) -> Vec<ZoneCell> {
    serde_json::from_str(zones).unwrap_or_default()
}

/// Writes `flight`'s series as CSV to `out` as it reads it, thinned to at most `points`
/// analyses: `time_utc, t_ms, count, smoothed, band_low, band_high, calibrated, stream_state`,
/// then one `zone:<name>` column per zone seen in the rows written (in the order first seen, at
/// most [`MAX_CSV_ZONES`]; empty where the zone did not exist then). docs/api.md documents the
/// columns. The zones are found by a first pass over the rows, which holds their names only.
pub fn write_csv(
    conn: &Connection,
    flight: &Flight,
    points: u64,
    out: &mut impl Write,
) -> io::Result<()> {
    let id = flight.id;
    let (total, step) = thinning(conn, id, points)?;
    let mut zones: Vec<String> = Vec::new();
    analyses(conn, id, step, total, |a| {
        if zones.len() < MAX_CSV_ZONES {
            for z in zone_cells(&a.zones) {
                if zones.len() < MAX_CSV_ZONES && !zones.contains(&z.name) {
                    zones.push(z.name);
                }
            }
        }
        Ok(())
    })?;
    let mut w = csv::Writer::from_writer(out);
    let header = [
        "time_utc",
        "t_ms",
        "count",
        "smoothed",
        "band_low",
        "band_high",
        "calibrated",
        "stream_state",
    ]
    .map(String::from)
    .into_iter()
    .chain(zones.iter().map(|z| format!("zone:{z}")));
    w.write_record(header).map_err(csv_io)?;
    let mut row: Vec<String> = Vec::with_capacity(8 + zones.len());
    analyses(conn, id, step, total, |a| {
        row.clear();
        row.push(
            jiff::Timestamp::from_millisecond(a.t_ms)
                .map(|t| t.to_string())
                .unwrap_or_default(),
        );
        row.push(a.t_ms.to_string());
        for v in [a.count, a.smoothed, a.band[0], a.band[1]] {
            row.push(format!("{v:.2}"));
        }
        row.push(u8::from(a.calibrated).to_string());
        row.push(a.state);
        let cells = zone_cells(&a.zones);
        for name in &zones {
            let count = cells.iter().find(|z| &z.name == name).and_then(|z| z.count);
            row.push(count.map(|c| format!("{c:.2}")).unwrap_or_default());
        }
        w.write_record(&row).map_err(csv_io)
    })?;
    w.flush()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::db::{self, AnalysisRow, Batch, FlightRow, SnapshotRow};

    const STAMP: Stamp = Stamp {
        host: None,
        version: "9.9.9",
    };

    /// A flight of `n` analyses 99 ms apart, zoned by `zones(i)`, with what else `more` adds.
    fn flight_of_rows(
        n: u64,
        zones: impl Fn(u64) -> String,
        more: Batch,
    ) -> (tempfile::TempDir, Connection) {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = db::open(&dir.path().join("h.sqlite")).unwrap();
        let flight = FlightRow {
            stream: "live_drone".into(),
            start_ms: 1_000,
            last_ms: 100_000,
            end_ms: Some(100_000),
            peak: 42.0,
            peak_ms: 50_000,
        };
        let analyses = (0..n)
            .map(|i| AnalysisRow {
                t_ms: 1_000 + i * 99,
                count: i as f64,
                smoothed: i as f64,
                band: [0.0, 1.0],
                calibrated: i % 2 == 0,
                state: "live".into(),
                zones: zones(i),
            })
            .collect();
        db::write(
            &mut conn,
            &Batch {
                flight: Some(flight),
                analyses,
                ..more
            },
        )
        .unwrap();
        (dir, conn)
    }

    fn setup() -> (tempfile::TempDir, Connection) {
        flight_of_rows(
            1000,
            |i| {
                if i < 500 {
                    "[]".into()
                } else {
                    r#"[{"name":"stage, front","count":3.5,"share":0.5,"limit":null,"alerting":false}]"#
                        .into()
                }
            },
            Batch::default(),
        )
    }

    fn json_of(conn: &Connection, points: u64) -> Value {
        let f = flight(conn, 1).unwrap().unwrap();
        let mut out = Vec::new();
        write_json(conn, &f, points, &STAMP, &mut out).unwrap();
        serde_json::from_slice(&out).unwrap()
    }

    fn csv_of(conn: &Connection, points: u64) -> String {
        let f = flight(conn, 1).unwrap().unwrap();
        let mut out = Vec::new();
        write_csv(conn, &f, points, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn flights_list_with_their_duration_and_peak() {
        let (_d, conn) = setup();
        let list = flights(&conn).unwrap();
        assert_eq!(list.len(), 1);
        let f = &list[0];
        assert_eq!(
            (f.duration_s, f.peak, f.analyses, f.alerts),
            (99.0, 42.0, 1000, 0)
        );
        assert_eq!(flight(&conn, f.id).unwrap().as_ref(), Some(f));
        assert_eq!(flight(&conn, 999).unwrap(), None);
    }

    #[test]
    fn a_long_series_is_thinned_to_the_points_asked_for() {
        let (_d, conn) = setup();
        let all = json_of(&conn, 5000);
        assert_eq!(all["step"], 1);
        assert_eq!(all["series"].as_array().unwrap().len(), 1000);
        let thin = json_of(&conn, 300);
        assert_eq!(thin["step"], 4);
        let series = thin["series"].as_array().unwrap();
        assert_eq!(series.len(), 250);
        assert_eq!(series[1]["t_ms"], 1_000 + 4 * 99);
        assert_eq!(csv_of(&conn, 300).lines().count(), 251);
    }

    #[test]
    fn the_document_has_the_shape_docs_api_md_gives() {
        let setup_detail = r#"{"calibration":null,"masks":0,"zones":[]}"#;
        let (_d, conn) = flight_of_rows(
            3,
            |_| {
                r#"[{"name":"stage","count":40.1,"share":0.34,"limit":300,"alerting":false}]"#
                    .into()
            },
            Batch {
                snapshots: vec![SnapshotRow::tiny_peak(1_099)],
                alerts: vec![Alert {
                    id: 17,
                    stream: "live_drone".into(),
                    zone: "stage".into(),
                    limit: 300,
                    count: 312.0,
                    raised_ms: 1_050,
                    cleared_ms: None,
                    acknowledged_ms: Some(1_060),
                }],
                events: vec![(
                    1_100,
                    "stream",
                    r#"{"state":"stalled","error":null}"#.into(),
                )],
                ..Batch::default()
            },
        );
        // A setup made before the flight (between flights: no flight id).
        db::write(
            &mut db::open_existing(&conn.path().map(std::path::PathBuf::from).unwrap()).unwrap(),
            &Batch {
                events: vec![(500, "setup", setup_detail.into())],
                ..Batch::default()
            },
        )
        .unwrap();
        let v = json_of(&conn, 2000);
        let keys = |v: &Value| {
            let mut k: Vec<String> = v.as_object().unwrap().keys().cloned().collect();
            k.sort();
            k
        };
        assert_eq!(
            keys(&v),
            [
                "alerts",
                "box",
                "events",
                "flight",
                "peak_analysis",
                "peak_snapshot",
                "series",
                "step",
                "version"
            ]
        );
        assert_eq!(
            v["peak_analysis"],
            Value::Null,
            "no analysis at the peak's time"
        );
        assert_eq!(
            v["flight"],
            serde_json::to_value(flight(&conn, 1).unwrap()).unwrap()
        );
        assert_eq!(
            v["series"][0],
            serde_json::json!({"t_ms": 1000, "count": 0.0, "smoothed": 0.0, "band": [0.0, 1.0],
                "calibrated": true, "state": "live",
                "zones": [{"name": "stage", "count": 40.1, "share": 0.34, "limit": 300, "alerting": false}]})
        );
        assert_eq!(
            v["alerts"],
            serde_json::json!([{"id": 17, "stream": "live_drone", "zone": "stage", "limit": 300,
                "count": 312.0, "raised_ms": 1050, "cleared_ms": null, "acknowledged_ms": 1060}])
        );
        assert_eq!(
            v["events"],
            serde_json::json!([
                {"t_ms": 500, "kind": "setup", "detail": {"calibration": null, "masks": 0, "zones": []}},
                {"t_ms": 1100, "kind": "stream", "detail": {"state": "stalled", "error": null}}
            ])
        );
        assert_eq!(
            v["peak_snapshot"],
            serde_json::json!({"t_ms": 1099, "count": 7.0, "url": "/api/history/flights/1/peak.jpg",
                "density": {"t_ms": 1099, "count": 7.0, "width": 2, "height": 1, "max": 2.0, "data": "AP8="}})
        );
        assert_eq!(
            (v["box"].clone(), v["version"].clone()),
            (Value::Null, "9.9.9".into())
        );
        // The analysis at the peak, with its band, for the report.
        conn.execute("UPDATE flights SET peak_ms = 1099", [])
            .unwrap();
        let v = json_of(&conn, 2000);
        assert_eq!(
            v["peak_analysis"],
            serde_json::json!({"t_ms": 1099, "smoothed": 1.0, "band": [0.0, 1.0], "calibrated": false})
        );
    }

    #[test]
    fn rows_of_one_time_across_pages_are_all_written_once_in_order() {
        // More analyses than a page, all at one millisecond: the pages go on by row id.
        let (_d, conn) = flight_of_rows(0, |_| "[]".into(), Batch::default());
        let mut c = db::open_existing(&conn.path().map(std::path::PathBuf::from).unwrap()).unwrap();
        let n = PAGE as u64 * 2 + 7;
        db::write(
            &mut c,
            &Batch {
                flight: flight(&conn, 1).unwrap().map(|f| FlightRow {
                    stream: f.stream,
                    start_ms: f.start_ms,
                    last_ms: 100_000,
                    end_ms: Some(100_000),
                    peak: f.peak,
                    peak_ms: f.peak_ms,
                }),
                analyses: (0..n)
                    .map(|i| AnalysisRow {
                        t_ms: 5_000,
                        count: i as f64,
                        smoothed: 0.0,
                        band: [0.0, 0.0],
                        calibrated: false,
                        state: "live".into(),
                        zones: "not json".into(),
                    })
                    .collect(),
                ..Batch::default()
            },
        )
        .unwrap();
        let v = json_of(&conn, u64::MAX);
        let counts: Vec<f64> = v["series"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["count"].as_f64().unwrap())
            .collect();
        assert_eq!(counts, (0..n).map(|i| i as f64).collect::<Vec<_>>());
        // Zones that are not JSON are no zones.
        assert_eq!(v["series"][0]["zones"], serde_json::json!([]));
    }

    #[test]
    fn the_csv_has_a_column_per_zone_and_quotes_names() {
        let (_d, conn) = setup();
        let text = csv_of(&conn, 5000);
        let mut lines = text.lines();
        assert_eq!(
            lines.next().unwrap(),
            "time_utc,t_ms,count,smoothed,band_low,band_high,calibrated,stream_state,\"zone:stage, front\""
        );
        assert_eq!(
            lines.next().unwrap(),
            "1970-01-01T00:00:01Z,1000,0.00,0.00,0.00,1.00,1,live,"
        );
        assert!(text.lines().last().unwrap().ends_with(",live,3.50"));
        assert_eq!(text.lines().count(), 1001);
    }

    #[test]
    fn the_csv_has_at_most_its_cap_of_zone_columns() {
        // The operator renamed the zone at every analysis: 300 names over the flight.
        let zone = |i: u64| format!(r#"[{{"name":"zone {i}","count":{i}.0}}]"#);
        let (_d, conn) = flight_of_rows(300, zone, Batch::default());
        let text = csv_of(&conn, 5000);
        let header: Vec<&str> = text.lines().next().unwrap().split(',').collect();
        assert_eq!(header.len(), 8 + MAX_CSV_ZONES, "{header:?}");
        assert_eq!(header[8], "zone:zone 0");
        assert_eq!(
            header[8 + MAX_CSV_ZONES - 1],
            format!("zone:zone {}", MAX_CSV_ZONES - 1)
        );
        for (i, line) in text.lines().skip(1).enumerate() {
            let cells: Vec<&str> = line.split(',').collect();
            assert_eq!(cells.len(), header.len(), "{line}");
            let filled: Vec<usize> = (8..cells.len()).filter(|&c| !cells[c].is_empty()).collect();
            let want: Vec<usize> = if i < MAX_CSV_ZONES {
                vec![8 + i]
            } else {
                vec![]
            };
            assert_eq!(filled, want, "row {i}: {line}");
        }
    }

    /// A client that stops reading: its writer fails after `room` bytes.
    struct Gone {
        room: usize,
    }

    impl Write for Gone {
        fn write(&mut self, data: &[u8]) -> io::Result<usize> {
            if self.room == 0 {
                return Err(io::Error::new(
                    io::ErrorKind::BrokenPipe,
                    "the client went away",
                ));
            }
            let n = data.len().min(self.room);
            self.room -= n;
            Ok(n)
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn an_export_stops_when_its_client_goes() {
        let (_d, conn) = setup();
        let f = flight(&conn, 1).unwrap().unwrap();
        let err = write_json(&conn, &f, 5000, &STAMP, &mut Gone { room: 5000 }).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
        let err = write_csv(&conn, &f, 5000, &mut Gone { room: 5000 }).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::BrokenPipe);
    }
}
