//! The updater: one update at a time, from an upload or a USB stick, through RAUC.
//!
//! ```text
//!  upload ─▶ Receiving ─▶ Checking ─▶ Installing ─▶ Installed ─▶ Rebooting
//!  USB stick ────────────▶ Checking ─┘   (RAUC's steps)   (pending.json)  (update.reboot_file)
//!        any refusal or failure ─▶ Idle, with the reason in last.json
//! ```
//!
//! An upload is streamed to `update.dir` (never held in memory) and refused past
//! `update.max_bundle_mb` or when the data partition has no room for it. `rauc info` then checks
//! its signature and reads its manifest; its `compatible` must be the box's. RAUC installs it
//! into the slot that is not running and makes that slot the next to boot; the box keeps
//! counting meanwhile (RAUC runs in its own process, at idle I/O priority on the box). The
//! operator reboots when it suits (`request_reboot`), and after the reboot `skycountd
//! confirm-boot` keeps or rejects the new slot (`update::confirm`).
//!
//! Every refusal says why in the field team's words with RAUC's own words kept, and changes
//! nothing: the bundle is deleted, the slots and the boot order are untouched.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde::Serialize;

use super::rauc::{BundleInfo, Progress, Rauc, RaucError, Slots};
use super::store::{Last, Outcome, Pending, Source, Store};
use crate::config::UpdateSettings;

/// What the updater is doing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum Activity {
    Idle,
    /// An upload arriving: `bytes` so far of `total` (when the browser said).
    Receiving {
        bundle: String,
        bytes: u64,
        total: Option<u64>,
    },
    /// `rauc info`: the signature, the manifest, the compatible.
    Checking {
        bundle: String,
        source: Source,
    },
    /// `rauc install`: RAUC's step and percentage.
    Installing {
        bundle: String,
        source: Source,
        version: Option<String>,
        percent: u8,
        step: String,
    },
    /// In the other slot, which boots next: waiting for the operator's reboot.
    Installed {
        bundle: Option<String>,
        version: Option<String>,
        slot: String,
    },
    /// The reboot was asked for.
    Rebooting {
        version: Option<String>,
    },
}

impl Activity {
    fn busy(&self) -> bool {
        matches!(
            self,
            Self::Receiving { .. }
                | Self::Checking { .. }
                | Self::Installing { .. }
                | Self::Rebooting { .. }
        )
    }
}

/// Why a request was refused, and the kind of answer it gets.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum Refusal {
    /// Updates are off or RAUC is not there (503).
    #[error("{0}")]
    Unavailable(String),
    /// Another update is under way, or nothing to reboot into (409).
    #[error("{0}")]
    Busy(String),
    /// Larger than `update.max_bundle_mb` (413).
    #[error("{0}")]
    TooLarge(String),
    /// The data partition has no room (507).
    #[error("{0}")]
    NoSpace(String),
    /// The request itself is wrong (an empty or broken-off upload) (400).
    #[error("{0}")]
    Bad(String),
    /// RAUC or the compatible check refused the bundle (422).
    #[error("{0}")]
    Unusable(String),
    /// The box failed (500).
    #[error("{0}")]
    Failed(String),
}

/// The slot the box runs, for the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Running {
    /// The bootloader's name for it (`A`, `B`), when RAUC could say.
    pub slot: Option<String>,
    /// The bundle version RAUC installed into it, else the image's version (os-release).
    pub version: Option<String>,
    /// skycountd's own version.
    pub skycountd: String,
    /// The system image, as /etc/os-release names it.
    pub system: Option<String>,
}

/// The other slot, for the dashboard.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Other {
    pub slot: String,
    /// What RAUC installed into it last; `None`: nothing since the box was flashed.
    pub version: Option<String>,
    pub installed_at: Option<String>,
    /// The bootloader's verdict on it.
    pub good: Option<bool>,
    /// The box starts it at the next boot.
    pub next_boot: bool,
}

/// What the updater last made of a bundle on a USB stick.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct UsbNote {
    pub bundle: String,
    pub note: String,
}

/// `GET /api/update`: read-only, for every viewer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub available: bool,
    /// Why updates are not available here.
    pub reason: Option<String>,
    /// The box's `compatible`: the bundles it takes.
    pub compatible: Option<String>,
    pub running: Running,
    pub other: Option<Other>,
    pub activity: Activity,
    pub last: Option<Last>,
    /// Installed into the running slot and not yet confirmed healthy (confirm-boot runs).
    pub confirming: Option<Pending>,
    pub max_bundle_bytes: u64,
    /// The operator can reboot from the dashboard.
    pub can_reboot: bool,
    pub usb: Option<UsbNote>,
}

