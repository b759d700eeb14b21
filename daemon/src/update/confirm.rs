//! `skycountd confirm-boot`: after every boot, keep the running slot or fall back.
//!
//! `skycount-update-confirm.service` runs it once skycountd has started. It waits, for at most
//! `update.confirm_timeout_s`, for skycountd to be healthy: `/api/health` answers 200 with
//! `"ok": true` (the model is loaded and runs) and the dashboard is served (`/`). Then:
//!
//! | the boot | healthy | not healthy in time |
//! | --- | --- | --- |
//! | the first of a freshly updated slot (`pending.json` names it) | mark good; outcome `updated` | mark bad; outcome `rolled-back`; exit 1: the unit's `FailureAction=reboot` reboots and the bootloader starts the other slot |
//! | an update was pending, but the bootloader started the old slot (the new one did not boot) | mark good; outcome `rolled-back` | as below |
//! | any other boot | mark good (the bootloader's attempt counter is reset) | nothing marked, no reboot: a box that was good stays up so that the team can see what is wrong; after its attempts the bootloader tries the other slot by itself |
//!
//! A fresh slot is not marked bad when the other one is bad too: the box stays on it rather
//! than rebooting between two bad slots.
//!
//! The decision ([`decide`]) is plain Rust; the edges are the HTTP probe and `rauc`.

use std::time::{Duration, Instant};

use super::rauc::{Rauc, Slots};
use super::store::{Last, Outcome, Pending, Store};
use crate::config::Settings;

/// How skycountd looked within the time limit.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// Healthy after this long.
    Healthy(Duration),
    /// Not healthy when time ran out: the last thing seen.
    Unhealthy(String),
}

/// What confirm-boot does.
#[derive(Debug, Clone, PartialEq)]
pub struct Action {
    /// Mark the booted slot good (`Some(true)`) or bad (`Some(false)`).
    pub mark: Option<bool>,
    /// The outcome to record (and `pending.json` is cleared when there is one).
    pub outcome: Option<(Outcome, String)>,
    /// Exit with failure, so that systemd reboots (`FailureAction=reboot`).
    pub reboot: bool,
}

/// The decision, from the pending update (if any), RAUC's slots and the health probe.
pub fn decide(
    pending: Option<&Pending>,
    slots: &Slots,
    health: &Health,
    limit: Duration,
) -> Action {
    let booted = slots.booted.as_ref().map(|b| b.bootname.as_str());
    let v = |p: &Pending| p.version.clone().unwrap_or_else(|| "the update".into());
    match (pending, health) {
        (Some(p), Health::Healthy(after)) if booted == Some(p.to.as_str()) => Action {
            mark: Some(true),
            outcome: Some((
                Outcome::Updated,
                format!(
                    "{} runs on slot {} and was healthy {:.0} s after the start: kept",
                    v(p),
                    p.to,
                    after.as_secs_f64()
                ),
            )),
            reboot: false,
        },
        (Some(p), Health::Unhealthy(why)) if booted == Some(p.to.as_str()) => {
            let other_bad = slots.other.as_ref().is_some_and(|o| o.good == Some(false));
            if other_bad {
                Action {
                    mark: None,
                    outcome: Some((
                        Outcome::Failed,
                        format!(
                            "{} on slot {} was not healthy within {} s ({why}), and slot {} is \
                             marked bad too: staying on slot {}; flash the box or install \
                             another bundle",
                            v(p),
                            p.to,
                            limit.as_secs(),
                            p.from,
                            p.to
                        ),
                    )),
                    reboot: false,
                }
            } else {
                Action {
                    mark: Some(false),
                    outcome: Some((
                        Outcome::RolledBack,
                        format!(
                            "{} on slot {} was not healthy within {} s ({why}): marked bad; the \
                             box restarts on slot {}",
                            v(p),
                            p.to,
                            limit.as_secs(),
                            p.from
                        ),
                    )),
                    reboot: true,
                }
            }
        }
        (Some(p), health) => Action {
            mark: matches!(health, Health::Healthy(_)).then_some(true),
            outcome: Some((
                Outcome::RolledBack,
                format!(
                    "{} in slot {} did not start: the bootloader started slot {} again, which \
                     runs the version from before the update",
                    v(p),
                    p.to,
                    booted.unwrap_or("?")
                ),
            )),
            reboot: false,
        },
        (None, Health::Healthy(_)) => Action {
            mark: Some(true),
            outcome: None,
            reboot: false,
        },
        (None, Health::Unhealthy(_)) => Action {
            mark: None,
            outcome: None,
            reboot: false,
        },
    }
}

