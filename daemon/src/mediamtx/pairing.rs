//! Pairing by approval: skycountd answers MediaMTX's authentication requests
//! (`authMethod: http`), so that a pilot can publish with no key once the operator allows it.
//!
//! MediaMTX asks about every client before it may publish, read, or use the Control API or the
//! metrics ([`AuthRequest`], the body its documentation gives). [`Pairing::decide`] answers:
//!
//! | who | answer |
//! | --- | --- |
//! | `api`, `metrics` from loopback (skycountd's watch) | allowed |
//! | `read` of the viewers' path, by anyone | allowed |
//! | `read` of a drone's path, or `publish` of the viewers' path (MediaMTX's own `forward`), from loopback | allowed |
//! | `publish` of a drone's path as user `drone` with the stream key | allowed |
//! | `publish` of a drone's path from an address the operator allowed for that path, until the approval expires | allowed |
//! | any other `publish` of a drone's path | refused, and listed for the operator as a request |
//! | anything else (`playback`, `pprof`, an unknown action, another path) | refused |
//!
//! These are the rules `render` writes for MediaMTX's own `authInternalUsers` when pairing is
//! off, plus the approvals. Every decision is logged.
//!
//! **Requests** wait for the operator in a bounded list, keyed by (address, path), so that a
//! flood of them (hundreds of addresses or paths) neither grows memory nor hides the real
//! pilot: an address holds at most [`PER_ADDRESS`] requests (its least recently seen goes
//! first), the list at most [`MAX_REQUESTS`]; when full, a request from an address the hotspot's
//! DHCP server does not know (an address set by hand, as a flood's are) goes first, among those
//! one that asked only once (the pilot's app retries), then the least recently seen; a request
//! not repeated for [`REQUEST_TTL`] is dropped.
//!
//! **Approvals** last `stream.approval_minutes` (a day by default) or until revoked, and are kept
//! in memory only: a restart of skycountd forgets them. An address belongs to a device only for
//! its DHCP lease, and the hotspot's leases do not survive a reboot either, so a kept approval
//! could let another device in; one tap approves the pilot again. A stream already publishing
//! is not interrupted by a restart (MediaMTX asks only when a client connects).
//!
//! Time comes in as a [`Now`] (monotonic for expiry, wall-clock for showing), so that tests
//! drive expiry without waiting.

use std::collections::HashMap;
use std::net::IpAddr;
use std::path::PathBuf;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde::{Deserialize, Deserializer, Serialize};
use sha2::Digest as _;

use super::key::PUBLISH_USER;
use crate::config::Settings;
use crate::hotspot::{lease_of, Lease};

/// Where MediaMTX asks skycountd (`authHTTPAddress`, see `super::render`).
pub const AUTH_PATH: &str = "/api/mediamtx/auth";

/// The most requests one address may have waiting (one per path).
pub const PER_ADDRESS: usize = 4;
/// The most requests waiting at once.
pub const MAX_REQUESTS: usize = 64;
/// The connections remembered per approval, to end them when it is revoked.
pub const CONNS_KEPT: usize = 4;
/// The most approvals at once.
pub const MAX_APPROVALS: usize = 64;
/// A request not repeated for this long is dropped.
pub const REQUEST_TTL: Duration = Duration::from_secs(10 * 60);
/// The most of the DHCP lease file read (dnsmasq writes a line per client).
const LEASE_FILE_LIMIT: u64 = 256 * 1024;

/// The body of MediaMTX's authentication request (docs-06-authentication: "External HTTP
/// server"). Every field may be missing or `null` (MediaMTX sends `null` for an unknown `id`).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct AuthRequest {
    #[serde(deserialize_with = "or_empty")]
    pub user: String,
    #[serde(deserialize_with = "or_empty")]
    pub password: String,
    #[serde(deserialize_with = "or_empty")]
    pub token: String,
    #[serde(deserialize_with = "or_empty")]
    pub ip: String,
    #[serde(deserialize_with = "or_empty")]
    pub action: String,
    #[serde(deserialize_with = "or_empty")]
    pub path: String,
    #[serde(deserialize_with = "or_empty")]
    pub protocol: String,
    #[serde(deserialize_with = "or_empty")]
    pub id: String,
    #[serde(deserialize_with = "or_empty")]
    pub query: String,
    #[serde(deserialize_with = "or_empty")]
    pub user_agent: String,
}