/// How long `rauc status` is trusted before it is asked again.
const STATUS_FOR: Duration = Duration::from_secs(3);
/// Room left on the data partition besides a bundle (the history and the models live there).
pub const RESERVE_BYTES: u64 = 32 * 1024 * 1024;
/// How often USB sticks are looked at.
const USB_EVERY: Duration = Duration::from_secs(2);

pub struct Updater {
    settings: UpdateSettings,
    rauc: Rauc,
    store: Store,
    activity: Mutex<Activity>,
    status: Mutex<Option<(Instant, Result<Slots, String>)>>,
    /// Why updates cannot work here (RAUC missing), found at start.
    unavailable: Mutex<Option<String>>,
    system: Option<(String, Option<String>)>,
    usb: Mutex<Option<UsbNote>>,
}

/// The image's name and version from os-release (`PRETTY_NAME`, `VERSION_ID`).
fn os_release() -> Option<(String, Option<String>)> {
    let text = std::fs::read_to_string("/etc/os-release")
        .or_else(|_| std::fs::read_to_string("/usr/lib/os-release"))
        .ok()?;
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .map(|v| v.trim().trim_matches('"').to_string())
    };
    let name = get("PRETTY_NAME").or_else(|| get("NAME"))?;
    let build = get("BUILD_ID").or_else(|| get("IMAGE_VERSION"));
    let name = match build {
        Some(b) => format!("{name} (build {b})"),
        None => name,
    };
    Some((name, get("VERSION_ID")))
}

/// A bundle's file name for messages: its last component, in printable characters, at most 80.
pub fn bundle_name(given: &str) -> String {
    let raw = given.trim().rsplit(['/', '\\']).next().unwrap_or(given);
    let name: String = raw.chars().filter(|c| !c.is_control()).take(80).collect();
    if name.trim().is_empty() {
        "bundle.raucb".into()
    } else {
        name
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.0} MB", bytes as f64 / 1e6)
}

/// A bundle RAUC refused to read, in the field team's words (RAUC's own kept).
pub fn explain_check(e: &RaucError) -> String {
    let r = e.to_string();
    let has = |s: &str| r.contains(s);
    match e {
        RaucError::Missing { .. } => {
            format!("RAUC is not installed on this box ({r}): it cannot check or install bundles")
        }
        RaucError::Timeout { .. } => format!("RAUC did not finish checking the bundle: {r}"),
        _ if has("Signature size is 0") => format!(
            "the file is not a signed RAUC bundle (RAUC: {r}): use a bundle built by the image \
             build (skycount-bundle), which signs it"
        ),
        _ if has("Verify error") || has("signature verification failed") || has("CMS") => format!(
            "the bundle is not signed with a key this box trusts (RAUC: {r}): use a bundle built \
             with this fleet's signing key"
        ),
        _ if has("exceeds bundle size")
            || has("Invalid bundle")
            || has("too small")
            || has("squashfs")
            || has("Failed to read") =>
        {
            format!(
                "the file is not a complete RAUC bundle: it may have been cut short while copied, \
                 or is not a bundle at all (RAUC: {r}); copy it again"
            )
        }
        _ if has("not allowed") => format!(
            "the bundle's format is one this box refuses (RAUC: {r}): build it with \
             RAUC_BUNDLE_FORMAT = \"verity\""
        ),
        _ => format!("RAUC refused the bundle: {r}"),
    }
}

/// An install RAUC did not finish, in the field team's words (RAUC's own kept).
pub fn explain_install(e: &RaucError) -> String {
    let r = e.to_string();
    if r.contains("D-Bus error")
        || r.contains("service disappeared")
        || r.contains("stopped before")
    {
        format!("RAUC's service stopped before it finished ({r})")
    } else if r.contains("No space") {
        format!("the slot is too small for the bundle's image ({r})")
    } else {
        r
    }
}

impl Updater {
    /// The updater, and RAUC's presence checked (`rauc --version`; off the async workers).
    pub fn new(settings: UpdateSettings) -> Arc<Self> {
        let rauc = Rauc::from_settings(&settings);
        let store = Store::new(&settings.dir);
        let unavailable = if !settings.enabled {
            Some("software updates are turned off on this box (update.enabled)".to_string())
        } else {
            rauc.version().err().map(|e| match e {
                RaucError::Missing { .. } => format!(
                    "RAUC is not installed on this machine ({e}; update.rauc): software updates \
                     need the box's image"
                ),
                other => format!("RAUC does not work here: {other}"),
            })
        };
        if let Some(why) = &unavailable {
            log::info!("software updates unavailable: {why}");
        } else {
            store.clean_leftovers();
        }
        let u = Arc::new(Self {
            settings,
            rauc,
            store,
            activity: Mutex::new(Activity::Idle),
            status: Mutex::new(None),
            unavailable: Mutex::new(unavailable),
            system: os_release(),
            usb: Mutex::new(None),
        });
        u.recover();
        u
    }