/// Waits for skycountd at `base` (`http://127.0.0.1:80`) to be healthy, at most `limit`.
pub fn wait_healthy(base: &str, limit: Duration) -> Health {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(5)))
        .build()
        .into();
    let started = Instant::now();
    loop {
        let why = match probe(&agent, base) {
            Ok(()) => return Health::Healthy(started.elapsed()),
            Err(e) => e,
        };
        if started.elapsed() >= limit {
            return Health::Unhealthy(why);
        }
        std::thread::sleep(Duration::from_secs(1).min(limit.saturating_sub(started.elapsed())));
    }
}

fn probe(agent: &ureq::Agent, base: &str) -> Result<(), String> {
    let mut res = agent
        .get(&format!("{base}/api/health"))
        .call()
        .map_err(|e| format!("/api/health: {e}"))?;
    let code = res.status().as_u16();
    let text = res
        .body_mut()
        .read_to_string()
        .map_err(|e| format!("/api/health answered {code}, unreadable: {e}"))?;
    let body: serde_json::Value = serde_json::from_str(&text)
        .map_err(|e| format!("/api/health answered {code}, not JSON: {e}"))?;
    if code != 200 || body["ok"] != serde_json::Value::Bool(true) {
        return Err(format!(
            "/api/health: {}",
            body["reason"].as_str().unwrap_or("not ok")
        ));
    }
    let res = agent
        .get(&format!("{base}/"))
        .call()
        .map_err(|e| format!("the dashboard: {e}"))?;
    match res.status().as_u16() {
        200 => Ok(()),
        code => Err(format!("the dashboard answered {code}")),
    }
}

