//! Store: what the operator set, kept on the box's disk per stream path.
//!
//! ```text
//! <analysis.state_dir>/<stream key>/setup.json          calibration and masks (the Setup)
//! <analysis.state_dir>/<stream key>/frames/<id>.jpg     frames the operator froze
//! <analysis.state_dir>/<stream key>/frames/<id>.json    the box and taps made on them
//! ```
//!
//! The stream key is the source's path (`live/drone` → `live_drone`), so a calibration made over
//! one drone's stream is not applied to another's. Every write is atomic (a temporary file, fsync,
//! rename), so a power cut leaves the old file or the new one, never half of one. A setup file that
//! cannot be read is moved aside (`setup.json.unreadable-<time>`), reported, and the box counts with
//! no calibration: nothing the operator saved is deleted.
//!
//! The frames and taps are training data (manifest + points, like `../shared/testdata`), and
//! [`export`] packs them into one archive for `models/finetune.py`. At most
//! `analysis.max_frozen_frames` frames are kept ([`Store::keeping_frames`]): past it, each
//! freeze deletes the oldest frames never tapped, and only when every kept frame was tapped the
//! oldest tapped ones (logged: export them before). Models the operator uploads are box-wide, not per stream: [`models`]
//! keeps them under `<analysis.state_dir>/.models/`.

pub mod export;
pub mod models;

use std::path::{Path, PathBuf};

use crate::analyse::calibrate::Request;
use crate::analyse::Setup;
use crate::secret::write_atomically;
use crate::source::SourceUrl;

/// The files of one stream path.
#[derive(Debug, Clone)]
pub struct Store {
    dir: PathBuf,
    /// The most frozen frames kept.
    max_frames: usize,
}

/// The frozen frames kept when nothing else is said (`analysis.max_frozen_frames`' default).
pub const DEFAULT_MAX_FRAMES: usize = 200;

/// The store's name for a source: its path, made safe for a file name.
pub fn stream_key(url: &SourceUrl) -> String {
    let raw = match url {
        SourceUrl::File(p) => p
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default(),
        other => url::Url::parse(&other.as_url())
            .map(|u| u.path().trim_matches('/').to_string())
            .unwrap_or_default(),
    };
    let key: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '.' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let key = key.trim_start_matches('.').to_string();
    if key.is_empty() {
        "default".into()
    } else {
        key.chars().take(100).collect()
    }
}

/// A frame id the store made (digits only): anything else names no frame.
fn valid_id(id: &str) -> bool {
    !id.is_empty() && id.len() <= 32 && id.bytes().all(|b| b.is_ascii_digit())
}

impl Store {
    pub fn new(state_dir: &Path, url: &SourceUrl) -> Self {
        Self {
            dir: state_dir.join(stream_key(url)),
            max_frames: DEFAULT_MAX_FRAMES,
        }
    }