    pub fn settings(&self) -> &UpdateSettings {
        &self.settings
    }

    pub fn store(&self) -> &Store {
        &self.store
    }

    pub fn activity(&self) -> Activity {
        self.activity.lock().clone()
    }

    fn set(&self, a: Activity) {
        *self.activity.lock() = a;
    }

    fn unavailable(&self) -> Option<String> {
        self.unavailable.lock().clone()
    }

    /// RAUC's view of the slots, asked at most every [`STATUS_FOR`] (`fresh`: asked now).
    pub fn slots(&self, fresh: bool) -> Result<Slots, String> {
        if !fresh {
            if let Some((at, s)) = &*self.status.lock() {
                if at.elapsed() < STATUS_FOR {
                    return s.clone();
                }
            }
        }
        let s = self
            .rauc
            .status()
            .map_err(|e| format!("RAUC's service did not say which slot runs: {e}"));
        *self.status.lock() = Some((Instant::now(), s.clone()));
        s
    }

    /// After a restart of skycountd: an install that was waiting for its reboot still is.
    fn recover(&self) {
        if self.unavailable().is_some() {
            return;
        }
        let Some(p) = self.store.pending() else {
            return;
        };
        match self.slots(true) {
            Ok(s) => {
                let booted = s.booted.as_ref().map(|b| b.bootname.as_str());
                let next = s.next_boot().map(|b| b.bootname.as_str());
                if booted == Some(p.from.as_str()) && next == Some(p.to.as_str()) {
                    self.set(Activity::Installed {
                        bundle: p.bundle.clone(),
                        version: p.version.clone(),
                        slot: p.to.clone(),
                    });
                }
            }
            Err(e) => log::warn!("cannot tell whether an update waits for its reboot: {e}"),
        }
    }

    /// `GET /api/update`. Asks RAUC (cached): call it off the async workers.
    pub fn report(&self) -> Report {
        let mut available = true;
        let mut reason = self.unavailable();
        let slots = if reason.is_none() {
            match self.slots(false) {
                Ok(s) => Some(s),
                Err(e) => {
                    reason = Some(e);
                    None
                }
            }
        } else {
            None
        };
        if reason.is_some() {
            available = false;
        }
        let booted = slots.as_ref().and_then(|s| s.booted.clone());
        let os_version = self.system.as_ref().and_then(|(_, v)| v.clone());
        let running = Running {
            slot: booted.as_ref().map(|b| b.bootname.clone()),
            version: booted
                .as_ref()
                .and_then(|b| b.version.clone())
                .or(os_version),
            skycountd: env!("CARGO_PKG_VERSION").to_string(),
            system: self.system.as_ref().map(|(n, _)| n.clone()),
        };
        let other = slots.as_ref().and_then(|s| s.other.clone()).map(|o| Other {
            slot: o.bootname,
            version: o.version,
            installed_at: o.installed_at,
            good: o.good,
            next_boot: o.primary,
        });
        let confirming = self.store.pending().filter(|p| {
            booted
                .as_ref()
                .is_some_and(|b| b.bootname == p.to && p.from != p.to)
        });
        Report {
            available,
            reason,
            compatible: slots.as_ref().map(|s| s.compatible.clone()),
            running,
            other,
            activity: self.activity(),
            last: self.store.last(),
            confirming,
            max_bundle_bytes: self.settings.max_bundle_bytes(),
            can_reboot: !self.settings.reboot_file.as_os_str().is_empty(),
            usb: self.usb.lock().clone(),
        }
    }

    fn record(
        &self,
        outcome: Outcome,
        bundle: &str,
        source: Source,
        version: Option<String>,
        message: String,
    ) {
        self.store.set_last(&Last {
            outcome,
            version,
            bundle: Some(bundle.to_string()),
            source: Some(source),
            message,
            at_ms: crate::wire::unix_ms(std::time::SystemTime::now()),
        });
    }

    fn refuse_upload(&self, bundle: &str, r: Refusal) -> Refusal {
        self.record(
            Outcome::Refused,
            bundle,
            Source::Upload,
            None,
            r.to_string(),
        );
        r
    }