/// skycountd's own address on this box, from `server.listen` (any address: loopback).
pub fn local_base(settings: &Settings) -> String {
    let addr = settings.server.listen;
    let host = match addr.ip() {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => "127.0.0.1".to_string(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => "[::1]".to_string(),
        std::net::IpAddr::V4(ip) => ip.to_string(),
        std::net::IpAddr::V6(ip) => format!("[{ip}]"),
    };
    format!("http://{host}:{}", addr.port())
}

/// The whole of `skycountd confirm-boot`: `Ok(true)` to exit 0, `Ok(false)` to exit 1 (reboot).
pub fn run(settings: &Settings) -> anyhow::Result<bool> {
    let u = &settings.update;
    let rauc = Rauc::from_settings(u);
    let store = Store::new(&u.dir);
    // The RAUC service may still be starting with the rest of the boot.
    let pending = store.pending();
    let started = Instant::now();
    let slots = loop {
        match rauc.status() {
            Ok(s) => break s,
            Err(e) if started.elapsed() < Duration::from_secs(60) => {
                log::info!("waiting for RAUC: {e}");
                std::thread::sleep(Duration::from_secs(2));
            }
            // A fresh slot whose RAUC does not work is not kept: rebooting uses up its
            // attempts, and the bootloader falls back.
            Err(e) if pending.is_some() => {
                log::error!("RAUC does not say which slot runs ({e}): an update waits to be confirmed, so rebooting; the bootloader falls back once the new slot's attempts are used up");
                return Ok(false);
            }
            Err(e) => anyhow::bail!("RAUC does not say which slot runs ({e}): nothing marked"),
        }
    };
    let limit = Duration::from_secs(u.confirm_timeout_s.into());
    let base = local_base(settings);
    log::info!(
        "booted slot {}; {}; waiting up to {} s for {base} to be healthy",
        slots
            .booted
            .as_ref()
            .map(|b| b.bootname.as_str())
            .unwrap_or("?"),
        match &pending {
            Some(p) => format!(
                "an update to {} in slot {} waits to be confirmed",
                p.version.as_deref().unwrap_or("?"),
                p.to
            ),
            None => "no update waits to be confirmed".into(),
        },
        limit.as_secs()
    );
    let health = wait_healthy(&base, limit);
    let action = decide(pending.as_ref(), &slots, &health, limit);
    log::info!("health: {health:?}; {action:?}");
    if let Some(good) = action.mark {
        match rauc.mark_booted(good) {
            Ok(said) => log::info!("{said}"),
            Err(e) => {
                log::error!(
                    "cannot mark the booted slot {}: {e}",
                    if good { "good" } else { "bad" }
                );
                if !good {
                    // Not marked bad: the bootloader's attempts still run out by themselves.
                    log::error!("rebooting anyway: the bootloader falls back once the new slot's attempts are used up");
                }
            }
        }
    }
    if let Some((outcome, message)) = action.outcome {
        store.set_last(&Last {
            outcome,
            version: pending.as_ref().and_then(|p| p.version.clone()),
            bundle: pending.as_ref().and_then(|p| p.bundle.clone()),
            source: pending.as_ref().map(|p| p.source),
            message,
            at_ms: crate::wire::unix_ms(std::time::SystemTime::now()),
        });
        store.clear_pending();
    }
    if let Health::Unhealthy(why) = &health {
        if !action.reboot {
            log::error!(
                "skycountd is not healthy ({why}); not rebooting (see the table in docs/update.md)"
            );
        }
    }
    Ok(!action.reboot)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::update::rauc::Slot;
    use crate::update::store::Source;

    fn slot(bootname: &str, good: bool) -> Slot {
        Slot {
            name: format!("rootfs.{bootname}"),
            bootname: bootname.into(),
            good: Some(good),
            primary: false,
            version: None,
            build: None,
            checksum: None,
            installed_at: None,
            install_status: None,
        }
    }

    fn slots(booted: &str, other: &str, other_good: bool) -> Slots {
        Slots {
            compatible: "box".into(),
            booted: Some(slot(booted, true)),
            other: Some(slot(other, other_good)),
        }
    }

    fn pending() -> Pending {
        Pending {
            version: Some("1.2.0".into()),
            bundle: None,
            source: Source::Upload,
            from: "A".into(),
            to: "B".into(),
            at_ms: 0,
        }
    }

    const LIMIT: Duration = Duration::from_secs(300);

    #[test]
    fn a_fresh_slot_is_kept_when_healthy_and_rejected_with_a_reboot_when_not() {
        let p = pending();
        let ok = Health::Healthy(Duration::from_secs(42));
        let a = decide(Some(&p), &slots("B", "A", true), &ok, LIMIT);
        assert_eq!((a.mark, a.reboot), (Some(true), false));
        let (outcome, msg) = a.outcome.unwrap();
        assert_eq!(outcome, Outcome::Updated);
        assert!(
            msg.contains("1.2.0 runs on slot B") && msg.contains("42 s"),
            "{msg}"
        );

        let sick = Health::Unhealthy("/api/health: the model is still loading".into());
        let a = decide(Some(&p), &slots("B", "A", true), &sick, LIMIT);
        assert_eq!((a.mark, a.reboot), (Some(false), true));
        let (outcome, msg) = a.outcome.unwrap();
        assert_eq!(outcome, Outcome::RolledBack);
        assert!(
            msg.contains("within 300 s")
                && msg.contains("still loading")
                && msg.contains("restarts on slot A"),
            "{msg}"
        );
    }

    #[test]
    fn never_rebooting_between_two_bad_slots() {
        let sick = Health::Unhealthy("no answer".into());
        let a = decide(Some(&pending()), &slots("B", "A", false), &sick, LIMIT);
        assert_eq!((a.mark, a.reboot), (None, false));
        assert_eq!(a.outcome.unwrap().0, Outcome::Failed);
    }

    #[test]
    fn the_bootloader_fell_back_before_skycountd_could_say() {
        let ok = Health::Healthy(Duration::from_secs(3));
        let a = decide(Some(&pending()), &slots("A", "B", false), &ok, LIMIT);
        assert_eq!((a.mark, a.reboot), (Some(true), false));
        let (outcome, msg) = a.outcome.unwrap();
        assert_eq!(outcome, Outcome::RolledBack);
        assert!(
            msg.contains("did not start") && msg.contains("slot A again"),
            "{msg}"
        );
    }

    #[test]
    fn ordinary_boots_mark_good_when_healthy_and_never_reboot() {
        let ok = Health::Healthy(Duration::from_secs(3));
        let a = decide(None, &slots("A", "B", true), &ok, LIMIT);
        assert_eq!(
            a,
            Action {
                mark: Some(true),
                outcome: None,
                reboot: false
            }
        );
        let sick = Health::Unhealthy("no answer".into());
        let a = decide(None, &slots("A", "B", true), &sick, LIMIT);
        assert_eq!(
            a,
            Action {
                mark: None,
                outcome: None,
                reboot: false
            }
        );
    }

    #[test]
    fn the_probe_needs_health_and_the_dashboard_and_gives_up_in_time() {
        // Nothing listens there: unhealthy, within the limit.
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let t = Instant::now();
        match wait_healthy(
            &format!("http://127.0.0.1:{port}"),
            Duration::from_millis(300),
        ) {
            Health::Unhealthy(why) => assert!(why.contains("/api/health"), "{why}"),
            h => panic!("{h:?}"),
        }
        assert!(t.elapsed() < Duration::from_secs(5));
    }

    #[test]
    fn the_local_address_is_loopback_for_any_address() {
        let mut s = Settings::default();
        assert_eq!(local_base(&s), "http://127.0.0.1:80");
        s.server.listen = "[::]:8080".parse().unwrap();
        assert_eq!(local_base(&s), "http://[::1]:8080");
        s.server.listen = "192.168.50.1:8080".parse().unwrap();
        assert_eq!(local_base(&s), "http://192.168.50.1:8080");
    }
}
