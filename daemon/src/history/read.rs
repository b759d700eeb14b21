//! Reading the history back: the flights, one flight's series (bounded), its alerts, events and
//! peak snapshot, and its CSV export. `publish::history` serves these over HTTP.
//!
//! Every answer is bounded however long the flight: a series longer than the caller's `points`
//! is thinned to every `step`-th analysis (the answer says which `step`), and the list of flights
//! stops at [`MAX_FLIGHTS`].

use rusqlite::{params, Connection, OptionalExtension};
use serde::Serialize;
use serde_json::Value;

use crate::wire::Alert;

/// The most flights a list gives (the newest).
pub const MAX_FLIGHTS: i64 = 1000;

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

/// One analysis of a flight's series.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    pub t_ms: u64,
    pub count: f64,
    pub smoothed: f64,
    pub band: [f64; 2],
    pub calibrated: bool,
    pub state: String,
    /// As the analysis had them: `[{name, count, share, limit, alerting}]`.
    pub zones: Value,
}

/// A flight's series, thinned to at most the points asked for.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Series {
    /// Every `step`-th analysis is in `points` (1: all of them).
    pub step: u64,
    pub points: Vec<Point>,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EventRow {
    pub t_ms: u64,
    /// `setup` (calibration, masks, zones as set) or `stream` (its state changed).
    pub kind: String,
    pub detail: Value,
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

/// The flight's analyses in time order, every `step`-th so that at most `points` come back.
pub fn series(conn: &Connection, id: i64, points: u64) -> rusqlite::Result<Series> {
    let n: i64 = conn.query_row(
        "SELECT count(*) FROM analyses WHERE flight_id = ?1",
        [id],
        |r| r.get(0),
    )?;
    let step = (n as u64).div_ceil(points.max(1)).max(1);
    let points = conn
        .prepare(
            "SELECT t_ms, count, smoothed, band_lo, band_hi, calibrated, state, zones FROM
               (SELECT *, row_number() OVER (ORDER BY t_ms, id) - 1 AS n FROM analyses
                WHERE flight_id = ?1)
             WHERE n % ?2 = 0 ORDER BY t_ms, id",
        )?
        .query_map(params![id, step as i64], |r| {
            let zones: String = r.get(7)?;
            Ok(Point {
                t_ms: r.get::<_, i64>(0)? as u64,
                count: r.get(1)?,
                smoothed: r.get(2)?,
                band: [r.get(3)?, r.get(4)?],
                calibrated: r.get(5)?,
                state: r.get(6)?,
                zones: serde_json::from_str(&zones).unwrap_or(Value::Array(Vec::new())),
            })
        })?
        .collect::<rusqlite::Result<_>>()?;
    Ok(Series { step, points })
}

pub fn alerts(conn: &Connection, id: i64) -> rusqlite::Result<Vec<Alert>> {
    conn.prepare(
        "SELECT alert_id, stream, zone, limit_people, count, raised_ms, cleared_ms,
                acknowledged_ms
         FROM alerts WHERE flight_id = ?1 ORDER BY raised_ms LIMIT 10000",
    )?
    .query_map([id], |r| {
        Ok(Alert {
            id: r.get::<_, i64>(0)? as u64,
            stream: r.get(1)?,
            zone: r.get(2)?,
            limit: r.get(3)?,
            count: r.get(4)?,
            raised_ms: r.get::<_, i64>(5)? as u64,
            cleared_ms: r.get::<_, Option<i64>>(6)?.map(|t| t as u64),
            acknowledged_ms: r.get::<_, Option<i64>>(7)?.map(|t| t as u64),
        })
    })?
    .collect()
}

/// The flight's events, and the last setup before it began (the calibration it flew with).
pub fn events(conn: &Connection, flight: &Flight) -> rusqlite::Result<Vec<EventRow>> {
    conn.prepare(
        "SELECT t_ms, kind, detail FROM (
            SELECT t_ms, kind, detail FROM events WHERE kind = 'setup' AND t_ms < ?2
              ORDER BY t_ms DESC LIMIT 1)
         UNION ALL
         SELECT * FROM (SELECT t_ms, kind, detail FROM events WHERE flight_id = ?1
              ORDER BY t_ms LIMIT 10000)
         ORDER BY t_ms",
    )?
    .query_map(params![flight.id, flight.start_ms as i64], |r| {
        let detail: String = r.get(2)?;
        Ok(EventRow {
            t_ms: r.get::<_, i64>(0)? as u64,
            kind: r.get(1)?,
            detail: serde_json::from_str(&detail).unwrap_or(Value::Null),
        })
    })?
    .collect()
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

/// The series as CSV: `time_utc, t_ms, count, smoothed, band_low, band_high, calibrated,
/// stream_state`, then one `zone:<name>` column per zone seen in the flight (empty where the
/// zone did not exist yet). docs/api.md documents the columns.
pub fn csv(series: &Series) -> Result<Vec<u8>, csv::Error> {
    let mut zones: Vec<String> = Vec::new();
    for p in &series.points {
        for z in p.zones.as_array().into_iter().flatten() {
            if let Some(name) = z["name"].as_str() {
                if !zones.iter().any(|n| n == name) {
                    zones.push(name.to_string());
                }
            }
        }
    }
    let mut w = csv::Writer::from_writer(Vec::new());
    let mut header: Vec<String> = [
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
    .to_vec();
    header.extend(zones.iter().map(|z| format!("zone:{z}")));
    w.write_record(&header)?;
    for p in &series.points {
        let time = jiff::Timestamp::from_millisecond(p.t_ms as i64)
            .map(|t| t.to_string())
            .unwrap_or_default();
        let mut row = vec![
            time,
            p.t_ms.to_string(),
            format!("{:.2}", p.count),
            format!("{:.2}", p.smoothed),
            format!("{:.2}", p.band[0]),
            format!("{:.2}", p.band[1]),
            u8::from(p.calibrated).to_string(),
            p.state.clone(),
        ];
        for name in &zones {
            let count = p
                .zones
                .as_array()
                .into_iter()
                .flatten()
                .find(|z| z["name"].as_str() == Some(name))
                .and_then(|z| z["count"].as_f64());
            row.push(count.map(|c| format!("{c:.2}")).unwrap_or_default());
        }
        w.write_record(&row)?;
    }
    w.into_inner().map_err(|e| e.into_error().into())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::db::{self, AnalysisRow, Batch, FlightRow};

    fn setup() -> (tempfile::TempDir, Connection) {
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
        let analyses = (0..1000u64)
            .map(|i| AnalysisRow {
                t_ms: 1_000 + i * 99,
                count: i as f64,
                smoothed: i as f64,
                band: [0.0, 1.0],
                calibrated: i % 2 == 0,
                state: "live".into(),
                zones: if i < 500 {
                    "[]".into()
                } else {
                    r#"[{"name":"stage, front","count":3.5,"share":0.5,"limit":null,"alerting":false}]"#
                        .into()
                },
            })
            .collect();
        db::write(
            &mut conn,
            &Batch {
                flight: Some(flight),
                analyses,
                ..Batch::default()
            },
        )
        .unwrap();
        (dir, conn)
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
        let all = series(&conn, 1, 5000).unwrap();
        assert_eq!((all.step, all.points.len()), (1, 1000));
        let thin = series(&conn, 1, 300).unwrap();
        assert_eq!(thin.step, 4);
        assert_eq!(thin.points.len(), 250);
        assert_eq!(thin.points[1].t_ms, 1_000 + 4 * 99);
    }

    #[test]
    fn the_csv_has_a_column_per_zone_and_quotes_names() {
        let (_d, conn) = setup();
        let text = String::from_utf8(csv(&series(&conn, 1, 5000).unwrap()).unwrap()).unwrap();
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
}
