//! TensorRT's engine cache, one folder per model and runtime.
//!
//! TensorRT compiles the model into an engine on the first start (minutes on a Jetson) and ONNX
//! Runtime keeps it in `model.cache_dir`. An engine is only valid for the model's weights and
//! the TensorRT that built it, and ONNX Runtime names its files after the model's file name and
//! graph, not its weights: a software update that brings new weights under the same name, or a
//! new TensorRT, would otherwise load a stale engine (wrong counts) or fail to. So the engines
//! live in `model.cache_dir/<key>/`, where the key is a hash of the model file's contents, ONNX
//! Runtime's build and the TensorRT libraries on the box (their resolved file names and sizes):
//! anything that changes them gets a new folder and a fresh build, and what did not change keeps
//! its engine across updates and reboots. The two folders used last are kept (the running
//! software's, and the other slot's for a rollback); older ones are deleted.
//!
//! `model.cache_dir` is on the data partition (`/var/lib/skycount/tensorrt`), which updates leave
//! alone.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// How many engine folders are kept.
pub const KEEP: usize = 2;

/// Where TensorRT looks for its libraries on the boxes and on development machines.
const LIB_DIRS: &[&str] = &[
    "/usr/lib",
    "/usr/lib64",
    "/usr/lib/aarch64-linux-gnu",
    "/usr/lib/x86_64-linux-gnu",
    "/usr/local/cuda/lib64",
];