fn or_empty<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    Ok(Option::<String>::deserialize(d)?.unwrap_or_default())
}

/// The moment a decision is made at: monotonic for expiry, wall-clock (ms since the epoch) for
/// what the operator is shown.
#[derive(Debug, Clone, Copy)]
pub struct Now {
    pub at: Instant,
    pub wall_ms: u64,
}

impl Now {
    pub fn real() -> Self {
        Self {
            at: Instant::now(),
            wall_ms: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_millis() as u64)
                .unwrap_or(0),
        }
    }

    /// `d` later (tests).
    pub fn after(self, d: Duration) -> Self {
        Self {
            at: self.at + d,
            wall_ms: self.wall_ms + d.as_millis() as u64,
        }
    }
}

/// MediaMTX's answer to give, and why (logged, and sent back as the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    Allowed(&'static str),
    /// Refused; `listed` when the operator is shown the request.
    Refused {
        why: String,
        listed: bool,
    },
    /// The request itself is malformed (an address that is not one).
    Bad(String),
}

impl Decision {
    pub fn allowed(&self) -> bool {
        matches!(self, Self::Allowed(_))
    }
}

/// Which paths are whose: the rules of today's rendered `authInternalUsers`, per path so that
/// more drones' paths can join.
#[derive(Debug, Clone, PartialEq)]
pub struct Paths {
    /// The paths drones publish to (and skycountd reads from loopback).
    pub drones: Vec<String>,
    /// With several drones: every path one level under this prefix (`live/north` under `live/`)
    /// is a drone's too, the viewers' path excepted (`Settings::drone_prefix`).
    pub prefix: Option<String>,
    /// The path browsers play (anyone may read it).
    pub viewers: String,
    /// Whether MediaMTX's `forward` publishes the viewers' path from loopback.
    pub forwarded: bool,
}

impl Paths {
    pub fn from_settings(s: &Settings) -> Self {
        let viewers = s.stream.browser_path(&s.mediamtx).to_string();
        Self {
            drones: vec![s.stream.path.clone()],
            prefix: s.drone_prefix(),
            forwarded: viewers != s.stream.path,
            viewers,
        }
    }

    fn is_drone(&self, path: &str) -> bool {
        if self.drones.iter().any(|p| p == path) {
            return true;
        }
        let Some(name) = self.prefix.as_deref().and_then(|p| path.strip_prefix(p)) else {
            return false;
        };
        path != self.viewers && crate::config::is_drone_name(name)
    }
}

/// A publisher waiting for the operator.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Pending {
    pub address: IpAddr,
    pub path: String,
    /// When it first and last asked (ms since the epoch), and how often.
    pub first_ms: u64,
    pub last_ms: u64,
    pub attempts: u32,
    pub protocol: String,
    /// What the hotspot's DHCP server knows of it (its name and MAC).
    pub client: Option<Lease>,
    #[serde(skip)]
    last: Instant,
}

/// An address the operator allowed to publish to a path.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Approval {
    pub address: IpAddr,
    pub path: String,
    pub approved_ms: u64,
    pub expires_ms: u64,
    pub client: Option<Lease>,
    #[serde(skip)]
    expires: Instant,
    /// The RTMP connections it let in (MediaMTX's `id`s, newest last, at most
    /// [`CONNS_KEPT`]): what a revocation ends.
    #[serde(skip)]
    conns: Vec<String>,
}

/// The requests and approvals, for the operator.
#[derive(Debug, Clone, Serialize)]
pub struct Listing {
    pub enabled: bool,
    pub approval_minutes: u64,
    /// Newest first.
    pub requests: Vec<Pending>,
    /// Newest first.
    pub approvals: Vec<Approval>,
}

/// Why the operator's action was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PairingError {
    NotFound(String),
    Full(String),
    Off,
}

impl std::fmt::Display for PairingError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::NotFound(m) | Self::Full(m) => f.write_str(m),
            Self::Off => f.write_str(
                "pairing by approval is off (stream.pairing = false): drones publish with the key",
            ),
        }
    }
}

type Key = (IpAddr, String);