    /// Starts receiving an upload of `declared` bytes (when the browser said), or says why not.
    pub fn begin_upload(
        self: &Arc<Self>,
        name: &str,
        declared: Option<u64>,
    ) -> Result<Upload, Refusal> {
        if let Some(why) = self.unavailable() {
            return Err(Refusal::Unavailable(why));
        }
        let bundle = bundle_name(name);
        let max = self.settings.max_bundle_bytes();
        if declared.is_some_and(|n| n > max) {
            return Err(self.refuse_upload(&bundle, self.too_large(declared.unwrap_or(max))));
        }
        {
            let mut a = self.activity.lock();
            if a.busy() {
                return Err(Refusal::Busy(format!(
                    "another update is under way ({}): wait until it is done",
                    describe(&a)
                )));
            }
            *a = Activity::Receiving {
                bundle: bundle.clone(),
                bytes: 0,
                total: declared,
            };
        }
        let started = (|| {
            if let (Some(n), Some(free)) = (declared, self.free_bytes()) {
                if n + RESERVE_BYTES > free {
                    return Err(self.refuse_upload(
                        &bundle,
                        Refusal::NoSpace(format!(
                            "the data partition has {} free and the bundle is {}: delete old \
                             flights in History, then try again",
                            mb(free),
                            mb(n)
                        )),
                    ));
                }
            }
            let file = self.store.incoming().map_err(Refusal::Failed)?;
            let writer = file
                .as_file()
                .try_clone()
                .map_err(|e| Refusal::Failed(format!("cannot keep the upload: {e}")))?;
            Ok((file, tokio::fs::File::from_std(writer)))
        })();
        match started {
            Ok((file, writer)) => Ok(Upload {
                updater: self.clone(),
                bundle,
                file: Some(file),
                writer: Some(writer),
                received: 0,
                finished: false,
            }),
            Err(e) => {
                self.set(Activity::Idle);
                Err(e)
            }
        }
    }

    fn too_large(&self, bytes: u64) -> Refusal {
        Refusal::TooLarge(format!(
            "the bundle is {} or more; this box takes bundles up to {} (update.max_bundle_mb)",
            mb(bytes),
            mb(self.settings.max_bundle_bytes())
        ))
    }

    /// Free bytes on the data partition, for unprivileged users.
    pub fn free_bytes(&self) -> Option<u64> {
        let _ = self.store.ensure();
        nix::sys::statvfs::statvfs(self.store.dir())
            .ok()
            .map(|s| s.blocks_available() * s.fragment_size())
    }

    /// Checks a bundle with RAUC (signature, manifest, compatible). Blocking.
    fn check(&self, path: &Path) -> Result<BundleInfo, String> {
        let info = self.rauc.info(path).map_err(|e| explain_check(&e))?;
        let slots = self.slots(true)?;
        if info.compatible != slots.compatible {
            return Err(format!(
                "the bundle is for '{}', and this box is '{}': use the bundle built for this \
                 board",
                info.compatible, slots.compatible
            ));
        }
        Ok(info)
    }

