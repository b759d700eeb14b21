//! Alerts: a zone's count held above its limit, told once when it starts and once when it ends.
//!
//! One analysis is noisy: a count that touches the limit for a frame must not wake the safety
//! officer. So each zone with a limit runs a small state machine on its *smoothed* count (the
//! median over `analysis.smooth_ms`, like the total's `smoothed`):
//!
//! ```text
//!            smoothed ≥ limit, held for `hold`                 acknowledged by the operator
//!   quiet ─────────────────────────────────────▶ raised ─┬──────────────────────────────────┐
//!     ▲                                                 │ smoothed < limit × (1 − hysteresis),
//!     └──────────────────────────────────────────────── │ held for `hold`: cleared          │
//!                                                       ▼                                   ▼
//!                                        open until acknowledged too    open until cleared too
//! ```
//!
//! The band between `limit × (1 − hysteresis)` and `limit` keeps a count that hovers at the limit
//! from raising and clearing over and over. Every change (raised, cleared, acknowledged) gives the
//! whole [`Alert`] as it is now, for the `alert` event, history and MQTT. An alert stays *open*
//! (shown on every dashboard) until it is both cleared and acknowledged.
//!
//! [`Alerts`] is plain state driven by the times passed in: tests run hours of counts without
//! sleeping. The daemon's model thread feeds it every analysis, right after making it.
//!
//! Ids are unique and increase across restarts without being kept anywhere: each is the wall
//! clock's milliseconds at the raise, or one more than the last id when that is not larger (a
//! clock set back while the daemon was down can break the order across that restart).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::smooth::Smoother;
use crate::wire::{Alert, ZoneCount};

/// Cleared alerts not yet acknowledged that are kept; beyond it the oldest is forgotten.
pub const MAX_UNACKNOWLEDGED: usize = 32;

/// How alerts are judged; from the configuration.
#[derive(Debug, Clone, PartialEq)]
pub struct Options {
    /// How long the smoothed count must stay above the limit to raise (and below the clearing
    /// level to clear): `analysis.alert_hold_ms`.
    pub hold: Duration,
    /// The clearing level is `limit × (1 − hysteresis)`: `analysis.alert_hysteresis`.
    pub hysteresis: f64,
    /// The zones' smoothing window (`analysis.smooth_ms`).
    pub smooth: Duration,
    /// The stream path's key the alerts are about (`live_drone`).
    pub stream: String,
}

/// One zone with a limit.
#[derive(Debug)]
struct Watch {
    zone: String,
    limit: u32,
    smoother: Smoother,
    /// Since when the smoothed count has been past the level that changes the state.
    past_since: Option<Instant>,
    /// The raised alert, until it clears.
    raised: Option<Alert>,
}

/// Every zone's alert state for one stream path; see the module docs.
#[derive(Debug)]
pub struct Alerts {
    opts: Options,
    watches: Vec<Watch>,
    /// Cleared but not yet acknowledged, oldest first.
    cleared: VecDeque<Alert>,
    last_id: u64,
}

impl Alerts {
    pub fn new(opts: Options) -> Self {
        Self {
            opts,
            watches: Vec::new(),
            cleared: VecDeque::new(),
            last_id: 0,
        }
    }

    /// New options (a reload): applied from the next analysis; raised alerts stay raised.
    pub fn set_options(&mut self, opts: Options) {
        if opts.smooth != self.opts.smooth {
            for w in &mut self.watches {
                w.smoother = Smoother::new(opts.smooth);
            }
        }
        self.opts = opts;
    }

