//! The model shelf: models the operator uploaded, the one in use and the one before it.
//!
//! ```text
//! <analysis.state_dir>/.models/<sha256 prefix>.onnx   an uploaded model, named by its content
//! <analysis.state_dir>/.models/shelf.json             which is current, which is previous
//! ```
//!
//! `current: None` means the configured model (`model.path`): a box nobody uploaded to runs what
//! its configuration says. An upload becomes current and the model it replaces becomes previous,
//! so one click rolls back (current and previous swap). Only those two files are kept; older
//! uploads are deleted, which bounds the disk used to two models. The folder's name starts with a
//! dot, which no stream's folder can (`store::stream_key`), so the two never meet.
//!
//! Every write is atomic; a shelf file that cannot be read is moved aside and the configured model
//! is used, as for the setup.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::secret::write_atomically;
pub use crate::wire::{Shelf, ShelfEntry};

#[derive(Debug, Clone)]
pub struct ModelShelf {
    dir: PathBuf,
}

impl ModelShelf {
    pub fn new(state_dir: &Path) -> Self {
        Self {
            dir: state_dir.join(".models"),
        }
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    fn shelf_file(&self) -> PathBuf {
        self.dir.join("shelf.json")
    }

    /// The path of an entry's file.
    pub fn path_of(&self, e: &ShelfEntry) -> PathBuf {
        self.dir.join(&e.file)
    }

    /// What is kept; the empty shelf when nothing is (or the file cannot be read: moved aside).
    pub fn state(&self) -> Shelf {
        let file = self.shelf_file();
        let text = match std::fs::read_to_string(&file) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Shelf::default(),
            Err(e) => {
                log::error!("cannot read {}: {e}; using model.path", file.display());
                return Shelf::default();
            }
        };
        match serde_json::from_str::<Shelf>(&text) {
            Ok(s) if entries(&s).all(|e| valid_file(&e.file)) => s,
            _ => {
                let aside = file.with_extension(format!(
                    "json.unreadable-{}",
                    crate::wire::unix_ms(std::time::SystemTime::now())
                ));
                let _ = std::fs::rename(&file, &aside);
                log::error!(
                    "{} is not a model shelf skycountd can read; kept as {}; using model.path",
                    file.display(),
                    aside.display()
                );
                Shelf::default()
            }
        }
    }

    /// The uploaded model to run instead of `model.path`, when there is one and its file is there.
    pub fn current_path(&self) -> Option<PathBuf> {
        let current = self.state().current?;
        let path = self.path_of(&current);
        if path.is_file() {
            Some(path)
        } else {
            log::error!(
                "the uploaded model {} ({}) is missing; using model.path",
                current.name,
                path.display()
            );
            None
        }
    }

    /// A temporary file in the shelf's folder to receive an upload into (deleted when dropped).
    pub fn incoming(&self) -> Result<tempfile::NamedTempFile, String> {
        std::fs::create_dir_all(&self.dir).map_err(|e| {
            format!(
                "cannot create {}: {e} (is analysis.state_dir writable by skycountd?)",
                self.dir.display()
            )
        })?;
        tempfile::Builder::new()
            .prefix(".incoming-")
            .suffix(".onnx")
            .tempfile_in(&self.dir)
            .map_err(|e| format!("cannot write in {}: {e}", self.dir.display()))
    }

    /// Keeps a received file under its content's name; the shelf's state is not changed.
    pub fn keep(
        &self,
        incoming: tempfile::NamedTempFile,
        name: &str,
        analysis_scale: Option<f64>,
    ) -> Result<ShelfEntry, String> {
        let path = incoming.path().to_path_buf();
        let (sha256, bytes) = hash_file(&path)?;
        let file = format!("{}.onnx", &sha256[..16]);
        incoming
            .as_file()
            .sync_all()
            .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
        incoming
            .persist(self.dir.join(&file))
            .map_err(|e| format!("cannot keep the model in {}: {e}", self.dir.display()))?;
        Ok(ShelfEntry {
            file,
            name: name.to_string(),
            sha256,
            bytes,
            added_ms: crate::wire::unix_ms(std::time::SystemTime::now()),
            analysis_scale,
        })
    }

    /// Makes `entry` current; the current one becomes previous. Returns the new state.
    pub fn activate(&self, entry: ShelfEntry) -> Result<Shelf, String> {
        let old = self.state();
        let new = Shelf {
            previous: old.current.clone(),
            current: Some(entry),
        };
        self.write(&new)?;
        Ok(new)
    }

    /// Swaps current and previous. Fails when there is nothing to return to.
    pub fn rollback(&self) -> Result<Shelf, String> {
        let old = self.state();
        if old.current.is_none() && old.previous.is_none() {
            return Err("nothing to roll back to: no model was uploaded".into());
        }
        let new = Shelf {
            current: old.previous,
            previous: old.current,
        };
        self.write(&new)?;
        Ok(new)
    }