    /// Checks and installs `path` (an upload in `update.dir`, or a bundle on a USB stick), in
    /// the background. An upload's file is deleted once RAUC is done with it.
    async fn check_and_install(
        self: &Arc<Self>,
        path: PathBuf,
        bundle: String,
        source: Source,
    ) -> Result<(BundleInfo, Slots), Refusal> {
        self.set(Activity::Checking {
            bundle: bundle.clone(),
            source,
        });
        let me = self.clone();
        let p = path.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let info = me.check(&p)?;
            let slots = me.slots(true)?;
            Ok::<_, String>((info, slots))
        })
        .await
        .unwrap_or_else(|e| Err(format!("the check stopped: {e}")));
        let (info, slots) = match checked {
            Ok(v) => v,
            Err(why) => {
                if source == Source::Upload {
                    let _ = std::fs::remove_file(&path);
                }
                self.record(Outcome::Refused, &bundle, source, None, why.clone());
                self.set(Activity::Idle);
                return Err(Refusal::Unusable(why));
            }
        };
        self.set(Activity::Installing {
            bundle: bundle.clone(),
            source,
            version: info.version.clone(),
            percent: 0,
            step: "Starting".into(),
        });
        let me = self.clone();
        let version = info.version.clone();
        let from = slots.booted.as_ref().map(|b| b.bootname.clone());
        tokio::task::spawn_blocking(move || me.install(&path, &bundle, source, version, from));
        Ok((info, slots))
    }

    /// `rauc install`, the outcome recorded. Blocking.
    fn install(
        &self,
        path: &Path,
        bundle: &str,
        source: Source,
        version: Option<String>,
        from: Option<String>,
    ) {
        log::info!(
            "installing {bundle} ({}) from {}",
            version.as_deref().unwrap_or("no version"),
            path.display()
        );
        let result = self.rauc.install(path, |p: Progress| {
            let mut a = self.activity.lock();
            if let Activity::Installing { percent, step, .. } = &mut *a {
                *percent = p.percent;
                step.clone_from(&p.step);
            }
        });
        if source == Source::Upload {
            let _ = std::fs::remove_file(path);
        }
        let v = version.clone().unwrap_or_else(|| "the bundle".into());
        match result {
            Ok(()) => {
                let slots = self.slots(true);
                let to = slots
                    .as_ref()
                    .ok()
                    .and_then(|s| s.next_boot().cloned())
                    .filter(|n| Some(&n.bootname) != from.as_ref());
                match (to, from) {
                    (Some(to), Some(from)) => {
                        let pending = Pending {
                            version: version.clone(),
                            bundle: Some(bundle.to_string()),
                            source,
                            from,
                            to: to.bootname.clone(),
                            at_ms: crate::wire::unix_ms(std::time::SystemTime::now()),
                        };
                        if let Err(e) = self.store.set_pending(&pending) {
                            log::error!("{e}: the new slot will be marked good at its first healthy start, without a record of this update");
                        }
                        self.record(
                            Outcome::Installed,
                            bundle,
                            source,
                            version.clone(),
                            format!(
                                "{v} is installed in slot {}, which the box starts at the next \
                                 reboot; it keeps counting with the running version until then",
                                to.bootname
                            ),
                        );
                        self.set(Activity::Installed {
                            bundle: Some(bundle.to_string()),
                            version,
                            slot: to.bootname,
                        });
                    }
                    _ => {
                        self.record(
                            Outcome::Interrupted,
                            bundle,
                            source,
                            version,
                            format!(
                                "RAUC installed {v}, but does not say the other slot boots next \
                                 ({}): the box keeps running this version",
                                slots.err().unwrap_or_else(|| "same slot".into())
                            ),
                        );
                        self.set(Activity::Idle);
                    }
                }
            }
            Err(e) => {
                self.record(
                    Outcome::Failed,
                    bundle,
                    source,
                    version,
                    format!(
                        "installing {v} failed: {}; the running version and what the box \
                         starts next are unchanged",
                        explain_install(&e)
                    ),
                );
                self.set(Activity::Idle);
            }
        }
    }

    /// Asks for the reboot into the installed slot (`update.reboot_file`).
    pub fn request_reboot(&self) -> Result<Activity, Refusal> {
        if let Some(why) = self.unavailable() {
            return Err(Refusal::Unavailable(why));
        }
        let file = &self.settings.reboot_file;
        if file.as_os_str().is_empty() {
            return Err(Refusal::Unavailable(
                "rebooting from the dashboard is off on this box (update.reboot_file): switch \
                 the box off and on to start the new version"
                    .into(),
            ));
        }
        let mut a = self.activity.lock();
        let version = match &*a {
            Activity::Installed { version, .. } => version.clone(),
            Activity::Rebooting { .. } => return Ok(a.clone()),
            other => {
                return Err(Refusal::Busy(format!(
                    "there is nothing to reboot into ({}): install a bundle first",
                    describe(other)
                )))
            }
        };
        let text = format!(
            "reboot into {} asked for at {} ms\n",
            version.as_deref().unwrap_or("the installed version"),
            crate::wire::unix_ms(std::time::SystemTime::now())
        );
        if let Some(dir) = file.parent() {
            let _ = std::fs::create_dir_all(dir);
        }
        std::fs::write(file, text).map_err(|e| {
            Refusal::Failed(format!(
                "cannot ask for the reboot ({}: {e}): switch the box off and on to start the new \
                 version",
                file.display()
            ))
        })?;
        log::warn!("reboot asked for by the operator, to start {version:?}");
        *a = Activity::Rebooting { version };
        Ok(a.clone())
    }

    /// Looks at USB sticks mounted under `update.usb_dir` until `stop`; installs a bundle
    /// found at the top of one when it is new (see [`Self::usb_decision`]).
    pub async fn watch_usb(self: Arc<Self>, stop: tokio_util::sync::CancellationToken) {
        let dir = self.settings.usb_dir.clone();
        if dir.as_os_str().is_empty() || self.unavailable().is_some() {
            return;
        }
        let mut seen: HashSet<(PathBuf, u64, i64)> = HashSet::new();
        let mut tick = tokio::time::interval(USB_EVERY);
        loop {
            tokio::select! {
                _ = tick.tick() => {}
                _ = stop.cancelled() => return,
            }
            let found = {
                let dir = dir.clone();
                tokio::task::spawn_blocking(move || usb_bundles(&dir))
                    .await
                    .unwrap_or_default()
            };
            seen.retain(|(p, _, _)| p.exists());
            for (path, size, mtime) in found {
                if !seen.insert((path.clone(), size, mtime)) {
                    continue;
                }
                self.usb_found(path).await;
            }
        }
    }

    async fn usb_found(self: &Arc<Self>, path: PathBuf) {
        let bundle = bundle_name(&path.display().to_string());
        if self.activity().busy() {
            self.note_usb(&bundle, "not installed: another update was under way; unplug the stick and plug it in again afterwards".into());
            return;
        }
        let me = self.clone();
        let p = path.clone();
        let checked = tokio::task::spawn_blocking(move || {
            let info = me.rauc.info(&p).map_err(|e| explain_check(&e));
            (info, me.slots(true))
        })
        .await;
        let Ok((info, slots)) = checked else { return };
        let decision = match (&info, &slots) {
            (Ok(info), Ok(slots)) => {
                usb_decision(info, slots, self.store.usb_tried(&info.identity()))
            }
            (Err(why), _) => Err(format!("not installed: {why}")),
            (_, Err(why)) => Err(format!("not installed: {why}")),
        };
        match decision {
            Ok(()) => {
                let info = info.expect("checked");
                self.store.add_usb_tried(&info.identity());
                self.note_usb(
                    &bundle,
                    format!("installing {}", info.version.as_deref().unwrap_or("it")),
                );
                if let Err(e) = self
                    .check_and_install(path, bundle.clone(), Source::Usb)
                    .await
                {
                    self.note_usb(&bundle, format!("not installed: {e}"));
                }
            }
            Err(note) => {
                // A bundle RAUC refused is an outcome the team should see; one skipped (already
                // running, tried before) is only a note.
                if let Err(why) = &info {
                    self.record(Outcome::Refused, &bundle, Source::Usb, None, why.clone());
                }
                self.note_usb(&bundle, note);
            }
        }
    }

    fn note_usb(&self, bundle: &str, note: String) {
        log::info!("USB stick: {bundle}: {note}");
        *self.usb.lock() = Some(UsbNote {
            bundle: bundle.to_string(),
            note,
        });
    }
}

