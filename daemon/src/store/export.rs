//! Export: the frames an operator annotated, as one archive in the manifest + points form of
//! `../shared/testdata` that `models/finetune.py` reads.
//!
//! ```text
//! skycount-annotations/manifest.csv    file,width,height,gt_count,view,labelled_box,stream,group,time_ms
//! skycount-annotations/gt_points.json  {file: [[x, y], ...]} in the frame's pixels
//! skycount-annotations/<id>.jpg        the frozen frames, at the stream's own resolution
//! ```
//!
//! A frame tapped in a box is *partially* annotated: `labelled_box` is `x,y,w,h` and only people
//! inside it were tapped, so only that box may teach a model. A box that covers the whole frame
//! leaves `labelled_box` empty: every person in the frame was tapped. `group` keeps the frames of
//! one flight together (the stream path and the hour they were frozen in): consecutive frames are
//! near duplicates and must not be split between training and testing. Frames frozen but never
//! tapped are left out.

use std::io::Write;
use std::path::Path;

use serde::Deserialize;

/// What `Store::save_taps` wrote beside a frame.
#[derive(Debug, Deserialize)]
struct Taps {
    frame: String,
    stream: String,
    #[serde(rename = "box")]
    area: [f64; 4],
    points: Vec<[f64; 2]>,
    at_ms: u64,
}

/// One annotated frame found in a `frames/` folder.
#[derive(Debug, Clone, PartialEq)]
pub struct Annotated {
    pub id: String,
    pub width: u32,
    pub height: u32,
    pub stream: String,
    /// `None` when the whole frame was tapped.
    pub labelled_box: Option<[f64; 4]>,
    pub points: Vec<[f64; 2]>,
    pub at_ms: u64,
}

impl Annotated {
    fn group(&self) -> String {
        format!("{}@{}", self.stream, self.at_ms / 3_600_000 * 3600)
    }
}

/// The annotated frames of one `frames/` folder, oldest first. Unreadable entries are skipped
/// with a warning: one damaged file does not lose the others.
pub fn annotated(frames: &Path) -> Vec<Annotated> {
    let Ok(dir) = std::fs::read_dir(frames) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for f in dir.flatten() {
        let path = f.path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let id = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let read = || -> Result<Annotated, String> {
            let text = std::fs::read_to_string(&path).map_err(|e| e.to_string())?;
            let t: Taps = serde_json::from_str(&text).map_err(|e| e.to_string())?;
            if t.frame != format!("{id}.jpg") {
                return Err(format!("it names another frame ({})", t.frame));
            }
            let (width, height) = image::ImageReader::open(frames.join(&t.frame))
                .and_then(|r| r.with_guessed_format())
                .map_err(|e| e.to_string())?
                .into_dimensions()
                .map_err(|e| e.to_string())?;
            let [x, y, w, h] = t.area;
            let whole = x <= 1.0
                && y <= 1.0
                && x + w >= f64::from(width) - 1.0
                && y + h >= f64::from(height) - 1.0;
            Ok(Annotated {
                id: id.clone(),
                width,
                height,
                stream: t.stream,
                labelled_box: (!whole).then_some(t.area),
                points: t.points,
                at_ms: t.at_ms,
            })
        };
        match read() {
            Ok(a) => out.push(a),
            Err(e) => log::warn!("{} left out of the export: {e}", path.display()),
        }
    }
    out.sort_by_key(|a| (a.at_ms, a.id.clone()));
    out
}