#[derive(Default)]
struct State {
    pending: HashMap<Key, Pending>,
    approvals: HashMap<Key, Approval>,
}

/// The decisions and what they remember.
pub struct Pairing {
    pub enabled: bool,
    paths: Paths,
    /// SHA-256 of the stream key (compared digest to digest); `None`: no key, none allowed by it.
    key: Option<[u8; 32]>,
    approval_for: Duration,
    /// The hotspot's DHCP lease file (names and MACs of its clients), when there is one.
    leases: Option<PathBuf>,
    state: Mutex<State>,
}

fn digest(s: &str) -> [u8; 32] {
    sha2::Sha256::digest(s.as_bytes()).into()
}

impl Pairing {
    pub fn new(
        enabled: bool,
        paths: Paths,
        key: Option<&str>,
        approval_for: Duration,
        leases: Option<PathBuf>,
    ) -> Self {
        Self {
            enabled,
            paths,
            key: key.map(digest),
            approval_for,
            leases,
            state: Mutex::new(State::default()),
        }
    }

    pub fn from_settings(s: &Settings, key: Option<&str>) -> Self {
        Self::new(
            s.stream.pairing,
            Paths::from_settings(s),
            key,
            Duration::from_secs(u64::from(s.stream.approval_minutes) * 60),
            s.hotspot
                .enabled
                .then(|| PathBuf::from(crate::hotspot::LEASE_FILE)),
        )
    }

    fn lease(&self, addr: IpAddr) -> Option<Lease> {
        use std::io::Read as _;
        let file = std::fs::File::open(self.leases.as_ref()?).ok()?;
        let mut text = String::new();
        file.take(LEASE_FILE_LIMIT).read_to_string(&mut text).ok()?;
        lease_of(&text, addr)
    }

    /// MediaMTX's question answered, and logged.
    pub fn decide(&self, req: &AuthRequest, now: Now) -> Decision {
        let decision = self.rule(req, now);
        let who = format!(
            "{} {:?} from {} ({}{})",
            req.action.chars().take(16).collect::<String>(),
            req.path.chars().take(80).collect::<String>(),
            req.ip.chars().take(46).collect::<String>(),
            req.protocol.chars().take(16).collect::<String>(),
            if req.user.is_empty() {
                String::new()
            } else {
                format!(", user {:?}", req.user.chars().take(32).collect::<String>())
            },
        );
        match &decision {
            Decision::Allowed(why) => log::info!("media server asks: {who}: allowed ({why})"),
            Decision::Refused { why, listed } => log::info!(
                "media server asks: {who}: refused ({why}){}",
                if *listed {
                    "; shown to the operator"
                } else {
                    ""
                }
            ),
            Decision::Bad(why) => log::warn!("media server asks: {who}: refused ({why})"),
        }
        decision
    }

    fn rule(&self, req: &AuthRequest, now: Now) -> Decision {
        let Ok(ip) = req.ip.parse::<IpAddr>() else {
            return Decision::Bad(format!(
                "{:?} is not an IP address",
                req.ip.chars().take(46).collect::<String>()
            ));
        };
        let local = ip.is_loopback();
        let refused = |why: &str| Decision::Refused {
            why: why.into(),
            listed: false,
        };
        let path = req.path.as_str();
        match req.action.as_str() {
            "api" | "metrics" if local => Decision::Allowed("loopback"),
            "api" | "metrics" => refused("the Control API and metrics are for this box only"),
            "playback" | "pprof" => refused("not offered"),
            "read" if path == self.paths.viewers => Decision::Allowed("the viewers' path"),
            "read" if local && self.paths.is_drone(path) => {
                Decision::Allowed("skycountd reads on loopback")
            }
            "read" => refused("not a path viewers play"),
            "publish" if local && self.paths.forwarded && path == self.paths.viewers => {
                Decision::Allowed("MediaMTX's forward to the viewers' path")
            }
            "publish" if !self.paths.is_drone(path) => refused("not a drone's path"),
            "publish" => self.publish(ip, req, now),
            _ => refused("an action this box does not know"),
        }
    }

