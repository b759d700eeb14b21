//! Software updates of the whole box, in the field, without reflashing: signed A/B updates with
//! RAUC (<https://rauc.io>), with automatic fallback.
//!
//! The box's disk has two system slots (A and B: the root file system with the kernel) and a
//! data partition that updates never touch (`/var/lib/skycount`: calibrations, masks, zones,
//! models, the history, the keys and passphrases). One slot runs; an update is written into the
//! other, which the bootloader then tries; the new slot is kept only once skycountd says it is
//! healthy, and otherwise the box falls back to the slot it came from.
//!
//! ```text
//!   dashboard upload ─┐                                ┌─▶ rauc install ─▶ other slot written,
//!   USB stick ────────┴─▶ updater ─▶ rauc info ─(ok)───┘    boot order switched (pending.json)
//!                          (Activity: receiving,                    │ operator: reboot
//!                           checking, installing, …)                ▼
//!                                               boot ─▶ confirm-boot: healthy? mark good
//!                                                                   : mark bad, reboot ─▶ old slot
//! ```
//!
//! - [`rauc`]: the `rauc` command and what it prints (the edge; RAUC does the work).
//! - [`store`]: what is kept in `update.dir` on the data partition: the upload, the pending
//!   update, the last outcome.
//! - [`updater`]: one update at a time: upload or USB stick, check, install, reboot request;
//!   what the dashboard is told (`publish::update` serves it).
//! - [`confirm`]: `skycountd confirm-boot`, after every boot: keep the slot or fall back.
//!
//! Builders and the field team: `docs/update.md`.

pub mod confirm;
pub mod rauc;
pub mod store;
pub mod updater;

pub use updater::{Activity, Refusal, Report, Updater, Upload};
