//! The flight history over HTTP, read-only for viewers (no sign-in), and the hub as the
//! recorder's [`Live`] side.
//!
//! - `GET /api/history/flights`: the flights, newest first.
//! - `GET /api/history/flights/{id}`: one flight: its series (thinned to [`VIEW_POINTS`]), zones,
//!   alerts, events (with the setup it flew with), its peak snapshot's density grid, the box's
//!   name and the software's version (for the printed report).
//! - `GET /api/history/flights/{id}.json` / `{id}.csv`: the export, thinned to
//!   [`EXPORT_POINTS`] analyses at most.
//! - `GET /api/history/flights/{id}/peak.jpg`: the frame at the flight's peak.
//! - `DELETE /api/operator/history/flights/{id}`: the operator deletes an ended flight (a
//!   rehearsal, a test): [`operator_routes`], behind the operator's gate.
//!
//! Each request opens the database on a blocking thread, read-only but for the operator's delete
//! (WAL lets readers run beside the recorder's writes; SQLite serialises the delete with them).
//! A flight and its exports are written to the client as they are read (`history::read` and
//! `publish::body`): a day-long export takes a few MB, however long. Each holds a connection and
//! a thread while its client reads, so only [`EXPORTS_AT_ONCE`] exports run at once (one more
//! answers 503 with `Retry-After`), and the viewers' other reads [`READS_AT_ONCE`] (one more waits
//! its turn, up to [`READ_WAIT`]).
//!
//! Errors are JSON `{"error": …}`: 400 for an id that is not one, 404 for a flight that is not
//! (or no longer) kept, 409 for deleting a flight going on, 503 when the history is off or busy.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::body::BodyWriter;
use super::hub::{Feed, Hub};
use crate::history::read;
use crate::history::recorder::{Item, Live};
use crate::wire::HistoryReport;

/// The most points a flight's view gives (a curve on a screen).
pub const VIEW_POINTS: u64 = 2_000;
/// The most rows an export gives (a whole day at 0.5 s per analysis).
pub const EXPORT_POINTS: u64 = 200_000;
/// Exports (`.json`, `.csv`) sent at once; one more is refused with 503 and [`EXPORT_RETRY_S`].
pub const EXPORTS_AT_ONCE: usize = 2;
/// The `Retry-After` of a refused export, in seconds.
pub const EXPORT_RETRY_S: u64 = 5;
/// The viewers' other reads (the list, a flight's view, a peak frame) at once.
pub const READS_AT_ONCE: usize = 8;
/// How long a read waits for its turn before it is answered 503.
pub const READ_WAIT: Duration = Duration::from_secs(10);

impl From<Feed> for Item {
    fn from(f: Feed) -> Self {
        match f {
            Feed::Analysis(a) => Item::Analysis(a),
            Feed::Stream(s) => Item::Stream(s),
            Feed::Alert(a) => Item::Alert(a),
            Feed::Setup(s) => Item::Setup(s),
        }
    }
}

impl Live for Hub {
    fn snapshot_jpeg(&self, seq: u64) -> Option<Result<Arc<Vec<u8>>, String>> {
        Hub::snapshot_jpeg_of(self, Some(seq))
    }
    fn snapshot_jpeg_of(&self, stream: &str, seq: u64) -> Option<Result<Arc<Vec<u8>>, String>> {
        let (latest, jpeg) = self.snapshot_jpeg_of_stream(stream)?;
        (latest == seq).then_some(jpeg)
    }
    fn set_history(&self, report: HistoryReport) {
        Hub::set_history(self, report)
    }
}

/// The database's path (`None` when the history is off), and the turns to read it.
#[derive(Clone)]
struct Db {
    path: Option<Arc<PathBuf>>,
    exports: Arc<Semaphore>,
    reads: Arc<Semaphore>,
}

impl Db {
    fn new(path: Option<PathBuf>) -> Self {
        Self {
            path: path.map(Arc::new),
            exports: Arc::new(Semaphore::new(EXPORTS_AT_ONCE)),
            reads: Arc::new(Semaphore::new(READS_AT_ONCE)),
        }
    }