/// Writes the archive of `frames/`'s annotated frames to `out`; returns how many frames it holds.
pub fn write_archive(frames: &Path, out: impl Write) -> Result<usize, String> {
    let items = annotated(frames);
    let mut manifest = csv::Writer::from_writer(Vec::new());
    let io = |e: std::io::Error| format!("cannot write the archive: {e}");
    let csv_err = |e: csv::Error| format!("cannot write the manifest: {e}");
    manifest
        .write_record([
            "file",
            "width",
            "height",
            "gt_count",
            "view",
            "labelled_box",
            "stream",
            "group",
            "time_ms",
        ])
        .map_err(csv_err)?;
    let mut points = serde_json::Map::new();
    for a in &items {
        let file = format!("{}.jpg", a.id);
        let labelled = a
            .labelled_box
            .map(|[x, y, w, h]| format!("{x:.1},{y:.1},{w:.1},{h:.1}"))
            .unwrap_or_default();
        manifest
            .write_record([
                file.clone(),
                a.width.to_string(),
                a.height.to_string(),
                a.points.len().to_string(),
                "drone".into(),
                labelled,
                a.stream.clone(),
                a.group(),
                a.at_ms.to_string(),
            ])
            .map_err(csv_err)?;
        points.insert(file, serde_json::json!(a.points));
    }
    let manifest = manifest.into_inner().map_err(|e| e.to_string())?;
    let points = serde_json::to_vec(&points).map_err(|e| e.to_string())?;

    let mut tar = tar::Builder::new(out);
    let mut add = |name: &str, size: u64, data: &mut dyn std::io::Read| -> Result<(), String> {
        let mut h = tar::Header::new_gnu();
        h.set_size(size);
        h.set_mode(0o644);
        h.set_mtime(crate::wire::unix_ms(std::time::SystemTime::now()) / 1000);
        h.set_cksum();
        tar.append_data(&mut h, format!("skycount-annotations/{name}"), data)
            .map_err(io)
    };
    add(
        "manifest.csv",
        manifest.len() as u64,
        &mut manifest.as_slice(),
    )?;
    add(
        "gt_points.json",
        points.len() as u64,
        &mut points.as_slice(),
    )?;
    // Frames are copied from their files as the archive is written, one buffer at a time.
    for a in &items {
        let file = format!("{}.jpg", a.id);
        let path = frames.join(&file);
        let cannot = |e: std::io::Error| format!("cannot read {}: {e}", path.display());
        let mut jpeg = std::fs::File::open(&path).map_err(cannot)?;
        let size = jpeg.metadata().map_err(cannot)?.len();
        add(&file, size, &mut jpeg)?;
    }
    tar.into_inner().map_err(io)?;
    Ok(items.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(dir: &Path, id: &str, w: u32, h: u32) {
        let img = image::RgbImage::from_pixel(w, h, image::Rgb([90, 120, 60]));
        img.save(dir.join(format!("{id}.jpg"))).unwrap();
    }

    fn taps(dir: &Path, id: &str, area: [f64; 4], points: &[[f64; 2]], at_ms: u64) {
        let j = serde_json::json!({
            "frame": format!("{id}.jpg"), "stream": "live/drone", "box": area,
            "points": points, "labelled": "box", "at_ms": at_ms,
        });
        std::fs::write(dir.join(format!("{id}.json")), j.to_string()).unwrap();
    }

    #[test]
    fn the_archive_has_the_manifest_the_points_and_the_frames() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        frame(d, "100", 64, 48);
        taps(
            d,
            "100",
            [8.0, 8.0, 20.0, 16.0],
            &[[10.0, 10.0], [20.0, 12.0]],
            7_200_000,
        );
        frame(d, "200", 64, 48);
        taps(d, "200", [0.0, 0.0, 64.0, 48.0], &[[1.0, 2.0]], 7_300_000);
        frame(d, "300", 64, 48); // frozen, never tapped: left out
        std::fs::write(d.join("400.json"), b"{broken").unwrap(); // damaged: left out

        let mut buf = Vec::new();
        assert_eq!(write_archive(d, &mut buf).unwrap(), 2);
        let mut ar = tar::Archive::new(&buf[..]);
        let mut files = std::collections::BTreeMap::new();
        for e in ar.entries().unwrap() {
            let mut e = e.unwrap();
            let name = e.path().unwrap().to_string_lossy().into_owned();
            let mut data = Vec::new();
            std::io::Read::read_to_end(&mut e, &mut data).unwrap();
            files.insert(name, data);
        }
        let names: Vec<&str> = files.keys().map(|s| s.as_str()).collect();
        assert_eq!(
            names,
            [
                "skycount-annotations/100.jpg",
                "skycount-annotations/200.jpg",
                "skycount-annotations/gt_points.json",
                "skycount-annotations/manifest.csv"
            ]
        );
        let manifest =
            String::from_utf8(files["skycount-annotations/manifest.csv"].clone()).unwrap();
        let lines: Vec<&str> = manifest.lines().collect();
        assert_eq!(
            lines[0],
            "file,width,height,gt_count,view,labelled_box,stream,group,time_ms"
        );
        assert_eq!(
            lines[1],
            "100.jpg,64,48,2,drone,\"8.0,8.0,20.0,16.0\",live/drone,live/drone@7200,7200000"
        );
        // The whole frame was tapped: fully labelled.
        assert_eq!(
            lines[2],
            "200.jpg,64,48,1,drone,,live/drone,live/drone@7200,7300000"
        );
        let points: serde_json::Value =
            serde_json::from_slice(&files["skycount-annotations/gt_points.json"]).unwrap();
        assert_eq!(
            points["100.jpg"],
            serde_json::json!([[10.0, 10.0], [20.0, 12.0]])
        );
    }

    #[test]
    fn no_folder_gives_an_empty_archive_with_a_header() {
        let dir = tempfile::tempdir().unwrap();
        let mut buf = Vec::new();
        assert_eq!(
            write_archive(&dir.path().join("none"), &mut buf).unwrap(),
            0
        );
        assert!(!buf.is_empty());
    }
}