    /// Writes `shelf` (and undoes a change that could not be applied), then deletes the files no
    /// entry names.
    pub fn write(&self, shelf: &Shelf) -> Result<(), String> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| format!("cannot create {}: {e}", self.dir.display()))?;
        let json = serde_json::to_vec_pretty(shelf).map_err(|e| e.to_string())?;
        let file = self.shelf_file();
        write_atomically(&file, &json, 0o640)
            .map_err(|e| format!("cannot write {}: {e}", file.display()))?;
        self.prune(shelf);
        Ok(())
    }

    fn prune(&self, shelf: &Shelf) {
        let keep: Vec<&str> = entries(shelf).map(|e| e.file.as_str()).collect();
        let Ok(dir) = std::fs::read_dir(&self.dir) else {
            return;
        };
        for f in dir.flatten() {
            let name = f.file_name().to_string_lossy().into_owned();
            if name.ends_with(".onnx") && !name.starts_with('.') && !keep.contains(&name.as_str()) {
                if let Err(e) = std::fs::remove_file(f.path()) {
                    log::warn!("cannot delete the old model {}: {e}", f.path().display());
                }
            }
        }
    }
}

fn entries(shelf: &Shelf) -> impl Iterator<Item = &ShelfEntry> {
    shelf.current.iter().chain(shelf.previous.iter())
}

/// A file name the shelf made: hex digits and `.onnx`, nothing that leaves the folder.
fn valid_file(f: &str) -> bool {
    f.strip_suffix(".onnx")
        .is_some_and(|h| !h.is_empty() && h.len() <= 64 && h.bytes().all(|b| b.is_ascii_hexdigit()))
}

fn hash_file(path: &Path) -> Result<(String, u64), String> {
    let mut f =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut h = Sha256::new();
    let bytes = std::io::copy(&mut f, &mut h)
        .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok((format!("{:x}", h.finalize()), bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn upload(shelf: &ModelShelf, content: &[u8], name: &str) -> ShelfEntry {
        let mut t = shelf.incoming().unwrap();
        t.write_all(content).unwrap();
        shelf.keep(t, name, None).unwrap()
    }

    fn onnx_files(shelf: &ModelShelf) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(shelf.dir())
            .unwrap()
            .flatten()
            .map(|f| f.file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".onnx"))
            .collect();
        v.sort();
        v
    }

    #[test]
    fn uploads_become_current_and_a_rollback_swaps_with_the_one_before() {
        let dir = tempfile::tempdir().unwrap();
        let shelf = ModelShelf::new(dir.path());
        assert_eq!(shelf.state(), Shelf::default());
        assert_eq!(shelf.current_path(), None);
        assert!(shelf.rollback().is_err(), "nothing to roll back to");

        let a = upload(&shelf, b"model a", "a");
        assert_eq!(a.bytes, 7);
        assert_eq!(a.sha256.len(), 64);
        shelf.activate(a.clone()).unwrap();
        assert_eq!(shelf.current_path(), Some(shelf.path_of(&a)));

        let b = upload(&shelf, b"model b", "b");
        let s = shelf.activate(b.clone()).unwrap();
        assert_eq!(
            (s.current.as_ref(), s.previous.as_ref()),
            (Some(&b), Some(&a))
        );

        // A third upload pushes the first out, file and all.
        let c = upload(&shelf, b"model c", "c");
        shelf.activate(c.clone()).unwrap();
        assert_eq!(onnx_files(&shelf).len(), 2);
        assert!(!shelf.path_of(&a).exists());

        let s = shelf.rollback().unwrap();
        assert_eq!((s.current, s.previous), (Some(b.clone()), Some(c.clone())));
        assert_eq!(shelf.state().current, Some(b), "kept on disk");
    }

    #[test]
    fn rolling_back_the_first_upload_returns_to_the_configured_model() {
        let dir = tempfile::tempdir().unwrap();
        let shelf = ModelShelf::new(dir.path());
        let a = upload(&shelf, b"a", "a");
        shelf.activate(a.clone()).unwrap();
        let s = shelf.rollback().unwrap();
        assert_eq!((s.current, s.previous.clone()), (None, Some(a.clone())));
        assert_eq!(shelf.current_path(), None);
        assert!(shelf.path_of(&a).exists(), "kept to roll forward to");
        let s = shelf.rollback().unwrap();
        assert_eq!(s.current, Some(a));
    }

    #[test]
    fn a_damaged_or_hostile_shelf_file_falls_back_to_the_configured_model() {
        let dir = tempfile::tempdir().unwrap();
        let shelf = ModelShelf::new(dir.path());
        std::fs::create_dir_all(shelf.dir()).unwrap();
        std::fs::write(shelf.dir().join("shelf.json"), b"{not json").unwrap();
        assert_eq!(shelf.state(), Shelf::default());
        // Moved aside, not deleted.
        assert!(std::fs::read_dir(shelf.dir())
            .unwrap()
            .flatten()
            .any(|f| f.file_name().to_string_lossy().contains("unreadable")));
        let hostile = r#"{"current":{"file":"../../etc/passwd","name":"x","sha256":"00","bytes":1,"added_ms":0,"analysis_scale":null},"previous":null}"#;
        std::fs::write(shelf.dir().join("shelf.json"), hostile).unwrap();
        assert_eq!(shelf.state(), Shelf::default());
        assert_eq!(shelf.current_path(), None);
    }

    #[test]
    fn a_missing_model_file_means_the_configured_model() {
        let dir = tempfile::tempdir().unwrap();
        let shelf = ModelShelf::new(dir.path());
        let a = upload(&shelf, b"a", "a");
        shelf.activate(a.clone()).unwrap();
        std::fs::remove_file(shelf.path_of(&a)).unwrap();
        assert_eq!(shelf.current_path(), None);
    }
}