    fn publish(&self, ip: IpAddr, req: &AuthRequest, now: Now) -> Decision {
        if req.user == PUBLISH_USER {
            if let Some(key) = &self.key {
                if digest(&req.password) == *key {
                    return Decision::Allowed("the stream key");
                }
            }
        }
        if !self.enabled {
            return Decision::Refused {
                why: "no stream key".into(),
                listed: false,
            };
        }
        let key = (ip, req.path.clone());
        let mut st = self.state.lock();
        st.approvals.retain(|_, a| a.expires > now.at);
        if let Some(a) = st.approvals.get_mut(&key) {
            if req.protocol == "rtmp" && !req.id.is_empty() && !a.conns.contains(&req.id) {
                if a.conns.len() >= CONNS_KEPT {
                    a.conns.remove(0);
                }
                a.conns.push(req.id.chars().take(64).collect());
            }
            return Decision::Allowed("approved by the operator");
        }
        drop(st);
        // Read outside the lock: a file on tmpfs, bounded.
        let client = self.lease(ip);
        let mut st = self.state.lock();
        let listed = record(&mut st, key, req, client, now);
        Decision::Refused {
            why: "not approved by the operator yet".into(),
            listed,
        }
    }

    /// The requests and approvals, newest first.
    pub fn list(&self, now: Now) -> Listing {
        let mut st = self.state.lock();
        prune(&mut st, now);
        let mut requests: Vec<_> = st.pending.values().cloned().collect();
        requests.sort_by(|a, b| b.last.cmp(&a.last).then(a.address.cmp(&b.address)));
        let mut approvals: Vec<_> = st.approvals.values().cloned().collect();
        approvals.sort_by_key(|a| std::cmp::Reverse(a.approved_ms));
        Listing {
            enabled: self.enabled,
            approval_minutes: self.approval_for.as_secs() / 60,
            requests,
            approvals,
        }
    }

    /// The operator allows `address` to publish to `path` (it must be waiting).
    pub fn allow(&self, address: IpAddr, path: &str, now: Now) -> Result<Approval, PairingError> {
        if !self.enabled {
            return Err(PairingError::Off);
        }
        let mut st = self.state.lock();
        prune(&mut st, now);
        let key = (address, path.to_string());
        let Some(p) = st.pending.get(&key) else {
            return Err(PairingError::NotFound(format!(
                "no drone at {address} is waiting to stream to {path}: ask the pilot to tap \
                 Start again, then allow the request shown"
            )));
        };
        if st.approvals.len() >= MAX_APPROVALS && !st.approvals.contains_key(&key) {
            return Err(PairingError::Full(format!(
                "{MAX_APPROVALS} addresses are allowed already: revoke one first"
            )));
        }
        let approval = Approval {
            address,
            path: path.to_string(),
            approved_ms: now.wall_ms,
            expires_ms: now.wall_ms + self.approval_for.as_millis() as u64,
            client: p.client.clone(),
            expires: now.at + self.approval_for,
            conns: Vec::new(),
        };
        st.pending.remove(&key);
        st.approvals.insert(key, approval.clone());
        log::info!(
            "operator allowed {address} to stream to {path} for {} minutes",
            self.approval_for.as_secs() / 60
        );
        Ok(approval)
    }

    /// The operator refuses a waiting request: it leaves the list (it comes back if the pilot
    /// tries again, and is refused meanwhile).
    pub fn refuse(&self, address: IpAddr, path: &str, now: Now) -> Result<(), PairingError> {
        let mut st = self.state.lock();
        prune(&mut st, now);
        match st.pending.remove(&(address, path.to_string())) {
            Some(_) => {
                log::info!("operator refused {address} streaming to {path}");
                Ok(())
            }
            None => Err(PairingError::NotFound(format!(
                "no drone at {address} is waiting to stream to {path}"
            ))),
        }
    }

    /// The operator withdraws an approval: the address's next attempt is refused. Answers the
    /// RTMP connections the approval let in, for the caller to end (MediaMTX's Control API).
    pub fn revoke(
        &self,
        address: IpAddr,
        path: &str,
        now: Now,
    ) -> Result<Vec<String>, PairingError> {
        let mut st = self.state.lock();
        prune(&mut st, now);
        match st.approvals.remove(&(address, path.to_string())) {
            Some(a) => {
                log::info!("operator revoked the approval of {address} to stream to {path}");
                Ok(a.conns)
            }
            None => Err(PairingError::NotFound(format!(
                "{address} is not allowed to stream to {path}"
            ))),
        }
    }
}