/// Whether a bundle found on a USB stick is installed: not when the box runs it or has it
/// ready in the other slot, nor when it was tried from a stick before (a stick left in must not
/// install the same bundle at every boot, nor retry one that was rolled back).
pub fn usb_decision(info: &BundleInfo, slots: &Slots, tried: bool) -> Result<(), String> {
    let v = info.version.as_deref().unwrap_or("this bundle");
    if info.compatible != slots.compatible {
        return Err(format!(
            "not installed: the bundle is for '{}', and this box is '{}'",
            info.compatible, slots.compatible
        ));
    }
    let same = |s: &Option<super::rauc::Slot>| {
        s.as_ref()
            .and_then(|s| s.checksum.as_deref())
            .zip(
                info.images
                    .iter()
                    .flat_map(|m| m.values())
                    .find_map(|i| i.checksum.as_deref()),
            )
            .is_some_and(|(a, b)| a == b)
    };
    if same(&slots.booted) {
        return Err(format!("not installed: the box already runs {v}"));
    }
    if same(&slots.other) && slots.other.as_ref().is_some_and(|o| o.primary) {
        return Err(format!(
            "not installed: {v} is already installed and starts at the next reboot"
        ));
    }
    if tried {
        return Err(format!(
            "not installed: {v} was tried from a USB stick before (see the last update's \
             outcome); upload it on the dashboard to try again"
        ));
    }
    Ok(())
}

/// `.raucb` files at the top of each folder in `dir` (one per mounted stick): (path, size,
/// modification time).
pub fn usb_bundles(dir: &Path) -> Vec<(PathBuf, u64, i64)> {
    use std::os::unix::fs::MetadataExt as _;
    let mut found = Vec::new();
    let Ok(sticks) = std::fs::read_dir(dir) else {
        return found;
    };
    for stick in sticks.flatten() {
        let Ok(files) = std::fs::read_dir(stick.path()) else {
            continue;
        };
        let mut here: Vec<(PathBuf, u64, i64)> = files
            .flatten()
            .filter(|f| {
                f.file_name()
                    .to_string_lossy()
                    .to_ascii_lowercase()
                    .ends_with(".raucb")
            })
            .filter_map(|f| {
                let m = f.metadata().ok()?;
                m.is_file().then(|| (f.path(), m.len(), m.mtime()))
            })
            .collect();
        // The newest first: a stick with several bundles installs the latest copied.
        here.sort_by_key(|(_, _, t)| std::cmp::Reverse(*t));
        found.extend(here.into_iter().take(1));
    }
    found
}