    /// A read's turn: at once when one is free, else after the others, or 503 past [`READ_WAIT`].
    async fn read_turn(&self) -> Result<OwnedSemaphorePermit, Refused> {
        match tokio::time::timeout(READ_WAIT, self.reads.clone().acquire_owned()).await {
            Ok(Ok(permit)) => Ok(permit),
            _ => Err(error(
                StatusCode::SERVICE_UNAVAILABLE,
                "the history is busy answering others: try again in a moment".into(),
            )),
        }
    }

    /// An export's turn, now or never (see [`exports_busy`]).
    fn export_turn(&self) -> Option<OwnedSemaphorePermit> {
        self.exports.clone().try_acquire_owned().ok()
    }
}

/// The answer to an export while [`EXPORTS_AT_ONCE`] are being sent: 503 with `Retry-After`.
fn exports_busy() -> Response {
    let mut r = error(
        StatusCode::SERVICE_UNAVAILABLE,
        format!(
            "{EXPORTS_AT_ONCE} exports are being downloaded from this box already: try again in \
             {EXPORT_RETRY_S} s"
        ),
    )
    .into_response();
    r.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(EXPORT_RETRY_S));
    r
}

/// The history's routes; `db` is `history.path` (None: `history.enabled = false`).
pub fn routes(db: Option<PathBuf>) -> Router {
    Router::new()
        .route("/api/history/flights", get(list))
        .route("/api/history/flights/{file}", get(one))
        .route("/api/history/flights/{id}/peak.jpg", get(peak_jpg))
        .with_state(Db::new(db))
}

/// The history's operator routes; the caller puts them behind the operator's gate.
pub fn operator_routes(db: Option<PathBuf>) -> Router {
    Router::new()
        .route(
            "/api/operator/history/flights/{id}",
            axum::routing::delete(remove),
        )
        .with_state(Db::new(db))
}

/// A request refused: a status and why, sent as `{"error": …}`.
struct Refused(StatusCode, String);

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        (self.0, Json(json!({ "error": self.1 }))).into_response()
    }
}

fn error(status: StatusCode, message: String) -> Refused {
    Refused(status, message)
}

/// What a request asked for, from `{file}`.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Form {
    View,
    Json,
    Csv,
}

fn parse_file(file: &str) -> Result<(i64, Form), String> {
    let (id, form) = match file.rsplit_once('.') {
        Some((id, "json")) => (id, Form::Json),
        Some((id, "csv")) => (id, Form::Csv),
        _ => (file, Form::View),
    };
    match id.parse::<i64>() {
        Ok(n) if n > 0 && id.bytes().all(|b| b.is_ascii_digit()) => Ok((n, form)),
        _ => {
            let shown: String = file.chars().take(40).collect();
            Err(format!(
                "{shown:?} is not a flight: expected its id (a number from the list at \
                 /api/history/flights), e.g. 12, 12.json or 12.csv"
            ))
        }
    }
}

/// Runs `f` on the database, read-only, off the async workers, in its turn.
async fn with_db<T: Send + 'static>(
    db: &Db,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, Refused> + Send + 'static,
) -> Result<T, Refused> {
    let turn = db.read_turn().await?;
    on_db(db, crate::history::db::open_read, move |c| {
        let _turn = turn;
        f(c)
    })
    .await
}

/// The database's path, or 503 when the history is off.
fn path_of(db: &Db) -> Result<Arc<PathBuf>, Refused> {
    db.path.clone().ok_or_else(|| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            "the history is off on this box (history.enabled = false in skycount.toml)".into(),
        )
    })
}

/// Opens the database with `open`, or says why it cannot be read.
fn open_with(
    open: fn(&std::path::Path) -> rusqlite::Result<rusqlite::Connection>,
    path: &std::path::Path,
) -> Result<rusqlite::Connection, Refused> {
    open(path).map_err(|e| {
        error(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("the history cannot be read yet ({e}): has a flight been recorded?"),
        )
    })
}

/// Runs `f` on the database opened with `open`, off the async workers.
async fn on_db<T: Send + 'static>(
    db: &Db,
    open: fn(&std::path::Path) -> rusqlite::Result<rusqlite::Connection>,
    f: impl FnOnce(&rusqlite::Connection) -> Result<T, Refused> + Send + 'static,
) -> Result<T, Refused> {
    let path = path_of(db)?;
    tokio::task::spawn_blocking(move || f(&open_with(open, &path)?))
        .await
        .map_err(|e| error(StatusCode::INTERNAL_SERVER_ERROR, e.to_string()))?
}