fn prune(st: &mut State, now: Now) {
    st.approvals.retain(|_, a| a.expires > now.at);
    st.pending
        .retain(|_, p| now.at.saturating_duration_since(p.last) < REQUEST_TTL);
}

/// Keeps the request within the bounds of the module's docs; whether it is listed.
fn record(st: &mut State, key: Key, req: &AuthRequest, client: Option<Lease>, now: Now) -> bool {
    prune(st, now);
    if let Some(p) = st.pending.get_mut(&key) {
        p.last = now.at;
        p.last_ms = now.wall_ms;
        p.attempts = p.attempts.saturating_add(1);
        if client.is_some() {
            p.client = client;
        }
        return true;
    }
    let address = key.0;
    // The address's own least recently seen request makes room first.
    let own: Vec<&Key> = st.pending.keys().filter(|k| k.0 == address).collect();
    if own.len() >= PER_ADDRESS {
        let oldest = own
            .into_iter()
            .min_by_key(|k| st.pending[*k].last)
            .cloned()
            .expect("at least one");
        st.pending.remove(&oldest);
    } else if st.pending.len() >= MAX_REQUESTS {
        // Full: a request from an address the DHCP server does not know goes first, one that
        // asked once before one that asked again (a flood's made-up addresses ask once; a
        // pilot's app retries), then the least recently seen.
        let rank = |p: &Pending| (p.client.is_some(), p.attempts > 1, p.last);
        let unknown = st
            .pending
            .iter()
            .filter(|(_, p)| p.client.is_none())
            .min_by_key(|(_, p)| rank(p))
            .map(|(k, _)| k.clone());
        let victim = match unknown {
            Some(k) => k,
            // Every one waiting is a hotspot client; a stranger does not push one out.
            None if client.is_none() => return false,
            None => st
                .pending
                .iter()
                .min_by_key(|(_, p)| rank(p))
                .map(|(k, _)| k.clone())
                .expect("full"),
        };
        st.pending.remove(&victim);
    }
    let path = key.1.clone();
    st.pending.insert(
        key,
        Pending {
            address,
            path,
            first_ms: now.wall_ms,
            last_ms: now.wall_ms,
            attempts: 1,
            protocol: req.protocol.chars().take(16).collect(),
            client,
            last: now.at,
        },
    );
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY: &str = "K4Erh9tBBqajcC2uCubDLtUs";

    fn paths() -> Paths {
        Paths {
            drones: vec!["live/drone".into()],
            prefix: None,
            viewers: "live/drone/view".into(),
            forwarded: true,
        }
    }

    fn pairing(leases: Option<PathBuf>) -> Pairing {
        Pairing::new(
            true,
            paths(),
            Some(KEY),
            Duration::from_secs(24 * 3600),
            leases,
        )
    }

    /// A request as MediaMTX sends it (its documented body).
    fn ask(action: &str, path: &str, ip: &str, user: &str, pass: &str) -> AuthRequest {
        serde_json::from_value(serde_json::json!({
            "user": user, "password": pass, "token": "", "ip": ip, "action": action,
            "path": path, "protocol": "rtmp", "id": null, "query": "", "userAgent": ""
        }))
        .unwrap()
    }

    fn publish(ip: &str, path: &str) -> AuthRequest {
        ask("publish", path, ip, "", "")
    }

    #[test]
    fn every_action_as_today_s_rules_have_it() {
        let p = pairing(None);
        let now = Now::real();
        let cases = [
            (ask("api", "", "127.0.0.1", "", ""), true),
            (ask("metrics", "", "::1", "", ""), true),
            (ask("api", "", "192.168.50.23", "", ""), false),
            (ask("metrics", "", "192.168.50.23", "", ""), false),
            (ask("pprof", "", "127.0.0.1", "", ""), false),
            (ask("playback", "live/drone", "127.0.0.1", "", ""), false),
            (
                ask("read", "live/drone/view", "192.168.50.23", "", ""),
                true,
            ),
            (ask("read", "live/drone", "127.0.0.1", "", ""), true),
            (ask("read", "live/drone", "192.168.50.23", "", ""), false),
            (ask("read", "live/other", "127.0.0.1", "", ""), false),
            (ask("publish", "live/drone/view", "127.0.0.1", "", ""), true),
            (
                ask("publish", "live/drone/view", "192.168.50.23", "", ""),
                false,
            ),
            (
                ask("publish", "live/drone", "192.168.50.23", "drone", KEY),
                true,
            ),
            (
                ask("publish", "live/drone", "192.168.50.23", "drone", "wrong"),
                false,
            ),
            (
                ask("publish", "live/drone", "192.168.50.23", "other", KEY),
                false,
            ),
            (
                ask("publish", "live/other", "192.168.50.23", "drone", KEY),
                false,
            ),
            (
                ask("launch", "live/drone", "127.0.0.1", "drone", KEY),
                false,
            ),
            (ask("", "live/drone", "127.0.0.1", "drone", KEY), false),
        ];
        for (req, allowed) in cases {
            assert_eq!(p.decide(&req, now).allowed(), allowed, "{req:?}");
        }
        assert!(matches!(
            p.decide(&ask("read", "live/drone/view", "a.b.c.d", "", ""), now),
            Decision::Bad(_)
        ));
        // Only the unkeyed publishers of a drone's path wait for the operator.
        let listed: Vec<_> = p
            .list(now)
            .requests
            .into_iter()
            .map(|r| (r.address.to_string(), r.path))
            .collect();
        assert_eq!(
            listed,
            [("192.168.50.23".to_string(), "live/drone".to_string())]
        );
    }

    #[test]
    fn an_approval_admits_its_address_on_its_path_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let leases = dir.path().join("dnsmasq.leases");
        std::fs::write(
            &leases,
            "1765000000 aa:bb:cc:dd:ee:01 192.168.50.23 DJI-RC * \n",
        )
        .unwrap();
        let p = pairing(Some(leases));
        let t0 = Now::real();
        let drone = publish("192.168.50.23", "live/drone");
        assert_eq!(
            p.decide(&drone, t0),
            Decision::Refused {
                why: "not approved by the operator yet".into(),
                listed: true
            }
        );
        let waiting = &p.list(t0).requests[0];
        assert_eq!(
            waiting.client.as_ref().unwrap().name.as_deref(),
            Some("DJI-RC")
        );
        assert_eq!(waiting.client.as_ref().unwrap().mac, "aa:bb:cc:dd:ee:01");
        // Nothing to allow that did not ask.
        assert!(matches!(
            p.allow("192.168.50.99".parse().unwrap(), "live/drone", t0),
            Err(PairingError::NotFound(_))
        ));
        let a = p
            .allow("192.168.50.23".parse().unwrap(), "live/drone", t0)
            .unwrap();
        assert_eq!(a.expires_ms - a.approved_ms, 24 * 3600 * 1000);
        assert!(p.list(t0).requests.is_empty());
        let t1 = t0.after(Duration::from_secs(3600));
        assert!(p.decide(&drone, t1).allowed());
        // Another address, or the same one on another path, is not admitted by it.
        assert!(!p
            .decide(&publish("192.168.50.24", "live/drone"), t1)
            .allowed());
        assert!(!p
            .decide(&publish("192.168.50.23", "live/drone/view"), t1)
            .allowed());
        // Still allowed just before the day is over, not after.
        let almost = t0.after(Duration::from_secs(24 * 3600 - 1));
        assert!(p.decide(&drone, almost).allowed());
        let over = t0.after(Duration::from_secs(24 * 3600));
        assert!(!p.decide(&drone, over).allowed());
        assert!(p.list(over).approvals.is_empty());
        // Waiting again; .24's request of an hour after the start has gone stale meanwhile.
        let waiting: Vec<_> = p
            .list(over)
            .requests
            .into_iter()
            .map(|r| r.address.to_string())
            .collect();
        assert_eq!(waiting, ["192.168.50.23"]);
    }

    #[test]
    fn with_several_drones_any_path_one_level_under_the_prefix_is_a_drone_s() {
        let p = Pairing::new(
            true,
            Paths {
                prefix: Some("live/".into()),
                ..paths()
            },
            Some(KEY),
            Duration::from_secs(24 * 3600),
            None,
        );
        let t0 = Now::real();
        let cases = [
            // The key and loopback reads hold for every drone's path.
            (
                ask("publish", "live/north", "192.168.50.23", "drone", KEY),
                true,
            ),
            (ask("read", "live/north", "127.0.0.1", "", ""), true),
            // Viewers still read the viewers' path alone.
            (ask("read", "live/north", "192.168.50.23", "", ""), false),
            // Not a drone's: deeper, outside the prefix, the viewers' path, odd names.
            (
                ask("publish", "live/a/b", "192.168.50.23", "drone", KEY),
                false,
            ),
            (
                ask("publish", "other/x", "192.168.50.23", "drone", KEY),
                false,
            ),
            (
                ask("publish", "live/", "192.168.50.23", "drone", KEY),
                false,
            ),
            (
                ask("publish", "live/drone/view", "192.168.50.23", "drone", KEY),
                false,
            ),
            (
                ask("publish", "live/no rth", "192.168.50.23", "drone", KEY),
                false,
            ),
        ];
        for (req, allowed) in cases {
            assert_eq!(p.decide(&req, t0).allowed(), allowed, "{req:?}");
        }
        // A keyless pilot on live/north waits for the operator, and is let in once allowed.
        let north = publish("192.168.50.24", "live/north");
        assert!(!p.decide(&north, t0).allowed());
        assert!(p.list(t0).requests.iter().any(|r| r.path == "live/north"));
        p.allow("192.168.50.24".parse().unwrap(), "live/north", t0)
            .unwrap();
        assert!(p.decide(&north, t0).allowed());
        // Without the prefix (one stream), live/north is no drone's: refused and not listed.
        let one = pairing(None);
        assert!(!one.decide(&north, t0).allowed());
        assert!(one.list(t0).requests.is_empty());
    }

    #[test]
    fn revoked_and_refused_ones_are_refused() {
        let p = pairing(None);
        let t0 = Now::real();
        let addr: IpAddr = "192.168.50.23".parse().unwrap();
        let drone = publish("192.168.50.23", "live/drone");
        p.decide(&drone, t0);
        p.allow(addr, "live/drone", t0).unwrap();
        assert!(p.decide(&drone, t0).allowed());
        // The connections it let in are what a revocation ends (the last CONNS_KEPT of them).
        for i in 0..6 {
            let mut c = drone.clone();
            c.id = format!("5e6a3d8c-0000-4000-8000-00000000000{i}");
            assert!(p.decide(&c, t0).allowed());
        }
        let ended = p.revoke(addr, "live/drone", t0).unwrap();
        assert_eq!(ended.len(), CONNS_KEPT);
        assert_eq!(
            ended[CONNS_KEPT - 1],
            "5e6a3d8c-0000-4000-8000-000000000005"
        );
        assert!(matches!(
            p.revoke(addr, "live/drone", t0),
            Err(PairingError::NotFound(_))
        ));
        assert!(!p.decide(&drone, t0).allowed());
        assert_eq!(
            p.list(t0).requests.len(),
            1,
            "asking again after the revocation"
        );
        p.refuse(addr, "live/drone", t0).unwrap();
        assert!(p.list(t0).requests.is_empty());
        assert!(matches!(
            p.allow(addr, "live/drone", t0),
            Err(PairingError::NotFound(_))
        ));
        // The key still works for anyone.
        assert!(p
            .decide(
                &ask("publish", "live/drone", "192.168.50.23", "drone", KEY),
                t0
            )
            .allowed());
    }

    #[test]
    fn with_pairing_off_only_the_key_publishes_and_nothing_waits() {
        let p = Pairing::new(false, paths(), Some(KEY), Duration::from_secs(60), None);
        let now = Now::real();
        assert!(!p
            .decide(&publish("192.168.50.23", "live/drone"), now)
            .allowed());
        assert!(p.list(now).requests.is_empty());
        assert_eq!(
            p.allow("192.168.50.23".parse().unwrap(), "live/drone", now),
            Err(PairingError::Off)
        );
        assert!(p
            .decide(
                &ask("publish", "live/drone", "192.168.50.23", "drone", KEY),
                now
            )
            .allowed());
        // No key at all: nobody publishes by key.
        let keyless = Pairing::new(true, paths(), None, Duration::from_secs(60), None);
        assert!(!keyless
            .decide(
                &ask("publish", "live/drone", "192.168.50.23", "drone", ""),
                now
            )
            .allowed());
    }

    #[test]
    fn the_security_doc_tells_the_bounds_the_code_has() {
        let doc = include_str!("../../../docs/security.md").replace("\n", " ");
        for said in [
            format!("an address holds at most {PER_ADDRESS} requests"),
            format!("the list at most {MAX_REQUESTS}"),
            format!(
                "not repeated for {} minutes is dropped",
                REQUEST_TTL.as_secs() / 60
            ),
            format!("Approvals are capped at {MAX_APPROVALS}"),
        ] {
            assert!(
                doc.contains(&said),
                "docs/security.md does not say {said:?}"
            );
        }
    }

    #[test]
    fn a_flood_neither_grows_the_list_nor_hides_the_pilot() {
        let dir = tempfile::tempdir().unwrap();
        let leases = dir.path().join("dnsmasq.leases");
        std::fs::write(
            &leases,
            "1765000000 aa:bb:cc:dd:ee:01 192.168.50.23 DJI-RC *\n\
             1765000000 aa:bb:cc:dd:ee:02 192.168.50.30 viewer-phone *\n",
        )
        .unwrap();
        let mut p = pairing(Some(leases));
        p.paths.drones = (0..1000).map(|i| format!("live/d{i}")).collect();
        p.paths.drones.push("live/drone".into());
        let mut now = Now::real();
        let step = Duration::from_millis(10);
        // The pilot asks first...
        p.decide(&publish("192.168.50.23", "live/drone"), now);
        // ...then a hotspot client floods hundreds of paths, and hundreds of addresses set by
        // hand flood one path each.
        for i in 0..500 {
            now = now.after(step);
            p.decide(&publish("192.168.50.30", &format!("live/d{i}")), now);
        }
        for i in 0..500u32 {
            now = now.after(step);
            let ip = format!("10.{}.{}.{}", i / 65536, (i / 256) % 256, i % 256);
            p.decide(&publish(&ip, &format!("live/d{}", i % 1000)), now);
        }
        let listing = p.list(now);
        assert!(listing.requests.len() <= MAX_REQUESTS);
        let from = |addr: &str| {
            listing
                .requests
                .iter()
                .filter(|r| r.address.to_string() == addr)
                .count()
        };
        assert_eq!(from("192.168.50.23"), 1, "the pilot's request is kept");
        assert_eq!(from("192.168.50.30"), PER_ADDRESS);
        assert_eq!(
            listing.requests.len(),
            MAX_REQUESTS,
            "the rest are the newest strangers"
        );
        // With no lease file (a box on a LAN), a pilot that asked twice outlasts hundreds of
        // made-up addresses asking once each.
        let mut lan = pairing(None);
        lan.paths.drones = vec!["live/drone".into()];
        let mut t = Now::real();
        for _ in 0..2 {
            lan.decide(&publish("192.168.1.23", "live/drone"), t);
        }
        for i in 0..500u32 {
            t = t.after(step);
            lan.decide(
                &publish(&format!("10.1.{}.{}", i / 256, i % 256), "live/drone"),
                t,
            );
        }
        let kept = lan.list(t).requests;
        assert_eq!(kept.len(), MAX_REQUESTS);
        assert!(kept.iter().any(|r| r.address.to_string() == "192.168.1.23"));
        // A full list of hotspot clients keeps its place against strangers.
        let mut q = pairing(None);
        q.paths.drones = vec!["live/drone".into()];
        let t = Now::real();
        for i in 0..(MAX_REQUESTS as u32 + 10) {
            q.decide(
                &publish(&format!("10.0.{}.{}", i / 256, i % 256), "live/drone"),
                t,
            );
        }
        assert_eq!(q.list(t).requests.len(), MAX_REQUESTS);
        // A request not repeated for REQUEST_TTL is dropped; the pilot's retry brings it back.
        let later = now.after(REQUEST_TTL);
        assert!(p.list(later).requests.is_empty());
        p.decide(&publish("192.168.50.23", "live/drone"), later);
        assert_eq!(p.list(later).requests.len(), 1);
    }
}
