//! The roster: which drones' paths on the media server are analysed, beside the configured one.
//!
//! MediaMTX lists the paths that have a publisher (the watch asks it every `mediamtx.poll_ms`).
//! Every such path under the drones' prefix (`live/`) becomes a stream of the engine, until
//! `analysis.max_streams` are analysed (the configured stream counts as one); a drone beyond
//! that is refused, and listed with the reason for the operator. A drone that stops publishing
//! is kept for [`ENDED_KEPT`] (its decoder reconnects at once when it comes back, and the
//! dashboard shows it as ended), then removed, which frees its place.
//!
//! Plain Rust over the list of published paths and the clock: [`Roster::update`] returns what
//! the engine must do; `skycountd run` does it.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

/// How long a stream whose drone stopped publishing stays, before its place is freed.
pub const ENDED_KEPT: Duration = Duration::from_secs(5 * 60);

/// What the engine must do after an update.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// Analyse the path (MediaMTX's path name, `live/north`).
    Add(String),
    /// The drone on this path is publishing again: attach now.
    Back(String),
    /// Stop analysing the path.
    Remove(String),
}

/// What the roster knows of one path beside the configured one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Place {
    /// Analysed; `ended_at` once its drone stopped publishing.
    Analysed { ended_at: Option<Instant> },
    /// Publishing but not analysed: the box analyses as many streams as it may.
    Refused,
}

/// Which paths are analysed; see the module docs.
#[derive(Debug)]
pub struct Roster {
    /// The drones' paths start with this (`live/`).
    prefix: String,
    /// Never added: the configured stream's path (the engine's own) and the viewers' path.
    skip: Vec<String>,
    /// The most streams analysed, the configured one included.
    max: usize,
    places: BTreeMap<String, Place>,
}

impl Roster {
    pub fn new(prefix: &str, skip: Vec<String>, max: usize) -> Self {
        Self {
            prefix: prefix.to_string(),
            skip,
            max,
            places: BTreeMap::new(),
        }
    }

    /// The paths it knows, with their place.
    pub fn places(&self) -> &BTreeMap<String, Place> {
        &self.places
    }

    fn analysed(&self) -> usize {
        self.places
            .values()
            .filter(|p| matches!(p, Place::Analysed { .. }))
            .count()
    }

    /// Takes in the paths that have a publisher now; returns what the engine must do.
    pub fn update(&mut self, published: &[String], now: Instant) -> Vec<Change> {
        let mut changes = Vec::new();
        let drones: Vec<&String> = published
            .iter()
            .filter(|p| {
                p.strip_prefix(&self.prefix)
                    .is_some_and(crate::config::is_drone_name)
            })
            .filter(|p| !self.skip.contains(p))
            .collect();
        // Gone: an analysed drone that stopped is kept a while; a refused one is forgotten.
        let mut freed = Vec::new();
        for (path, place) in self.places.iter_mut() {
            let publishing = drones.contains(&path);
            match place {
                Place::Analysed { ended_at } => match (publishing, *ended_at) {
                    (true, Some(_)) => {
                        *ended_at = None;
                        changes.push(Change::Back(path.clone()));
                    }
                    (false, None) => *ended_at = Some(now),
                    (false, Some(at)) if now.saturating_duration_since(at) >= ENDED_KEPT => {
                        freed.push(path.clone());
                    }
                    _ => {}
                },
                Place::Refused if !publishing => freed.push(path.clone()),
                Place::Refused => {}
            }
        }
        for path in freed {
            if matches!(self.places.remove(&path), Some(Place::Analysed { .. })) {
                changes.push(Change::Remove(path));
            }
        }
        // New, or refused before and now with room: in the order MediaMTX lists them.
        for path in drones {
            let known = self.places.get(path);
            if matches!(known, Some(Place::Analysed { .. })) {
                continue;
            }
            // The configured stream takes one place.
            if 1 + self.analysed() < self.max {
                self.places
                    .insert(path.clone(), Place::Analysed { ended_at: None });
                changes.push(Change::Add(path.clone()));
            } else if known.is_none() {
                self.places.insert(path.clone(), Place::Refused);
            }
        }
        changes
    }

    /// Forgets a path the engine would not analyse after all (its place is freed).
    pub fn drop_path(&mut self, path: &str) {
        self.places.remove(path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn paths(p: &[&str]) -> Vec<String> {
        p.iter().map(|s| s.to_string()).collect()
    }

    fn roster() -> Roster {
        Roster::new("live/", paths(&["live/drone", "live/view"]), 3)
    }

    #[test]
    fn drones_under_the_prefix_are_added_up_to_the_limit_and_the_rest_refused() {
        let mut r = roster();
        let t = Instant::now();
        let changes = r.update(
            &paths(&[
                "live/drone",
                "live/view",
                "other/x",
                "live/",
                "live/a/b",
                "live/north",
                "live/park",
                "live/gate",
            ]),
            t,
        );
        // Three at most, the configured live/drone one of them.
        assert_eq!(
            changes,
            [
                Change::Add("live/north".into()),
                Change::Add("live/park".into())
            ]
        );
        assert_eq!(r.places()["live/gate"], Place::Refused);
        assert!(!r.places().contains_key("other/x"));
        assert!(!r.places().contains_key("live/drone"));
        // Nothing changes while the same drones publish.
        assert!(r
            .update(&paths(&["live/north", "live/park", "live/gate"]), t)
            .is_empty());
    }

    #[test]
    fn a_drone_that_leaves_is_kept_a_while_comes_back_at_once_then_frees_its_place() {
        let mut r = roster();
        let t = Instant::now();
        r.update(&paths(&["live/north", "live/park", "live/gate"]), t);
        // north stops: kept (ended), gate still refused since north's place is not free yet.
        assert!(r
            .update(
                &paths(&["live/park", "live/gate"]),
                t + Duration::from_secs(1)
            )
            .is_empty());
        assert!(matches!(
            r.places()["live/north"],
            Place::Analysed { ended_at: Some(_) }
        ));
        // north comes back within ENDED_KEPT: attached again at once.
        assert_eq!(
            r.update(
                &paths(&["live/north", "live/park", "live/gate"]),
                t + Duration::from_secs(60)
            ),
            [Change::Back("live/north".into())]
        );
        // north leaves for good: after ENDED_KEPT it is removed and gate takes its place.
        let gone = t + Duration::from_secs(100);
        r.update(&paths(&["live/park", "live/gate"]), gone);
        assert_eq!(
            r.update(&paths(&["live/park", "live/gate"]), gone + ENDED_KEPT),
            [
                Change::Remove("live/north".into()),
                Change::Add("live/gate".into())
            ]
        );
    }

    #[test]
    fn a_refused_drone_that_leaves_is_forgotten() {
        let mut r = Roster::new("live/", paths(&["live/drone"]), 1);
        let t = Instant::now();
        assert!(r.update(&paths(&["live/north"]), t).is_empty());
        assert_eq!(r.places()["live/north"], Place::Refused);
        assert!(r.update(&[], t).is_empty());
        assert!(r.places().is_empty());
    }
}