/// What an activity is, in a few words (for refusals).
fn describe(a: &Activity) -> String {
    match a {
        Activity::Idle => "nothing".into(),
        Activity::Receiving { bundle, .. } => format!("receiving {bundle}"),
        Activity::Checking { bundle, .. } => format!("checking {bundle}"),
        Activity::Installing {
            bundle,
            percent,
            step,
            ..
        } => format!("installing {bundle}: {percent}% {step}"),
        Activity::Installed { slot, .. } => {
            format!("installed in slot {slot}, waiting for the reboot")
        }
        Activity::Rebooting { .. } => "rebooting".into(),
    }
}

/// An upload being received into `update.dir`. Dropped before [`Upload::finish`], it is
/// deleted and the updater is idle again.
pub struct Upload {
    updater: Arc<Updater>,
    bundle: String,
    file: Option<tempfile::NamedTempFile>,
    /// One writer for the whole upload: tokio writes in the background, in order.
    writer: Option<tokio::fs::File>,
    received: u64,
    finished: bool,
}

impl Upload {
    /// Appends a chunk (written on tokio's blocking threads, never on the async workers).
    pub async fn write(&mut self, chunk: &[u8]) -> Result<(), Refusal> {
        use tokio::io::AsyncWriteExt as _;
        self.received += chunk.len() as u64;
        let max = self.updater.settings.max_bundle_bytes();
        if self.received > max {
            return Err(self.fail(self.updater.too_large(self.received)));
        }
        let f = self.writer.as_mut().expect("open until finished");
        if let Err(e) = f.write_all(chunk).await {
            let r = self.write_refusal(&e);
            return Err(self.fail(r));
        }
        if let Activity::Receiving { bytes, .. } = &mut *self.updater.activity.lock() {
            *bytes = self.received;
        }
        Ok(())
    }

    /// A write that failed: the data partition full, or another error of the disk.
    fn write_refusal(&self, e: &std::io::Error) -> Refusal {
        if e.raw_os_error() == Some(nix::libc::ENOSPC) {
            Refusal::NoSpace(format!(
                "the data partition is full after {} of the bundle: delete old flights in \
                 History, then try again",
                mb(self.received)
            ))
        } else {
            Refusal::Failed(format!(
                "cannot keep the upload in {}: {e}",
                self.updater.store.dir().display()
            ))
        }
    }

    fn fail(&mut self, r: Refusal) -> Refusal {
        self.writer = None;
        self.file = None;
        self.finished = true;
        self.updater.set(Activity::Idle);
        self.updater.refuse_upload(&self.bundle, r)
    }

    /// The upload broke off: deleted, recorded.
    pub fn broke_off(mut self, why: String) -> Refusal {
        self.fail(Refusal::Bad(format!(
            "the upload broke off after {}: {why}; try again",
            mb(self.received)
        )))
    }

    /// The upload is complete: RAUC checks it, and installs it in the background when it
    /// passes. Answers as soon as the install has started (or why not).
    pub async fn finish(mut self) -> Result<Report, Refusal> {
        use tokio::io::AsyncWriteExt as _;
        self.finished = true;
        let mut writer = self.writer.take().expect("open until finished");
        let flushed = writer.flush().await;
        drop(writer);
        let file = self.file.take().expect("open until finished");
        if let Err(e) = flushed {
            self.updater.set(Activity::Idle);
            let r = self.write_refusal(&e);
            return Err(self.updater.refuse_upload(&self.bundle, r));
        }
        if self.received == 0 {
            self.updater.set(Activity::Idle);
            return Err(self.updater.refuse_upload(
                &self.bundle,
                Refusal::Bad(
                    "the upload is empty: send the .raucb file as the request's body".into(),
                ),
            ));
        }
        let kept = file.as_file().sync_all().and_then(|_| {
            file.persist(self.updater.store.bundle_path())
                .map(|_| ())
                .map_err(|e| e.error)
        });
        if let Err(e) = kept {
            self.updater.set(Activity::Idle);
            return Err(self.updater.refuse_upload(
                &self.bundle,
                Refusal::Failed(format!("cannot keep the upload: {e}")),
            ));
        }
        let path = self.updater.store.bundle_path();
        self.updater
            .check_and_install(path, self.bundle.clone(), Source::Upload)
            .await?;
        let me = self.updater.clone();
        tokio::task::spawn_blocking(move || me.report())
            .await
            .map_err(|e| Refusal::Failed(e.to_string()))
    }
}