    /// The same store keeping at most `n` frozen frames (at least one: the newest).
    pub fn keeping_frames(self, n: usize) -> Self {
        Self {
            max_frames: n.max(1),
            ..self
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn setup_file(&self) -> PathBuf {
        self.dir.join("setup.json")
    }

    /// Where the frozen frames and their taps are.
    pub fn frames(&self) -> PathBuf {
        self.dir.join("frames")
    }

    fn ensure(&self, dir: &Path) -> Result<(), String> {
        std::fs::create_dir_all(dir).map_err(|e| {
            format!(
                "cannot create {}: {e} (is analysis.state_dir writable by skycountd?)",
                dir.display()
            )
        })
    }

    /// The kept setup; the default when there is none. An unreadable file is moved aside.
    pub fn load(&self) -> Setup {
        let file = self.setup_file();
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Setup::default(),
            Err(e) => {
                log::error!(
                    "cannot read {}: {e}; counting without calibration and masks",
                    file.display()
                );
                return Setup::default();
            }
        };
        match serde_json::from_str::<Setup>(&text) {
            Ok(s) => s,
            Err(e) => {
                let aside = file.with_extension(format!(
                    "json.unreadable-{}",
                    crate::wire::unix_ms(std::time::SystemTime::now())
                ));
                let moved = std::fs::rename(&file, &aside).is_ok();
                log::error!(
                    "{} is not a setup skycountd can read ({e}); {}; counting without calibration and masks",
                    file.display(),
                    if moved {
                        format!("kept as {}", aside.display())
                    } else {
                        "left in place".into()
                    }
                );
                Setup::default()
            }
        }
    }

    pub fn save(&self, setup: &Setup) -> Result<(), String> {
        self.ensure(&self.dir)?;
        let json = serde_json::to_vec_pretty(setup).map_err(|e| e.to_string())?;
        let file = self.setup_file();
        write_atomically(&file, &json, 0o640)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))
    }

    /// Keeps a frozen frame, then deletes the oldest beyond the cap ([`Store::keeping_frames`]):
    /// those never tapped first, then tapped ones; never the new one. Returns its id.
    pub fn save_frame(&self, jpeg: &[u8]) -> Result<String, String> {
        let dir = self.frames();
        self.ensure(&dir)?;
        let mut id = crate::wire::unix_ms(std::time::SystemTime::now());
        // Two freezes in one millisecond get two ids.
        while dir.join(format!("{id}.jpg")).exists() {
            id += 1;
        }
        let file = dir.join(format!("{id}.jpg"));
        write_atomically(&file, jpeg, 0o640)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        self.prune_frames(id);
        Ok(id.to_string())
    }

    /// Deletes the oldest frames beyond `max_frames`, keeping `newest` (see [`Store::save_frame`]).
    /// A file that cannot be deleted is logged and left; the freeze still succeeds.
    fn prune_frames(&self, newest: u64) {
        let dir = self.frames();
        let Ok(entries) = std::fs::read_dir(&dir) else {
            return;
        };
        // (tapped, id) of every frame but the new one: ids are the freeze's time in ms.
        let mut frames: Vec<(bool, u64)> = entries
            .flatten()
            .filter_map(|e| {
                let name = e.file_name().into_string().ok()?;
                let id = name.strip_suffix(".jpg").filter(|id| valid_id(id))?;
                let id: u64 = id.parse().ok()?;
                let tapped = dir.join(format!("{id}.json")).exists();
                (id != newest).then_some((tapped, id))
            })
            .collect();
        let excess = (frames.len() + 1).saturating_sub(self.max_frames);
        // Untapped before tapped, each oldest first.
        frames.sort_unstable();
        for &(tapped, id) in &frames[..excess] {
            if tapped {
                log::warn!(
                    "frozen frames: more than {} kept; deleting frame {id} and its taps (training \
                     data: export it with the annotations first; analysis.max_frozen_frames)",
                    self.max_frames
                );
            }
            for file in [format!("{id}.jpg"), format!("{id}.json")] {
                let path = dir.join(file);
                match std::fs::remove_file(&path) {
                    Ok(()) => {}
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
                    Err(e) => log::warn!("cannot delete {}: {e}", path.display()),
                }
            }
        }
    }

    /// A kept frame's JPEG; `None` when there is no such frame.
    pub fn frame(&self, id: &str) -> Option<Vec<u8>> {
        if !valid_id(id) {
            return None;
        }
        std::fs::read(self.frames().join(format!("{id}.jpg"))).ok()
    }

    /// Keeps the box and taps made on a frame, as training data.
    pub fn save_taps(&self, req: &Request, stream: &str) -> Result<(), String> {
        if !valid_id(&req.frame_id) {
            return Err(format!("{:?} is not a frame id", req.frame_id));
        }
        let file = self.frames().join(format!("{}.json", req.frame_id));
        let json = serde_json::json!({
            "frame": format!("{}.jpg", req.frame_id),
            "stream": stream,
            "box": req.area,
            "points": req.taps,
            "labelled": "box",
            "at_ms": crate::wire::unix_ms(std::time::SystemTime::now()),
        });
        write_atomically(&file, json.to_string().as_bytes(), 0o640)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::Mask;

    fn url(s: &str) -> SourceUrl {
        SourceUrl::parse(s).unwrap()
    }

    #[test]
    fn keys_follow_the_stream_path_and_stay_in_their_folder() {
        assert_eq!(
            stream_key(&url("rtsp://127.0.0.1:8554/live/drone")),
            "live_drone"
        );
        assert_eq!(
            stream_key(&url("rtmp://box/live/drone?key=x")),
            "live_drone"
        );
        assert_eq!(stream_key(&url("file:///var/flights/a%20b.mp4")), "a_b");
        assert_eq!(stream_key(&url("rtmp://box/../..")), "default");
        assert_eq!(
            stream_key(&url("rtmp://box/a/..%2F..%2Fetc")),
            "a_.._2F.._2Fetc"
        );
        assert_eq!(stream_key(&url("rtmp://box/")), "default");
    }

    #[test]
    fn a_setup_survives_and_an_unreadable_one_is_moved_aside() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), &url("rtmp://box/live/drone"));
        assert_eq!(store.load(), Setup::default(), "nothing kept yet");
        let setup = Setup {
            calibration: None,
            masks: vec![Mask {
                name: "roof".into(),
                points: vec![[0.1, 0.1], [0.2, 0.1], [0.2, 0.2]],
            }],
            zones: vec![crate::wire::Zone {
                name: "stage front".into(),
                points: vec![[0.5, 0.5], [0.9, 0.5], [0.9, 0.9]],
                limit: Some(40),
            }],
            name: Some("North gate".into()),
        };
        store.save(&setup).unwrap();
        assert_eq!(
            Store::new(dir.path(), &url("rtmp://box/live/drone")).load(),
            setup
        );
        assert_eq!(
            Store::new(dir.path(), &url("rtmp://box/live/other")).load(),
            Setup::default(),
            "another stream has its own"
        );
        std::fs::write(store.dir().join("setup.json"), b"{not json").unwrap();
        assert_eq!(store.load(), Setup::default());
        let kept: Vec<_> = std::fs::read_dir(store.dir())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert!(
            kept.iter().any(|n| n.starts_with("setup.json.unreadable-")),
            "{kept:?}"
        );
    }

    #[test]
    fn frozen_frames_are_capped_the_untapped_going_first() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), &url("rtmp://box/live/drone")).keeping_frames(3);
        let first = store.save_frame(b"a").unwrap();
        store
            .save_taps(
                &Request {
                    frame_id: first.clone(),
                    area: [0.0, 0.0, 10.0, 10.0],
                    taps: vec![[5.0, 5.0]],
                },
                "live/drone",
            )
            .unwrap();
        let ids: Vec<String> = (0..5).map(|_| store.save_frame(b"b").unwrap()).collect();
        let kept = |s: &Store| {
            let mut k: Vec<String> = std::fs::read_dir(s.frames())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            k.sort();
            k
        };
        // The tapped frame (training data) and the two newest.
        assert_eq!(
            kept(&store),
            [
                format!("{first}.jpg"),
                format!("{first}.json"),
                format!("{}.jpg", ids[3]),
                format!("{}.jpg", ids[4]),
            ]
        );
        assert!(store.frame(&ids[2]).is_none());
        // Every kept frame tapped: the oldest tapped one goes, with its taps.
        let store = store.keeping_frames(1);
        let last = store.save_frame(b"c").unwrap();
        assert_eq!(kept(&store), [format!("{last}.jpg")]);
    }

    #[test]
    fn frames_are_kept_and_found_by_id_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), &url("rtmp://box/live/drone"));
        let a = store.save_frame(b"jpeg-a").unwrap();
        let b = store.save_frame(b"jpeg-b").unwrap();
        assert_ne!(a, b);
        assert_eq!(store.frame(&a).unwrap(), b"jpeg-a");
        assert_eq!(store.frame("../setup"), None);
        assert_eq!(store.frame("123"), None);
        let req = Request {
            frame_id: a.clone(),
            area: [1.0, 2.0, 30.0, 40.0],
            taps: vec![[5.0, 6.0]],
        };
        store.save_taps(&req, "live/drone").unwrap();
        let json: serde_json::Value = serde_json::from_slice(
            &std::fs::read(store.dir().join(format!("frames/{a}.json"))).unwrap(),
        )
        .unwrap();
        assert_eq!(json["points"][0][1], 6.0);
        assert_eq!(json["labelled"], "box");
    }
}