/// The TensorRT libraries found: `libnvinfer*.so*` in the library path, resolved, with their
/// sizes, sorted; empty when there is none.
pub fn tensorrt_libraries() -> Vec<String> {
    let mut dirs: Vec<PathBuf> = std::env::var_os("LD_LIBRARY_PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default();
    dirs.extend(LIB_DIRS.iter().map(PathBuf::from));
    let mut found: Vec<String> = dirs
        .iter()
        .filter_map(|d| std::fs::read_dir(d).ok())
        .flat_map(|entries| entries.flatten())
        .filter(|e| e.file_name().to_string_lossy().starts_with("libnvinfer"))
        .filter_map(|e| {
            let real = std::fs::canonicalize(e.path()).ok()?;
            let len = std::fs::metadata(&real).ok()?.len();
            Some(format!("{} {len}", real.display()))
        })
        .collect();
    found.sort();
    found.dedup();
    found
}

/// The sha256 of a file's contents.
pub fn file_sha256(path: &Path) -> Result<String, String> {
    let mut f =
        std::fs::File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let mut h = Sha256::new();
    std::io::copy(&mut f, &mut h).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    Ok(format!("{:x}", h.finalize()))
}

/// The engine folder's name for a model (by content) and a runtime (`runtime`: ONNX Runtime's
/// build and the TensorRT libraries, in words).
pub fn key(model_sha256: &str, runtime: &str) -> String {
    let mut h = Sha256::new();
    h.update(model_sha256.as_bytes());
    h.update(b"\n");
    h.update(runtime.as_bytes());
    format!("{:x}", h.finalize())[..16].to_string()
}

/// The folder for `model`'s engines under `cache_dir`, created, with a note of what it is for;
/// older folders beyond [`KEEP`] are deleted. `runtime` describes ONNX Runtime and TensorRT.
pub fn engine_dir(cache_dir: &Path, model: &Path, runtime: &str) -> Result<PathBuf, String> {
    let model_sha = file_sha256(model)?;
    let dir = cache_dir.join(key(&model_sha, runtime));
    std::fs::create_dir_all(&dir).map_err(|e| {
        format!(
            "cannot create {}: {e} (is model.cache_dir writable by skycountd?)",
            dir.display()
        )
    })?;
    let about = format!(
        "TensorRT engines for the model {} (sha256 {model_sha}) with:\n{runtime}\n",
        model.display()
    );
    // Also marks the folder as the latest used.
    if let Err(e) = std::fs::write(dir.join("ABOUT"), about) {
        log::warn!("cannot write {}: {e}", dir.join("ABOUT").display());
    }
    prune(cache_dir, KEEP);
    Ok(dir)
}

/// Whether an engine folder holds a built engine (TensorRT's `*.engine` files): if not, the next
/// session on it builds one, which takes minutes on a Jetson.
pub fn has_engine(dir: &Path) -> bool {
    std::fs::read_dir(dir).is_ok_and(|entries| {
        entries.flatten().any(|e| {
            e.file_name().to_string_lossy().ends_with(".engine")
                && e.metadata().is_ok_and(|m| m.is_file() && m.len() > 0)
        })
    })
}

/// Deletes the engine folders of `cache_dir` but the `keep` used last (by their `ABOUT` note).
/// Files directly in `cache_dir` (engines an older skycountd kept there) are deleted too.
pub fn prune(cache_dir: &Path, keep: usize) {
    let Ok(entries) = std::fs::read_dir(cache_dir) else {
        return;
    };
    let mut folders = Vec::new();
    for e in entries.flatten() {
        let path = e.path();
        let name = e.file_name().to_string_lossy().into_owned();
        let is_key = name.len() == 16 && name.bytes().all(|b| b.is_ascii_hexdigit());
        if path.is_dir() && is_key {
            let used = std::fs::metadata(path.join("ABOUT"))
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            folders.push((used, path));
        } else if path.is_file() && (name.ends_with(".engine") || name.ends_with(".profile")) {
            let _ = std::fs::remove_file(&path);
        }
    }
    folders.sort_by_key(|(used, _)| std::cmp::Reverse(*used));
    for (_, old) in folders.into_iter().skip(keep) {
        match std::fs::remove_dir_all(&old) {
            Ok(()) => log::info!(
                "deleted the TensorRT engines in {} (no longer used)",
                old.display()
            ),
            Err(e) => log::warn!("cannot delete {}: {e}", old.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_model_or_runtime_gets_its_own_folder_and_old_ones_go() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("tensorrt");
        let model = dir.path().join("csrnet.onnx");
        std::fs::write(&model, b"weights v1").unwrap();
        let a = engine_dir(&cache, &model, "ORT 1.24 / TensorRT 10.3").unwrap();
        assert_eq!(
            engine_dir(&cache, &model, "ORT 1.24 / TensorRT 10.3").unwrap(),
            a,
            "same inputs, same folder"
        );
        std::fs::write(a.join("engine.engine"), b"built").unwrap();
        // The same file name with new weights (an update): another folder. (The pauses keep
        // the folders' times apart on file systems with coarse clocks.)
        std::thread::sleep(std::time::Duration::from_millis(30));
        std::fs::write(&model, b"weights v2").unwrap();
        let b = engine_dir(&cache, &model, "ORT 1.24 / TensorRT 10.3").unwrap();
        assert_ne!(a, b);
        assert!(
            a.join("engine.engine").exists(),
            "the other slot's engines are kept"
        );
        // A new TensorRT: another folder, and the oldest of three goes.
        std::thread::sleep(std::time::Duration::from_millis(30));
        let c = engine_dir(&cache, &model, "ORT 1.24 / TensorRT 10.7").unwrap();
        assert_ne!(b, c);
        assert!(!a.exists(), "more than two folders");
        assert!(b.exists() && c.exists());
        let about = std::fs::read_to_string(c.join("ABOUT")).unwrap();
        assert!(
            about.contains("TensorRT 10.7") && about.contains("csrnet.onnx"),
            "{about}"
        );
    }

    #[test]
    fn engines_an_older_skycountd_kept_at_the_top_are_deleted_and_other_files_kept() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("TensorrtExecutionProvider_x_sm87.engine"),
            b"old",
        )
        .unwrap();
        std::fs::write(dir.path().join("notes.txt"), b"keep").unwrap();
        prune(dir.path(), KEEP);
        assert!(!dir
            .path()
            .join("TensorrtExecutionProvider_x_sm87.engine")
            .exists());
        assert!(dir.path().join("notes.txt").exists());
    }

    #[test]
    fn a_folder_without_an_engine_file_means_a_build_ahead() {
        let dir = tempfile::tempdir().unwrap();
        let engines = dir.path().join("0123456789abcdef");
        assert!(!has_engine(&engines), "no folder yet");
        std::fs::create_dir_all(&engines).unwrap();
        std::fs::write(engines.join("ABOUT"), b"x").unwrap();
        std::fs::write(engines.join("timing.cache"), b"x").unwrap();
        assert!(
            !has_engine(&engines),
            "a note and a timing cache are no engine"
        );
        std::fs::write(engines.join("TensorrtExecutionProvider_x_sm87.engine"), b"").unwrap();
        assert!(
            !has_engine(&engines),
            "an empty file (a build cut short) is no engine"
        );
        std::fs::write(
            engines.join("TensorrtExecutionProvider_x_sm87.engine"),
            b"plan",
        )
        .unwrap();
        assert!(has_engine(&engines));
    }

    #[test]
    fn a_missing_model_says_so() {
        let dir = tempfile::tempdir().unwrap();
        let e = engine_dir(dir.path(), &dir.path().join("none.onnx"), "x").unwrap_err();
        assert!(e.contains("none.onnx"), "{e}");
        assert_eq!(key("a", "b").len(), 16);
        assert_ne!(key("a", "b"), key("a", "c"));
    }
}