impl Drop for Upload {
    fn drop(&mut self) {
        if !self.finished {
            self.writer = None;
            self.file = None;
            self.updater.set(Activity::Idle);
            log::warn!(
                "the upload of {} stopped after {} bytes; deleted",
                self.bundle,
                self.received
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::rauc::{ImageInfo, Slot};

    fn slot(bootname: &str, checksum: Option<&str>, primary: bool) -> Slot {
        Slot {
            name: format!("rootfs.{bootname}"),
            bootname: bootname.into(),
            good: Some(true),
            primary,
            version: None,
            build: None,
            checksum: checksum.map(String::from),
            installed_at: None,
            install_status: None,
        }
    }

    fn info(checksum: &str) -> BundleInfo {
        let mut m = std::collections::BTreeMap::new();
        m.insert(
            "rootfs".to_string(),
            ImageInfo {
                filename: Some("rootfs.ext4".into()),
                checksum: Some(checksum.into()),
                size: Some(1),
            },
        );
        BundleInfo {
            compatible: "box".into(),
            version: Some("1.2.0".into()),
            description: None,
            build: None,
            images: vec![m],
        }
    }

    #[test]
    fn a_usb_bundle_is_installed_once_and_never_over_what_runs() {
        let slots = Slots {
            compatible: "box".into(),
            booted: Some(slot("A", Some("aaa"), true)),
            other: Some(slot("B", None, false)),
        };
        assert_eq!(usb_decision(&info("bbb"), &slots, false), Ok(()));
        let tried = usb_decision(&info("bbb"), &slots, true).unwrap_err();
        assert!(tried.contains("tried from a USB stick before"), "{tried}");
        let running = usb_decision(&info("aaa"), &slots, false).unwrap_err();
        assert!(running.contains("already runs 1.2.0"), "{running}");
        let ready = Slots {
            other: Some(slot("B", Some("bbb"), true)),
            booted: Some(slot("A", Some("aaa"), false)),
            ..slots.clone()
        };
        let r = usb_decision(&info("bbb"), &ready, false).unwrap_err();
        assert!(r.contains("starts at the next reboot"), "{r}");
        let mut other_board = info("ccc");
        other_board.compatible = "jetson".into();
        let r = usb_decision(&other_board, &slots, false).unwrap_err();
        assert!(r.contains("is for 'jetson'"), "{r}");
    }

    #[test]
    fn refusals_say_what_to_do() {
        let refused = |s: &str| explain_check(&RaucError::Refused(s.into()));
        assert!(refused("Invalid bundle format: Signature size is 0")
            .contains("not a signed RAUC bundle"));
        assert!(
            refused("signature verification failed: Verify error: self-signed certificate")
                .contains("not signed with a key this box trusts")
        );
        assert!(refused(
            "Invalid bundle format: Signature size (5583220886109778390) exceeds bundle size"
        )
        .contains("cut short"));
        assert!(refused("Bundle format 'plain' not allowed").contains("RAUC_BUNDLE_FORMAT"));
        assert!(refused("something new").starts_with("RAUC refused the bundle: something new"));
        let missing = explain_check(&RaucError::Missing {
            program: "rauc".into(),
            reason: "No such file".into(),
        });
        assert!(missing.contains("not installed"), "{missing}");
    }

    #[test]
    fn names_are_kept_short_and_printable() {
        assert_eq!(
            bundle_name("/media/usb/skycount-1.2.raucb"),
            "skycount-1.2.raucb"
        );
        assert_eq!(bundle_name("C:\\x\\a\u{7}b.raucb"), "ab.raucb");
        assert_eq!(bundle_name(""), "bundle.raucb");
        assert_eq!(bundle_name(&"x".repeat(300)).len(), 80);
    }

    #[test]
    fn usb_sticks_offer_their_newest_bundle_at_the_top() {
        let dir = tempfile::tempdir().unwrap();
        let stick = dir.path().join("sda1");
        std::fs::create_dir_all(stick.join("deeper")).unwrap();
        std::fs::write(stick.join("deeper/hidden.raucb"), b"x").unwrap();
        std::fs::write(stick.join("notes.txt"), b"x").unwrap();
        std::fs::write(stick.join("OLD.RAUCB"), b"old").unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(3600);
        std::fs::File::options()
            .write(true)
            .open(stick.join("OLD.RAUCB"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        std::fs::write(stick.join("new.raucb"), b"new!").unwrap();
        let found = usb_bundles(dir.path());
        assert_eq!(found.len(), 1);
        assert_eq!(found[0].0, stick.join("new.raucb"));
        assert_eq!(found[0].1, 4);
        assert!(usb_bundles(&dir.path().join("none")).is_empty());
    }
}