    /// One analysis's zone counts, made at `at` (`wall_ms` on the wall clock): marks the zones
    /// that are alerting and gives every alert that changed. A zone that lost its limit, changed
    /// it or is gone clears its raised alert at once.
    pub fn observe(&mut self, at: Instant, wall_ms: u64, zones: &mut [ZoneCount]) -> Vec<Alert> {
        let mut changed = Vec::new();
        // Watches whose zone no longer has that limit end here.
        let (keep, gone): (Vec<Watch>, Vec<Watch>) = std::mem::take(&mut self.watches)
            .into_iter()
            .partition(|w| {
                zones
                    .iter()
                    .any(|z| z.name == w.zone && z.limit == Some(w.limit))
            });
        self.watches = keep;
        for w in gone {
            if let Some(alert) = w.raised {
                changed.push(self.clear(alert, wall_ms));
            }
        }
        for z in zones.iter_mut() {
            let Some(limit) = z.limit else { continue };
            let i = match self.watches.iter().position(|w| w.zone == z.name) {
                Some(i) => i,
                None => {
                    self.watches.push(Watch {
                        zone: z.name.clone(),
                        limit,
                        smoother: Smoother::new(self.opts.smooth),
                        past_since: None,
                        raised: None,
                    });
                    self.watches.len() - 1
                }
            };
            let (hold, hysteresis) = (self.opts.hold, self.opts.hysteresis);
            let w = &mut self.watches[i];
            let smoothed = w.smoother.add(at, z.count, (1.0, 1.0)).median;
            let past = match &w.raised {
                None => smoothed >= f64::from(limit),
                Some(_) => smoothed < f64::from(limit) * (1.0 - hysteresis),
            };
            if !past {
                w.past_since = None;
            } else if at.saturating_duration_since(*w.past_since.get_or_insert(at)) >= hold {
                w.past_since = None;
                match w.raised.take() {
                    None => {
                        self.last_id = (self.last_id + 1).max(wall_ms);
                        let alert = Alert {
                            id: self.last_id,
                            stream: self.opts.stream.clone(),
                            zone: z.name.clone(),
                            limit,
                            count: smoothed,
                            raised_ms: wall_ms,
                            cleared_ms: None,
                            acknowledged_ms: None,
                        };
                        log::warn!(
                            "alert {}: zone {:?} of {} has held {smoothed:.0} people, at or above its limit of {limit}",
                            alert.id,
                            alert.zone,
                            alert.stream
                        );
                        self.watches[i].raised = Some(alert.clone());
                        changed.push(alert);
                    }
                    Some(alert) => changed.push(self.clear(alert, wall_ms)),
                }
            }
            z.alerting = self.watches[i].raised.is_some();
        }
        changed
    }

    /// The camera moves (zones are paused, `analyse::motion`): nothing is judged, the zones' counts
    /// are not fed to their smoothed counts, a raised alert stays raised and one about to be
    /// raised or cleared starts its hold again once the camera is still. Marks the zones that
    /// are alerting.
    pub fn hold(&mut self, zones: &mut [ZoneCount]) {
        for w in &mut self.watches {
            w.past_since = None;
        }
        for z in zones.iter_mut() {
            z.alerting = self
                .watches
                .iter()
                .any(|w| w.zone == z.name && w.raised.is_some());
        }
    }

    /// Marks a raised alert cleared; keeps it open until it is acknowledged too.
    fn clear(&mut self, mut alert: Alert, wall_ms: u64) -> Alert {
        alert.cleared_ms = Some(wall_ms);
        log::info!(
            "alert {} cleared: zone {:?} is back under its limit of {}",
            alert.id,
            alert.zone,
            alert.limit
        );
        if alert.acknowledged_ms.is_none() {
            self.cleared.push_back(alert.clone());
            if self.cleared.len() > MAX_UNACKNOWLEDGED {
                self.cleared.pop_front();
            }
        }
        alert
    }