fn sql(e: rusqlite::Error) -> Refused {
    error(
        StatusCode::INTERNAL_SERVER_ERROR,
        format!("reading the history failed: {e}"),
    )
}

fn not_found(id: i64) -> Refused {
    error(
        StatusCode::NOT_FOUND,
        format!(
            "no flight {id} in the history (never recorded, or pruned by retention_days or max_mb)"
        ),
    )
}

async fn remove(State(db): State<Db>, Path(id): Path<String>) -> Response {
    let id = match parse_file(&id) {
        Ok((id, Form::View)) => id,
        Ok(_) => {
            let shown: String = id.chars().take(40).collect();
            return error(
                StatusCode::BAD_REQUEST,
                format!("{shown:?}: delete a flight by its id alone, e.g. 12"),
            )
            .into_response();
        }
        Err(e) => return error(StatusCode::BAD_REQUEST, e).into_response(),
    };
    let done = on_db(&db, crate::history::db::open_existing, move |c| {
        use crate::history::db::{delete_flight, Deleted};
        match delete_flight(c, id) {
            Ok(Deleted::Done) => Ok(()),
            Ok(Deleted::Missing) => Err(not_found(id)),
            Ok(Deleted::Open) => Err(error(
                StatusCode::CONFLICT,
                format!(
                    "flight {id} is going on: it can be deleted once it has ended (when no \
                     drone has streamed for history.flight_gap_s)"
                ),
            )),
            Err(e)
                if crate::history::db::is_disk_trouble(&e)
                    || e.sqlite_error_code() == Some(rusqlite::ErrorCode::DatabaseBusy) =>
            {
                Err(error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    format!("the history cannot take the change now ({e}): try again"),
                ))
            }
            Err(e) => Err(error(
                StatusCode::INTERNAL_SERVER_ERROR,
                format!("deleting flight {id} failed: {e}"),
            )),
        }
    })
    .await;
    match done {
        Ok(()) => {
            log::info!("history: the operator deleted flight {id}");
            StatusCode::NO_CONTENT.into_response()
        }
        Err(r) => r.into_response(),
    }
}

async fn list(State(db): State<Db>) -> Response {
    if db.path.as_ref().is_some_and(|p| !p.exists()) {
        return Json(json!({ "flights": [] })).into_response();
    }
    match with_db(&db, |c| read::flights(c).map_err(sql)).await {
        Ok(flights) => Json(json!({ "flights": flights })).into_response(),
        Err(r) => r.into_response(),
    }
}

async fn one(State(db): State<Db>, Path(file): Path<String>) -> Response {
    let (id, form) = match parse_file(&file) {
        Ok(v) => v,
        Err(e) => return error(StatusCode::BAD_REQUEST, e).into_response(),
    };
    let turn = match form {
        Form::View => db.read_turn().await.map_err(IntoResponse::into_response),
        Form::Json | Form::Csv => db.export_turn().ok_or_else(exports_busy),
    };
    let (turn, path) = match (turn, path_of(&db)) {
        (Ok(t), Ok(p)) => (t, p),
        (Err(r), _) => return r,
        (_, Err(r)) => return r.into_response(),
    };
    // On a blocking thread that holds the turn while it writes: the flight is looked up first
    // (a 404 is answered before any byte of a body), then written as it is read and sent.
    let (head, headed) = tokio::sync::oneshot::channel();
    let (mut out, chunks) = BodyWriter::new();
    tokio::task::spawn_blocking(move || {
        let found = open_with(crate::history::db::open_read, &path).and_then(|conn| {
            let flight = read::flight(&conn, id)
                .map_err(sql)?
                .ok_or_else(|| not_found(id))?;
            Ok((conn, flight))
        });
        let (conn, flight) = match found {
            Ok(found) => found,
            Err(refused) => {
                let _ = head.send(Err(refused));
                return;
            }
        };
        if head.send(Ok(flight.clone())).is_err() {
            return;
        }
        let stamp = read::Stamp {
            host: nix::unistd::gethostname()
                .ok()
                .and_then(|h| h.into_string().ok()),
            version: env!("CARGO_PKG_VERSION"),
        };
        let written = match form {
            Form::View => read::write_json(&conn, &flight, VIEW_POINTS, &stamp, &mut out),
            Form::Json => read::write_json(&conn, &flight, EXPORT_POINTS, &stamp, &mut out),
            Form::Csv => read::write_csv(&conn, &flight, EXPORT_POINTS, &mut out),
        };
        // The turn is given back before the body's end is sent: a client that asks again as
        // soon as its download ends finds it free.
        drop((turn, conn));
        match written {
            Ok(()) => {
                let _ = out.finish();
            }
            Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => {
                log::debug!("history: flight {id}'s client went before the end");
            }
            Err(e) => {
                log::warn!("history: flight {id} could not be sent whole: {e}");
                out.fail(e.to_string());
            }
        }
    });
    let flight = match headed.await {
        Ok(Ok(flight)) => flight,
        Ok(Err(refused)) => return refused.into_response(),
        Err(_) => {
            return error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "reading the history stopped".into(),
            )
            .into_response()
        }
    };
    let name = format!("skycount-flight-{}-{}", flight.id, flight.stream);
    let (ct, file) = match form {
        Form::View => ("application/json", None),
        Form::Json => ("application/json", Some(format!("{name}.json"))),
        Form::Csv => ("text/csv; charset=utf-8", Some(format!("{name}.csv"))),
    };
    let mut r = super::body::body(chunks).into_response();
    r.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(ct));
    if let Some(file) = file {
        r.headers_mut()
            .insert(header::CONTENT_DISPOSITION, attachment(&file));
    }
    r
}