    /// The operator acknowledged alert `id` at `wall_ms`: the alert as it is now, or None when no
    /// open alert has that id. Acknowledging twice keeps the first time.
    pub fn acknowledge(&mut self, id: u64, wall_ms: u64) -> Option<Alert> {
        if let Some(a) = self
            .watches
            .iter_mut()
            .filter_map(|w| w.raised.as_mut())
            .find(|a| a.id == id)
        {
            a.acknowledged_ms.get_or_insert(wall_ms);
            return Some(a.clone());
        }
        let i = self.cleared.iter().position(|a| a.id == id)?;
        let mut alert = self.cleared.remove(i)?;
        alert.acknowledged_ms = Some(wall_ms);
        Some(alert)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn options() -> Options {
        Options {
            hold: Duration::from_secs(3),
            hysteresis: 0.1,
            smooth: Duration::from_secs(2),
            stream: "live_drone".into(),
        }
    }

    fn zone(name: &str, count: f64, limit: Option<u32>) -> ZoneCount {
        ZoneCount {
            name: name.into(),
            count,
            share: 0.0,
            limit,
            alerting: false,
        }
    }

    /// Feeds one count per second for `counts`, starting at second `from`; gives the changes
    /// with the second they came at.
    fn run(
        a: &mut Alerts,
        t0: Instant,
        from: u64,
        counts: &[f64],
        limit: Option<u32>,
    ) -> Vec<(u64, Alert)> {
        let mut out = Vec::new();
        for (i, &c) in counts.iter().enumerate() {
            let s = from + i as u64;
            let mut zones = [zone("stage", c, limit)];
            for alert in a.observe(
                t0 + Duration::from_secs(s),
                1_000_000 + s * 1000,
                &mut zones,
            ) {
                out.push((s, alert));
            }
        }
        out
    }

    #[test]
    fn a_held_crossing_raises_once_and_a_held_fall_clears_once() {
        let t0 = Instant::now();
        let mut a = Alerts::new(options());
        // Under the limit: nothing.
        assert!(run(&mut a, t0, 0, &[5.0; 10], Some(10)).is_empty());
        // Above from second 10; the median (2 s window) is above from second 11; held 3 s.
        let up = run(&mut a, t0, 10, &[12.0; 10], Some(10));
        assert_eq!(up.len(), 1, "{up:?}");
        let (at, raised) = &up[0];
        assert_eq!(*at, 14);
        assert_eq!(raised.zone, "stage");
        assert_eq!(raised.stream, "live_drone");
        assert_eq!((raised.limit, raised.count), (10, 12.0));
        assert_eq!(raised.raised_ms, 1_014_000);
        assert_eq!(raised.id, 1_014_000, "the wall clock's ms");
        assert_eq!(raised.cleared_ms, None);
        let mut zones = [zone("stage", 12.0, Some(10))];
        assert!(a
            .observe(t0 + Duration::from_secs(20), 0, &mut zones)
            .is_empty());
        assert!(zones[0].alerting);
        // 9.5 is under the limit but inside the hysteresis band (9..10): still raised.
        assert!(run(&mut a, t0, 21, &[9.5; 10], Some(10)).is_empty());
        // Under 9 for long enough: cleared.
        let down = run(&mut a, t0, 31, &[8.0; 10], Some(10));
        assert_eq!(down.len(), 1, "{down:?}");
        assert_eq!(down[0].1.id, raised.id);
        assert_eq!(down[0].1.cleared_ms, Some(1_000_000 + down[0].0 * 1000));
    }

    #[test]
    fn one_noisy_analysis_or_a_short_peak_raises_nothing() {
        let t0 = Instant::now();
        let mut a = Alerts::new(options());
        let mut counts = vec![5.0; 30];
        counts[10] = 500.0; // one wild analysis: the median ignores it
        counts[20] = 15.0; // a short peak: the median lifts for under the hold
        counts[21] = 15.0;
        counts[22] = 15.0;
        assert!(run(&mut a, t0, 0, &counts, Some(10)).is_empty());
    }

    #[test]
    fn acknowledged_and_cleared_closes_it_in_either_order() {
        let t0 = Instant::now();
        let mut a = Alerts::new(Options {
            hold: Duration::ZERO,
            ..options()
        });
        let first = run(&mut a, t0, 0, &[20.0], Some(10)).remove(0).1;
        // Acknowledged while raised, then cleared: the clearing carries the acknowledgement.
        let acked = a.acknowledge(first.id, 42).unwrap();
        assert_eq!(acked.acknowledged_ms, Some(42));
        assert_eq!(
            a.acknowledge(first.id, 43).unwrap().acknowledged_ms,
            Some(42)
        );
        let cleared = run(&mut a, t0, 1, &[0.0, 0.0, 0.0], Some(10));
        assert_eq!(cleared.len(), 1);
        assert_eq!(cleared[0].1.acknowledged_ms, Some(42));
        assert!(a.acknowledge(first.id, 44).is_none(), "closed");
        // Cleared first, acknowledged later.
        let second = run(&mut a, t0, 10, &[20.0, 20.0, 20.0], Some(10))
            .remove(0)
            .1;
        assert!(second.id > first.id);
        run(&mut a, t0, 20, &[0.0, 0.0, 0.0], Some(10));
        let acked = a.acknowledge(second.id, 99).unwrap();
        assert_eq!(acked.acknowledged_ms, Some(99));
        assert!(acked.cleared_ms.is_some());
        assert!(a.acknowledge(second.id, 100).is_none());
        assert!(a.acknowledge(12345, 100).is_none(), "unknown");
    }

    #[test]
    fn a_zone_that_loses_its_limit_clears_and_ids_keep_increasing() {
        let t0 = Instant::now();
        let mut a = Alerts::new(Options {
            hold: Duration::ZERO,
            ..options()
        });
        let raised = run(&mut a, t0, 0, &[20.0], Some(10)).remove(0).1;
        let mut zones = [zone("stage", 20.0, None)];
        let changed = a.observe(t0 + Duration::from_secs(1), 5, &mut zones);
        assert_eq!(changed.len(), 1);
        assert_eq!(changed[0].id, raised.id);
        assert_eq!(changed[0].cleared_ms, Some(5));
        assert!(!zones[0].alerting);
        // A clock that went back still gives a larger id.
        let mut zones = [zone("stage", 20.0, Some(10))];
        let again = a.observe(t0 + Duration::from_secs(2), 7, &mut zones);
        assert_eq!(again[0].id, raised.id + 1);
        assert!(zones[0].alerting);
        // A zone removed altogether.
        let gone = a.observe(t0 + Duration::from_secs(3), 8, &mut []);
        assert_eq!(gone[0].cleared_ms, Some(8));
    }

    #[test]
    fn while_the_camera_moves_nothing_is_raised_or_cleared() {
        let t0 = Instant::now();
        let mut a = Alerts::new(options());
        assert!(run(&mut a, t0, 0, &[5.0; 5], Some(10)).is_empty());
        // The camera pans over a dense crowd: 60 in the zone for 20 s, held.
        for _ in 5..25 {
            let mut zones = [zone("stage", 60.0, Some(10))];
            a.hold(&mut zones);
            assert!(!zones[0].alerting);
        }
        // Back and still at 5: nothing was raised, and the pan's counts are not in the median.
        assert!(run(&mut a, t0, 25, &[5.0; 5], Some(10)).is_empty());
        // A raised alert stays raised while the camera moves, whatever the counts say.
        let up = run(&mut a, t0, 30, &[20.0; 6], Some(10));
        assert_eq!(up.len(), 1);
        for _ in 0..20 {
            let mut zones = [zone("stage", 0.0, Some(10))];
            a.hold(&mut zones);
            assert!(zones[0].alerting, "held raised");
        }
        // Still again: the clearing needs its own hold after the camera stopped.
        let mut zones = [zone("stage", 0.0, Some(10))];
        assert!(a
            .observe(t0 + Duration::from_secs(60), 0, &mut zones)
            .is_empty());
        assert!(zones[0].alerting);
    }

    #[test]
    fn unacknowledged_cleared_alerts_are_bounded() {
        let t0 = Instant::now();
        let mut a = Alerts::new(Options {
            hold: Duration::ZERO,
            ..options()
        });
        let mut ids = Vec::new();
        for i in 0..(MAX_UNACKNOWLEDGED as u64 + 3) {
            let s = i * 10;
            ids.push(run(&mut a, t0, s, &[20.0], Some(10)).remove(0).1.id);
            run(&mut a, t0, s + 3, &[0.0, 0.0, 0.0], Some(10));
        }
        assert!(
            a.acknowledge(ids[0], 1).is_none(),
            "the oldest was forgotten"
        );
        assert!(a.acknowledge(ids[3], 1).is_some());
    }
}