fn attachment(file: &str) -> HeaderValue {
    // The stream key is letters, digits and `_` (store::stream_key): always a valid header.
    HeaderValue::from_str(&format!("attachment; filename=\"{file}\""))
        .unwrap_or_else(|_| HeaderValue::from_static("attachment"))
}

async fn peak_jpg(State(db): State<Db>, Path(id): Path<String>) -> Response {
    let id = match parse_file(&id) {
        Ok((id, Form::View)) => id,
        _ => {
            return error(
                StatusCode::BAD_REQUEST,
                format!(
                    "{:?} is not a flight id: expected a number such as 12",
                    id.chars().take(40).collect::<String>()
                ),
            )
            .into_response()
        }
    };
    let got = with_db(&db, move |c| {
        read::flight(c, id)
            .map_err(sql)?
            .ok_or_else(|| not_found(id))?;
        read::peak_jpeg(c, id).map_err(sql)?.ok_or_else(|| {
            error(
                StatusCode::NOT_FOUND,
                format!("flight {id} has no peak snapshot (none could be taken, or it was pruned)"),
            )
        })
    })
    .await;
    match got {
        Ok(jpeg) => super::snapshot::jpeg_response(jpeg, "private, max-age=3600"),
        Err(r) => r.into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::body::Body;
    use axum::http::Request;
    use tower::ServiceExt as _;

    use crate::history::db::{self, AnalysisRow, Batch, FlightRow, SnapshotRow};

    /// A flight going on with 5000 analyses and a peak snapshot (its JSON export: 600 KB).
    fn flight_of_5000(path: &std::path::Path) {
        let mut conn = db::open(path).unwrap();
        db::write(
            &mut conn,
            &Batch {
                flight: Some(FlightRow {
                    stream: "live_drone".into(),
                    start_ms: 1_000,
                    last_ms: 5_000,
                    end_ms: None,
                    peak: 7.0,
                    peak_ms: 3_000,
                }),
                analyses: (0..5000u64)
                    .map(|i| AnalysisRow {
                        t_ms: 1_000 + i,
                        count: 7.0,
                        smoothed: 7.0,
                        band: [6.0, 8.0],
                        calibrated: false,
                        state: "live".into(),
                        zones: "[]".into(),
                    })
                    .collect(),
                snapshots: vec![SnapshotRow::tiny_peak(3_000)],
                ..Batch::default()
            },
        )
        .unwrap();
    }

    #[tokio::test]
    async fn two_exports_at_once_and_one_more_is_told_when_to_come_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        flight_of_5000(&path);
        let app = routes(Some(path));
        let start = |uri: &'static str| {
            app.clone()
                .oneshot(Request::get(uri).body(Body::empty()).unwrap())
        };
        // Two downloads whose clients read nothing: they stay under way.
        let first = start("/api/history/flights/1.json").await.unwrap();
        let second = start("/api/history/flights/1.json").await.unwrap();
        assert_eq!(
            (first.status(), second.status()),
            (StatusCode::OK, StatusCode::OK)
        );
        let third = start("/api/history/flights/1.csv").await.unwrap();
        assert_eq!(third.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            third.headers().get(header::RETRY_AFTER).unwrap(),
            &EXPORT_RETRY_S.to_string()
        );
        // Not exports: answered.
        assert_eq!(get(&app, "/api/history/flights/1").await.0, StatusCode::OK);
        // A client that goes gives its turn back (its writer stops at its next chunk).
        drop(first);
        let mut answered = None;
        for _ in 0..200 {
            let (s, _, body) = get(&app, "/api/history/flights/1.csv").await;
            if s == StatusCode::OK {
                answered = Some(body);
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        let csv = String::from_utf8(answered.expect("the turn came back within 10 s")).unwrap();
        assert_eq!(csv.lines().count(), 5001);
        drop(second);
    }

    async fn get(app: &Router, uri: &str) -> (StatusCode, String, Vec<u8>) {
        let r = app
            .clone()
            .oneshot(Request::get(uri).body(Body::empty()).unwrap())
            .await
            .unwrap();
        let status = r.status();
        let ct = r
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|v| v.to_str().unwrap().to_string())
            .unwrap_or_default();
        let body = axum::body::to_bytes(r.into_body(), 1 << 24).await.unwrap();
        (status, ct, body.to_vec())
    }

    #[tokio::test]
    async fn flights_are_listed_viewed_exported_and_bad_ids_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("h.sqlite");
        let app = routes(Some(path.clone()));
        let (s, _, body) = get(&app, "/api/history/flights").await;
        assert_eq!(
            (s, body.as_slice()),
            (StatusCode::OK, &br#"{"flights":[]}"#[..])
        );

        flight_of_5000(&path);

        let (s, _, body) = get(&app, "/api/history/flights").await;
        assert_eq!(s, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["flights"][0]["id"], 1);
        assert_eq!(v["flights"][0]["end_ms"], serde_json::Value::Null);
        assert_eq!(v["flights"][0]["duration_s"], 4.0);

        let (s, _, body) = get(&app, "/api/history/flights/1").await;
        assert_eq!(s, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(
            v["step"], 3,
            "5000 analyses thinned to at most {VIEW_POINTS}"
        );
        assert_eq!(v["series"].as_array().unwrap().len(), 1667);
        assert_eq!(v["peak_snapshot"]["density"]["data"], "AP8=");
        assert_eq!(v["peak_snapshot"]["url"], "/api/history/flights/1/peak.jpg");
        assert_eq!(v["version"], env!("CARGO_PKG_VERSION"));

        let (s, ct, body) = get(&app, "/api/history/flights/1.csv").await;
        assert_eq!(
            (s, ct.as_str()),
            (StatusCode::OK, "text/csv; charset=utf-8")
        );
        assert_eq!(String::from_utf8(body).unwrap().lines().count(), 5001);
        let (s, _, body) = get(&app, "/api/history/flights/1.json").await;
        assert_eq!(s, StatusCode::OK);
        let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["series"].as_array().unwrap().len(), 5000);

        let (s, ct, body) = get(&app, "/api/history/flights/1/peak.jpg").await;
        assert_eq!(
            (s, ct.as_str(), body.len()),
            (StatusCode::OK, "image/jpeg", 4)
        );

        for (uri, want) in [
            ("/api/history/flights/2", StatusCode::NOT_FOUND),
            ("/api/history/flights/2.csv", StatusCode::NOT_FOUND),
            ("/api/history/flights/2/peak.jpg", StatusCode::NOT_FOUND),
            ("/api/history/flights/abc", StatusCode::BAD_REQUEST),
            ("/api/history/flights/-1", StatusCode::BAD_REQUEST),
            ("/api/history/flights/1.xml", StatusCode::BAD_REQUEST),
            (
                "/api/history/flights/99999999999999999999",
                StatusCode::BAD_REQUEST,
            ),
            ("/api/history/flights/x/peak.jpg", StatusCode::BAD_REQUEST),
        ] {
            let (s, ct, body) = get(&app, uri).await;
            assert_eq!(s, want, "{uri}");
            assert_eq!(ct, "application/json", "{uri}");
            let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
            assert!(v["error"].as_str().unwrap().len() > 20, "{uri}: {v}");
        }

        let off = routes(None);
        let (s, _, _) = get(&off, "/api/history/flights").await;
        assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE);
    }
}
