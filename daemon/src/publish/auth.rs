//! Who may do what: viewers (anyone who reaches the port) and the operator (who signed in).
//!
//! Viewers see the video, the counts, the heatmap, the trend and the health; they never see the
//! pilot's publish key and never change anything. The operator signs in with a passphrase (or a
//! PIN) and then may see the pilot's URL and QR code, calibrate, draw masks and change settings.
//!
//! How it fits together (docs/security.md tells it for people):
//! - The passphrase is kept only as an argon2id hash, a PHC string in `operator.hash_file`
//!   ([`Credential`]). Set in skycount.toml it is hashed at start; otherwise the first start
//!   generates one, shows it on the console banner (`operator.banner_file`) and keeps its hash.
//! - Signing in (`POST /api/auth/login`) answers a random session token in an `HttpOnly`,
//!   `SameSite=Strict` cookie that expires after `operator.session_minutes` ([`Sessions`]).
//!   Only the token's SHA-256 is kept, with its expiry, in memory and in
//!   `operator.sessions_file`: a restart of skycountd signs nobody out.
//! - Every attempt counts as a failure until the passphrase proves right, and each failure makes
//!   the next attempt wait longer, per client address and over all clients ([`Limiter`]), so
//!   guessing is slow whichever way it is spread. Hashing runs one at a time, off the async
//!   workers.
//! - Every operator route sits behind one gate, here ([`gate`], [`behind_gate`]), that refuses
//!   a change from another site's page (its `Origin`) and anything without a session
//!   ([`Auth::check`]); none of their answers is kept by the browser ([`no_store`]).
//! - [`HostNames`] are the names the box answers to: a request for any other `Host` (a DNS
//!   rebinding page, or a forged header) is refused before the name can end up in a URL.
//!
//! Everything here is plain Rust with the clock passed in, so the rules are unit-tested.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Argon2, Params};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use parking_lot::Mutex;
use serde_json::json;

use crate::config::operator::{check_passphrase, OperatorSettings};
use crate::config::Settings;
use crate::secret;

/// The session cookie's name.
pub const COOKIE: &str = "skycount_session";
/// A generated passphrase: 12 lower-case letters and digits without look-alikes (about 60 bits),
/// like the hotspot's.
const GENERATED_ALPHABET: &[u8] = b"abcdefghijkmnpqrstuvwxyz23456789";
const GENERATED_LEN: usize = 12;
/// Session tokens: 43 characters of 62, about 256 bits.
const TOKEN_ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const TOKEN_LEN: usize = 43;
/// At most this many sessions at once; the one closest to expiring goes first.
const MAX_SESSIONS: usize = 64;
/// The largest login or passphrase body.
const AUTH_BODY_LIMIT: usize = 4096;

// ---------------------------------------------------------------------------------------------
// Names the box answers to.

/// The names and addresses a request's `Host` may carry: see the module docs.
#[derive(Debug, Clone, Default)]
pub struct HostNames {
    /// Lower-case names without a trailing dot.
    names: Vec<String>,
    /// Addresses accepted besides the loopback ones and the interfaces' current ones.
    addrs: Vec<IpAddr>,
    /// Look at the interfaces' addresses (off in tests, to be exact).
    interfaces: bool,
}

/// The parts of a `Host` header: a name (lower case) or an address, and the port.
fn parse_host(host: &str) -> Option<(String, Option<IpAddr>)> {
    if host.is_empty() || host.len() > 300 {
        return None;
    }
    let (name, port) = if let Some(rest) = host.strip_prefix('[') {
        let (v6, after) = rest.split_once(']')?;
        (v6, after.strip_prefix(':'))
    } else {
        match host.split_once(':') {
            Some((n, p)) => (n, Some(p)),
            None => (host, None),
        }
    };
    if let Some(p) = port {
        p.parse::<u16>().ok()?;
    }
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    let ip = name.parse::<IpAddr>().ok();
    let valid = ip.is_some()
        || (!name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.'));
    valid.then_some((name, ip))
}

impl HostNames {
    /// Exactly `names` and `addrs` (and loopback).
    pub fn exactly(names: &[&str], addrs: &[IpAddr]) -> Self {
        Self {
            names: names.iter().map(|n| n.to_ascii_lowercase()).collect(),
            addrs: addrs.to_vec(),
            interfaces: false,
        }
    }

    /// The box's names: `localhost`, its host name and `NAME.local`, `skycount.lan` (the
    /// hotspot's DNS), `operator.host_names`, the hotspot's address and the interfaces'.
    pub fn from_settings(s: &Settings) -> Self {
        let mut names = vec!["localhost".to_string(), "skycount.lan".to_string()];
        if let Ok(h) = nix::unistd::gethostname() {
            if let Some(h) = h.to_str().filter(|h| !h.is_empty()) {
                let h = h.to_ascii_lowercase();
                names.push(format!("{h}.local"));
                names.push(h);
            }
        }
        names.extend(
            s.operator
                .host_names
                .iter()
                .map(|n| n.trim_end_matches('.').to_ascii_lowercase()),
        );
        Self {
            names,
            addrs: vec![IpAddr::V4(s.hotspot.box_addr())],
            interfaces: true,
        }
    }

    /// Whether a request whose `Host` header is `host` is for this box (a request without one
    /// is refused before: `publish::server`). The unspecified addresses `0.0.0.0` and `[::]`
    /// are nobody's: a browser sends them when a page of any site asks for a service "on this
    /// machine", so they are refused unless `operator.host_names` lists them.
    pub fn allows(&self, host: &str) -> bool {
        let Some((name, ip)) = parse_host(host.trim()) else {
            return false;
        };
        match ip {
            Some(ip) => {
                ip.is_loopback()
                    || self.addrs.contains(&ip)
                    || (self.interfaces && interface_addrs().contains(&ip))
                    || self.names.contains(&name)
            }
            None => self.names.contains(&name),
        }
    }
}

/// The addresses of the box's interfaces now (a LAN's DHCP may change them).
fn interface_addrs() -> Vec<IpAddr> {
    let Ok(addrs) = nix::ifaddrs::getifaddrs() else {
        return Vec::new();
    };
    addrs
        .filter_map(|a| {
            let a = a.address?;
            if let Some(v4) = a.as_sockaddr_in() {
                Some(IpAddr::V4(v4.ip()))
            } else {
                a.as_sockaddr_in6().map(|v6| IpAddr::V6(v6.ip()))
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------------------------
// Growing delays between attempts.

/// A count of failed attempts and when the next attempt may come: the first `free` failures
/// leave no wait, each one beyond sets a wait that doubles, from `base` up to `cap` (so
/// `free + 1` attempts come at once); a quiet `forget` clears it.
#[derive(Debug, Clone, Copy)]
pub struct Backoff {
    pub free: u32,
    pub base: Duration,
    pub cap: Duration,
    pub forget: Duration,
}

/// Per client address: four tries at once (three free, the fourth starts the waits), then 1 s,
/// 2 s, 4 s … up to 5 minutes between tries.
pub const PER_CLIENT: Backoff = Backoff {
    free: 3,
    base: Duration::from_secs(1),
    cap: Duration::from_secs(300),
    forget: Duration::from_secs(900),
};
/// Over all clients: eleven tries at once (ten free), then 1 s, 2 s … up to one minute between
/// tries.
pub const GLOBAL: Backoff = Backoff {
    free: 10,
    base: Duration::from_secs(1),
    cap: Duration::from_secs(60),
    forget: Duration::from_secs(900),
};

impl Backoff {
    /// The wait after `failures` failures.
    pub fn delay(&self, failures: u32) -> Duration {
        if failures <= self.free {
            return Duration::ZERO;
        }
        let doublings = (failures - self.free - 1).min(30);
        self.base.saturating_mul(1 << doublings).min(self.cap)
    }
}

#[derive(Debug, Clone, Copy)]
struct Tries {
    failures: u32,
    last: Instant,
    next: Instant,
}

impl Tries {
    fn new(now: Instant) -> Self {
        Self {
            failures: 0,
            last: now,
            next: now,
        }
    }

    /// Counts an attempt as failed in advance, or says how long to wait.
    fn begin(&mut self, rule: &Backoff, now: Instant) -> Result<(), Duration> {
        if now.saturating_duration_since(self.last) >= rule.forget {
            *self = Self::new(now);
        }
        if now < self.next {
            return Err(self.next - now);
        }
        self.failures = self.failures.saturating_add(1);
        self.last = now;
        self.next = now + rule.delay(self.failures);
        Ok(())
    }
}

/// The login's rate limit: see the module docs.
#[derive(Debug)]
pub struct Limiter {
    per_client: HashMap<IpAddr, Tries>,
    global: Tries,
    client_rule: Backoff,
    global_rule: Backoff,
}

/// Clients remembered at once; the longest quiet one is forgotten first.
const MAX_CLIENTS: usize = 4096;

impl Limiter {
    pub fn new(client_rule: Backoff, global_rule: Backoff, now: Instant) -> Self {
        Self {
            per_client: HashMap::new(),
            global: Tries::new(now),
            client_rule,
            global_rule,
        }
    }

    /// May `client` try now? Yes counts the attempt as failed until [`Limiter::succeeded`];
    /// no says how long to wait.
    pub fn begin(&mut self, client: IpAddr, now: Instant) -> Result<(), Duration> {
        if self.per_client.len() >= MAX_CLIENTS && !self.per_client.contains_key(&client) {
            let forget = self.client_rule.forget;
            self.per_client
                .retain(|_, t| now.saturating_duration_since(t.last) < forget);
            if self.per_client.len() >= MAX_CLIENTS {
                if let Some(oldest) = self.per_client.iter().min_by_key(|(_, t)| t.last) {
                    let oldest = *oldest.0;
                    self.per_client.remove(&oldest);
                }
            }
        }
        let tries = self
            .per_client
            .entry(client)
            .or_insert_with(|| Tries::new(now));
        // Both must allow it; neither counts an attempt the other refused.
        let (mut t, mut g) = (*tries, self.global);
        t.begin(&self.client_rule, now)?;
        g.begin(&self.global_rule, now)?;
        *tries = t;
        self.global = g;
        Ok(())
    }

    /// The attempt of `client` was right: its count starts again; the global count takes the
    /// attempt back.
    pub fn succeeded(&mut self, client: IpAddr, now: Instant) {
        self.per_client.remove(&client);
        self.global.failures = self.global.failures.saturating_sub(1);
        self.global.next = now + self.global_rule.delay(self.global.failures);
    }
}

// ---------------------------------------------------------------------------------------------
// Sessions.

/// Signed-in operators' sessions, by the SHA-256 of their tokens: neither memory nor disk holds a
/// token, only its hash and when it ends. With a file ([`Sessions::kept_in`]) every change is
/// written to it atomically (mode 0600), and a restart of skycountd takes the sessions back up.
#[derive(Debug, Default)]
pub struct Sessions {
    by_hash: HashMap<String, End>,
    file: Option<PathBuf>,
}

/// When a session ends: on the monotonic clock (what is checked), and on the wall clock (what
/// is kept, since a restart loses the monotonic one).
#[derive(Debug, Clone, Copy)]
struct End {
    at: Instant,
    wall_ms: u64,
}

/// A token's hash as kept: its SHA-256 in lower-case hex.
fn token_hash(token: &str) -> String {
    use sha2::Digest as _;
    sha2::Sha256::digest(token.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn wall_ms() -> u64 {
    crate::wire::unix_ms(std::time::SystemTime::now())
}

impl Sessions {
    /// Sessions kept in `file`: the ones still open there are taken back up. A session never
    /// lasts longer than `ttl` from now, whatever the file says (a clock set back while
    /// skycountd was down); an unreadable line is skipped, an unreadable file starts empty.
    pub fn kept_in(file: PathBuf, ttl: Duration, now: Instant) -> Self {
        let wall = wall_ms();
        let mut by_hash = HashMap::new();
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                for line in text.lines() {
                    let mut parts = line.split_whitespace();
                    let (Some(hash), Some(end)) = (parts.next(), parts.next()) else {
                        continue;
                    };
                    let Ok(end) = end.parse::<u64>() else {
                        continue;
                    };
                    let valid = hash.len() == 64
                        && hash.bytes().all(|b| b.is_ascii_hexdigit())
                        && end > wall;
                    if valid && by_hash.len() < MAX_SESSIONS {
                        let left = Duration::from_millis(end - wall).min(ttl);
                        by_hash.insert(
                            hash.to_ascii_lowercase(),
                            End {
                                at: now + left,
                                wall_ms: end,
                            },
                        );
                    }
                }
                if !by_hash.is_empty() {
                    log::info!(
                        "{} operator session(s) taken back up from {}",
                        by_hash.len(),
                        file.display()
                    );
                }
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => log::warn!(
                "{}: cannot read the operator's sessions ({e}): everyone signs in again",
                file.display()
            ),
        }
        Self {
            by_hash,
            file: Some(file),
        }
    }

    /// Writes the sessions to the file, if any; a failure is logged (the sessions then do not
    /// survive a restart), never fatal.
    fn keep(&self) {
        let Some(file) = &self.file else { return };
        let mut text = String::new();
        for (hash, end) in &self.by_hash {
            text.push_str(&format!("{hash} {}\n", end.wall_ms));
        }
        if let Err(e) = secret::write_atomically(file, text.as_bytes(), 0o600) {
            log::warn!(
                "{}: cannot keep the operator's sessions ({e}): a restart will sign them out",
                file.display()
            );
        }
    }

    /// A new session that ends at `now + ttl`.
    pub fn open(&mut self, ttl: Duration, now: Instant) -> Result<String, String> {
        self.by_hash.retain(|_, end| end.at > now);
        if self.by_hash.len() >= MAX_SESSIONS {
            if let Some(first) = self.by_hash.iter().min_by_key(|(_, e)| e.at) {
                let first = first.0.clone();
                self.by_hash.remove(&first);
            }
        }
        let token = secret::generate(TOKEN_ALPHABET, TOKEN_LEN)?;
        self.by_hash.insert(
            token_hash(&token),
            End {
                at: now + ttl,
                wall_ms: wall_ms() + ttl.as_millis() as u64,
            },
        );
        self.keep();
        Ok(token)
    }

    /// When the session `token` ends, if it is open at `now`.
    pub fn valid(&self, token: &str, now: Instant) -> Option<Instant> {
        self.by_hash
            .get(&token_hash(token))
            .map(|e| e.at)
            .filter(|end| *end > now)
    }

    pub fn close(&mut self, token: &str) {
        if self.by_hash.remove(&token_hash(token)).is_some() {
            self.keep();
        }
    }

    /// Closes every session but `keep`.
    pub fn close_others(&mut self, keep: Option<&str>) {
        let kept = keep.map(token_hash);
        self.by_hash.retain(|h, _| Some(h) == kept.as_ref());
        self.keep();
    }
}

/// The session token in a request's `Cookie` headers.
pub fn token_of(headers: &HeaderMap) -> Option<&str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|c| c.trim().split_once('='))
        .find(|(name, _)| *name == COOKIE)
        .map(|(_, value)| value.trim_matches('"'))
        .filter(|v| !v.is_empty())
}

// ---------------------------------------------------------------------------------------------
// The passphrase.

/// Hashes `passphrase` with argon2id at `cost` and a random salt: a PHC string.
pub fn hash(passphrase: &str, cost: &Params) -> Result<String, String> {
    // 16 random characters of 62: about 95 bits.
    let salt = secret::generate(TOKEN_ALPHABET, 16)?;
    let salt =
        SaltString::encode_b64(salt.as_bytes()).map_err(|e| format!("cannot make a salt: {e}"))?;
    argon(cost)
        .hash_password(passphrase.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| format!("cannot hash the passphrase: {e}"))
}

/// Whether `passphrase` is the one hashed in the PHC string `phc` (its own parameters).
pub fn verify(passphrase: &str, phc: &str) -> Result<bool, String> {
    let parsed =
        PasswordHash::new(phc).map_err(|e| format!("the kept hash is not a PHC string: {e}"))?;
    match Argon2::default().verify_password(passphrase.as_bytes(), &parsed) {
        Ok(()) => Ok(true),
        Err(argon2::password_hash::Error::Password) => Ok(false),
        Err(e) => Err(format!("cannot check the passphrase: {e}")),
    }
}

fn argon(cost: &Params) -> Argon2<'static> {
    Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        cost.clone(),
    )
}

/// Where the passphrase's hash comes from.
#[derive(Debug, Clone)]
pub enum Credential {
    /// `operator.passphrase` in skycount.toml, hashed at start: not changeable from the
    /// dashboard.
    Configured { phc: String },
    /// Kept in `operator.hash_file`; the operator may replace it.
    Kept {
        phc: String,
        hash_file: PathBuf,
        banner_file: PathBuf,
    },
    /// None usable: why (sign-in answers it).
    Missing(String),
}

/// The console banner for a generated passphrase.
pub fn banner_text(passphrase: &str) -> String {
    format!(
        "skycount operator passphrase: {}\n(sign in as the operator on the dashboard, then change it there)\n\n",
        passphrase.replace('\\', "\\\\")
    )
}

/// The banner once the operator has chosen a passphrase.
pub fn banner_changed(hash_file: &std::path::Path) -> String {
    format!(
        "skycount operator passphrase: chosen by the operator (not shown; to start again, delete {} and restart skycountd)\n\n",
        hash_file.display()
    )
}

impl Credential {
    /// The credential `o` asks for: see the module docs. A missing one is generated (its banner
    /// written before its hash, so that a hash never exists that nobody can read the passphrase
    /// of); a broken one is explained, not replaced.
    pub fn resolve(o: &OperatorSettings, cost: &Params) -> Self {
        if !o.passphrase.is_empty() {
            return match hash(&o.passphrase, cost) {
                Ok(phc) => Self::Configured { phc },
                Err(e) => Self::Missing(e),
            };
        }
        let kept = |phc| Self::Kept {
            phc,
            hash_file: o.hash_file.clone(),
            banner_file: o.banner_file.clone(),
        };
        match std::fs::read_to_string(&o.hash_file) {
            Ok(text) if !text.trim().is_empty() => {
                let phc = text.trim().to_string();
                return match PasswordHash::new(&phc) {
                    Ok(_) => kept(phc),
                    Err(e) => Self::Missing(format!(
                        "{}: the kept operator passphrase hash is unreadable ({e}); delete the \
                         file and restart skycountd to generate a new passphrase",
                        o.hash_file.display()
                    )),
                };
            }
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Self::Missing(format!(
                    "{}: cannot read the operator passphrase hash: {e}",
                    o.hash_file.display()
                ))
            }
        }
        let dir = o
            .hash_file
            .parent()
            .filter(|d| !d.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."));
        if !dir.is_dir() {
            return Self::Missing(format!(
                "no operator passphrase: {} does not exist to keep one in (systemd's \
                 StateDirectory= creates it; or set operator.passphrase in skycount.toml)",
                dir.display()
            ));
        }
        let made = (|| {
            let passphrase = secret::generate(GENERATED_ALPHABET, GENERATED_LEN)?;
            let phc = hash(&passphrase, cost)?;
            secret::write_atomically(&o.banner_file, banner_text(&passphrase).as_bytes(), 0o600)
                .map_err(|e| format!("{}: cannot write: {e}", o.banner_file.display()))?;
            secret::write_atomically(&o.hash_file, format!("{phc}\n").as_bytes(), 0o600)
                .map_err(|e| format!("{}: cannot write: {e}", o.hash_file.display()))?;
            Ok::<_, String>(phc)
        })();
        match made {
            Ok(phc) => {
                log::info!(
                    "generated an operator passphrase: it is shown on the console's login \
                     screen ({}); its hash is kept in {}",
                    o.banner_file.display(),
                    o.hash_file.display()
                );
                kept(phc)
            }
            Err(e) => Self::Missing(format!(
                "no operator passphrase: {e} (set operator.passphrase in skycount.toml)"
            )),
        }
    }

    fn phc(&self) -> Result<&str, &str> {
        match self {
            Self::Configured { phc } | Self::Kept { phc, .. } => Ok(phc),
            Self::Missing(why) => Err(why),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The whole.

/// Roles, sessions and the rate limit for one server.
pub struct Auth {
    credential: Mutex<Credential>,
    sessions: Mutex<Sessions>,
    limiter: Mutex<Limiter>,
    /// One argon2 run at a time: a flood of attempts cannot take every core and its memory.
    hashing: tokio::sync::Semaphore,
    session_ttl: Duration,
    cost: Params,
    pub hosts: HostNames,
}

/// A session's state for the dashboard (`GET /api/auth/session`).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct SessionReport {
    pub operator: bool,
    /// Seconds left, when signed in.
    pub expires_in_s: Option<u64>,
    /// Whether the operator can change the passphrase here.
    pub changeable: bool,
    /// Why nobody can sign in, when nobody can.
    pub unavailable: Option<String>,
}

impl Auth {
    pub fn new(
        credential: Credential,
        session_ttl: Duration,
        cost: Params,
        hosts: HostNames,
    ) -> Self {
        Self::with_sessions(credential, Sessions::default(), session_ttl, cost, hosts)
    }

    /// [`Auth::new`] with the sessions kept so far (`Sessions::kept_in`).
    pub fn with_sessions(
        credential: Credential,
        sessions: Sessions,
        session_ttl: Duration,
        cost: Params,
        hosts: HostNames,
    ) -> Self {
        Self {
            credential: Mutex::new(credential),
            sessions: Mutex::new(sessions),
            limiter: Mutex::new(Limiter::new(PER_CLIENT, GLOBAL, Instant::now())),
            hashing: tokio::sync::Semaphore::new(1),
            session_ttl,
            cost,
            hosts,
        }
    }

    /// From skycount.toml (generating and keeping a passphrase on the first start).
    pub fn from_settings(s: &Settings) -> Self {
        let cost = Params::default();
        let credential = Credential::resolve(&s.operator, &cost);
        if let Credential::Missing(why) = &credential {
            log::warn!("operator sign-in is unavailable: {why}");
        }
        let ttl = Duration::from_secs(u64::from(s.operator.session_minutes) * 60);
        Self::with_sessions(
            credential,
            Sessions::kept_in(s.operator.sessions_file.clone(), ttl, Instant::now()),
            ttl,
            cost,
            HostNames::from_settings(s),
        )
    }

    /// For tests: `passphrase`, cheap hashing, the given names.
    pub fn for_tests(passphrase: &str, hosts: HostNames) -> Self {
        let cost = Params::new(256, 1, 1, None).expect("valid argon2 parameters");
        let phc = hash(passphrase, &cost).expect("hashing works");
        Self::new(
            Credential::Configured { phc },
            Duration::from_secs(600),
            cost,
            hosts,
        )
    }

    /// Whether `headers` carry an open session.
    pub fn is_operator(&self, headers: &HeaderMap) -> bool {
        token_of(headers).is_some_and(|t| self.sessions.lock().valid(t, Instant::now()).is_some())
    }

    /// `Ok` for an operator's request; otherwise the 401 to answer.
    #[allow(clippy::result_large_err)]
    pub fn check(&self, headers: &HeaderMap) -> Result<(), Response> {
        if self.is_operator(headers) {
            Ok(())
        } else {
            Err(refuse(
                StatusCode::UNAUTHORIZED,
                "sign in as the operator first: you are not signed in, or your session has ended",
            ))
        }
    }

    pub fn report(&self, headers: &HeaderMap) -> SessionReport {
        let now = Instant::now();
        let end = token_of(headers).and_then(|t| self.sessions.lock().valid(t, now));
        let cred = self.credential.lock();
        SessionReport {
            operator: end.is_some(),
            expires_in_s: end.map(|e| e.saturating_duration_since(now).as_secs()),
            changeable: matches!(*cred, Credential::Kept { .. }),
            unavailable: cred.phc().err().map(str::to_owned),
        }
    }

    /// Checks `passphrase` for `client`, within the rate limit: `Ok(token)` opens a session.
    pub async fn login(&self, client: IpAddr, passphrase: &str) -> Result<String, LoginError> {
        let phc = self
            .credential
            .lock()
            .phc()
            .map(str::to_owned)
            .map_err(|e| LoginError::Unavailable(e.to_owned()))?;
        self.limiter
            .lock()
            .begin(client, Instant::now())
            .map_err(LoginError::Wait)?;
        if !self.verify(passphrase, phc).await? {
            log::warn!("a wrong operator passphrase from {client}");
            return Err(LoginError::Wrong);
        }
        self.limiter.lock().succeeded(client, Instant::now());
        log::info!("the operator signed in from {client}");
        self.sessions
            .lock()
            .open(self.session_ttl, Instant::now())
            .map_err(LoginError::Unavailable)
    }

    async fn verify(&self, passphrase: &str, phc: String) -> Result<bool, LoginError> {
        let _one = self
            .hashing
            .acquire()
            .await
            .map_err(|e| LoginError::Unavailable(e.to_string()))?;
        let p = passphrase.to_owned();
        tokio::task::spawn_blocking(move || verify(&p, &phc))
            .await
            .map_err(|e| LoginError::Unavailable(e.to_string()))?
            .map_err(LoginError::Unavailable)
    }

    pub fn logout(&self, headers: &HeaderMap) {
        if let Some(t) = token_of(headers) {
            self.sessions.lock().close(t);
        }
    }

    /// The operator replaces the passphrase (knowing the current one, within the rate limit);
    /// every other session is closed.
    pub async fn change(
        &self,
        client: IpAddr,
        headers: &HeaderMap,
        current: &str,
        new: &str,
    ) -> Result<(), LoginError> {
        let (phc, hash_file, banner_file) =
            match &*self.credential.lock() {
                Credential::Kept {
                    phc,
                    hash_file,
                    banner_file,
                } => (phc.clone(), hash_file.clone(), banner_file.clone()),
                Credential::Configured { .. } => return Err(LoginError::Conflict(
                    "the passphrase is set in skycount.toml (operator.passphrase): change it there"
                        .into(),
                )),
                Credential::Missing(why) => return Err(LoginError::Unavailable(why.clone())),
            };
        check_passphrase(new).map_err(|e| LoginError::Bad(format!("the new passphrase {e}")))?;
        self.limiter
            .lock()
            .begin(client, Instant::now())
            .map_err(LoginError::Wait)?;
        if !self.verify(current, phc).await? {
            return Err(LoginError::Wrong);
        }
        self.limiter.lock().succeeded(client, Instant::now());
        let (new, cost) = (new.to_owned(), self.cost.clone());
        let new_phc = {
            let _one = self
                .hashing
                .acquire()
                .await
                .map_err(|e| LoginError::Unavailable(e.to_string()))?;
            tokio::task::spawn_blocking(move || hash(&new, &cost))
                .await
                .map_err(|e| LoginError::Unavailable(e.to_string()))?
                .map_err(LoginError::Unavailable)?
        };
        secret::write_atomically(&hash_file, format!("{new_phc}\n").as_bytes(), 0o600).map_err(
            |e| LoginError::Failed(format!("{}: cannot write: {e}", hash_file.display())),
        )?;
        if let Err(e) =
            secret::write_atomically(&banner_file, banner_changed(&hash_file).as_bytes(), 0o600)
        {
            log::warn!(
                "{}: cannot replace the banner showing the old passphrase: {e}",
                banner_file.display()
            );
        }
        *self.credential.lock() = Credential::Kept {
            phc: new_phc,
            hash_file,
            banner_file,
        };
        self.sessions.lock().close_others(token_of(headers));
        log::info!("the operator changed the operator passphrase from {client}");
        Ok(())
    }
}

/// Why a sign-in (or a change of passphrase) did not happen.
#[derive(Debug, Clone, PartialEq)]
pub enum LoginError {
    /// The passphrase is wrong: 401.
    Wrong,
    /// Too soon after failures: 429 with `Retry-After`.
    Wait(Duration),
    /// The request is wrong: 400.
    Bad(String),
    /// Not possible here: 409.
    Conflict(String),
    /// Nobody can sign in (no passphrase): 503.
    Unavailable(String),
    /// The box failed: 500.
    Failed(String),
}

fn refuse(code: StatusCode, msg: &str) -> Response {
    (code, Json(json!({ "error": msg }))).into_response()
}

impl IntoResponse for LoginError {
    fn into_response(self) -> Response {
        match self {
            Self::Wrong => refuse(StatusCode::UNAUTHORIZED, "wrong passphrase"),
            Self::Wait(d) => {
                let s = d.as_secs_f64().ceil().max(1.0) as u64;
                let mut r = refuse(
                    StatusCode::TOO_MANY_REQUESTS,
                    &format!("too many wrong passphrases: try again in {s} s"),
                );
                r.headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(s));
                r
            }
            Self::Bad(m) => refuse(StatusCode::BAD_REQUEST, &m),
            Self::Conflict(m) => refuse(StatusCode::CONFLICT, &m),
            Self::Unavailable(m) => refuse(StatusCode::SERVICE_UNAVAILABLE, &m),
            Self::Failed(m) => refuse(StatusCode::INTERNAL_SERVER_ERROR, &m),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The gate: what every operator route sits behind (`publish::operator`, `publish::models`,
// `publish::pairing`, the operator's history and update routes, changing the passphrase).

/// Whether `origin` (an `Origin` header) is the page the box served, reached at `host` (the
/// `Host` header): the whole origin compared, scheme (`http`: the box serves nothing else),
/// host and port (the default port written or not). An origin that is not ASCII, not a URL, or
/// more than scheme, host and port (`null`, a path, a user) is not.
fn same_origin(origin: &HeaderValue, host: &str) -> bool {
    let parse = |s: &str| url::Url::parse(s).ok();
    let (Some(origin), Some(own)) = (
        origin.to_str().ok().and_then(parse),
        parse(&format!("http://{host}")),
    ) else {
        return false;
    };
    let bare = |u: &url::Url| {
        u.username().is_empty()
            && u.password().is_none()
            && u.path() == "/"
            && u.query().is_none()
            && u.fragment().is_none()
    };
    origin.scheme() == "http"
        && bare(&origin)
        && bare(&own)
        && origin.host().is_some()
        && origin.host() == own.host()
        && origin.port_or_known_default() == own.port_or_known_default()
}

/// A request that changes something and carries an `Origin` must come from the page the box
/// served ([`same_origin`]): otherwise the 403 to answer. Tools that send no `Origin` pass (they
/// are not a browser that another site's page can drive).
pub fn refuse_foreign(req: &Request) -> Option<Response> {
    let mutating = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    if !mutating {
        return None;
    }
    let mut origins = req.headers().get_all(header::ORIGIN).iter();
    let origin = origins.next()?;
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    if origins.next().is_none() && same_origin(origin, host) {
        return None;
    }
    let shown: String = String::from_utf8_lossy(origin.as_bytes())
        .chars()
        .take(80)
        .collect();
    Some(
        (
            StatusCode::FORBIDDEN,
            Json(json!({
                "error": format!("refused: the request comes from {shown:?}, not from this box's dashboard")
            })),
        )
            .into_response(),
    )
}

/// The operator gate: see the module docs. A change from another site's page is refused (403),
/// then anything without the operator's session (401, [`Auth::check`]).
pub async fn gate(State(auth): State<Arc<Auth>>, req: Request, next: Next) -> Response {
    if let Some(refused) = refuse_foreign(&req) {
        return refused;
    }
    if let Err(refused) = auth.check(req.headers()) {
        return refused;
    }
    next.run(req).await
}

/// The `Cache-Control` of every operator-only answer: a browser keeps none of it (a frozen frame
/// stayed in the cache an hour after signing out with `private, max-age=3600`).
pub const NO_STORE: &str = "no-store";

/// Sets `Cache-Control: no-store` on every answer of the routes it wraps, refusals included.
pub fn no_store() -> tower_http::set_header::SetResponseHeaderLayer<HeaderValue> {
    tower_http::set_header::SetResponseHeaderLayer::overriding(
        header::CACHE_CONTROL,
        HeaderValue::from_static(NO_STORE),
    )
}

/// `routes` behind the [`gate`], none of their answers kept by the browser ([`no_store`]): how
/// every operator route is served.
pub fn behind_gate<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    auth: Arc<Auth>,
) -> Router<S> {
    routes
        .route_layer(middleware::from_fn_with_state(auth, gate))
        .layer(no_store())
}

// ---------------------------------------------------------------------------------------------
// HTTP.

/// The client's address (the server puts it in the request; tests may not).
fn client_of(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))
}

async fn body_json(req: Request) -> Result<serde_json::Value, LoginError> {
    let bytes = axum::body::to_bytes(req.into_body(), AUTH_BODY_LIMIT)
        .await
        .map_err(|_| LoginError::Bad(format!("the body is over {AUTH_BODY_LIMIT} bytes")))?;
    serde_json::from_slice(&bytes)
        .map_err(|e| LoginError::Bad(format!("the request's JSON does not fit: {e}")))
}

fn field(v: &serde_json::Value, name: &str) -> Result<String, LoginError> {
    v.get(name)
        .and_then(|p| p.as_str())
        .map(str::to_owned)
        .ok_or_else(|| LoginError::Bad(format!("expected {{\"{name}\": \"…\"}}")))
}

fn set_cookie(token: &str, max_age: Duration) -> HeaderValue {
    // HttpOnly: no script reads it; SameSite=Strict: no other site's page sends it. Not Secure:
    // the box serves plain HTTP on its own network (docs/security.md).
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
        max_age.as_secs()
    ))
    .expect("a token of letters and digits")
}

async fn login(State(auth): State<Arc<Auth>>, req: Request) -> Response {
    let client = client_of(&req);
    let body = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let passphrase = match field(&body, "passphrase") {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    match auth.login(client, &passphrase).await {
        Ok(token) => {
            let mut r =
                Json(json!({ "operator": true, "expires_in_s": auth.session_ttl.as_secs() }))
                    .into_response();
            r.headers_mut()
                .insert(header::SET_COOKIE, set_cookie(&token, auth.session_ttl));
            r
        }
        Err(e) => e.into_response(),
    }
}

async fn logout(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    auth.logout(&headers);
    let mut r = Json(json!({ "operator": false })).into_response();
    r.headers_mut()
        .insert(header::SET_COOKIE, set_cookie("", Duration::ZERO));
    r
}

async fn session(State(auth): State<Arc<Auth>>, headers: HeaderMap) -> Response {
    Json(auth.report(&headers)).into_response()
}

async fn change_passphrase(State(auth): State<Arc<Auth>>, req: Request) -> Response {
    let client = client_of(&req);
    let headers = req.headers().clone();
    let body = match body_json(req).await {
        Ok(b) => b,
        Err(e) => return e.into_response(),
    };
    let (current, new) = match (field(&body, "current"), field(&body, "new")) {
        (Ok(c), Ok(n)) => (c, n),
        (Err(e), _) | (_, Err(e)) => return e.into_response(),
    };
    match auth.change(client, &headers, &current, &new).await {
        Ok(()) => Json(json!({ "ok": true })).into_response(),
        Err(e) => e.into_response(),
    }
}

/// Origin only: signing in and out must come from the box's own page too (a foreign page must
/// not sign a browser in with its own passphrase either).
async fn origin_only(req: Request, next: Next) -> Response {
    match refuse_foreign(&req) {
        Some(refused) => refused,
        None => next.run(req).await,
    }
}

/// `/api/auth/*`: sign in, sign out, the session's state; changing the passphrase goes through
/// the operator gate.
pub fn routes(auth: Arc<Auth>) -> Router {
    let open = Router::new()
        .route("/api/auth/login", post(login))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/session", get(session))
        .route_layer(middleware::from_fn(origin_only));
    let gated = Router::new()
        .route("/api/auth/passphrase", put(change_passphrase))
        .route_layer(middleware::from_fn_with_state(auth.clone(), gate));
    // The session's state and the sign-in's answers are the browser's to read once, not to keep.
    open.merge(gated).layer(no_store()).with_state(auth)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Params {
        Params::new(256, 1, 1, None).unwrap()
    }

    #[test]
    fn a_hash_verifies_its_passphrase_only() {
        let phc = hash("correct horse", &cheap()).unwrap();
        assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{phc}");
        assert!(verify("correct horse", &phc).unwrap());
        assert!(!verify("correct hors", &phc).unwrap());
        assert!(!verify("", &phc).unwrap());
        // Two hashes of one passphrase differ (the salt), both verify.
        let again = hash("correct horse", &cheap()).unwrap();
        assert_ne!(phc, again);
        assert!(verify("correct horse", &again).unwrap());
        assert!(verify("x", "not a phc string").is_err());
        // The production cost is argon2's default (19 MiB, 2 passes).
        let real = hash("pin123", &Params::default()).unwrap();
        assert!(real.contains("m=19456,t=2,p=1"), "{real}");
    }

    #[test]
    fn sessions_expire() {
        let t0 = Instant::now();
        let mut s = Sessions::default();
        let token = s.open(Duration::from_secs(60), t0).unwrap();
        assert_eq!(token.len(), TOKEN_LEN);
        assert!(s.valid(&token, t0 + Duration::from_secs(59)).is_some());
        assert!(s.valid(&token, t0 + Duration::from_secs(60)).is_none());
        assert!(s.valid("guess", t0).is_none());
        let other = s.open(Duration::from_secs(60), t0).unwrap();
        assert_ne!(token, other);
        s.close_others(Some(&other));
        assert!(s.valid(&token, t0).is_none());
        assert!(s.valid(&other, t0).is_some());
        s.close(&other);
        assert!(s.valid(&other, t0).is_none());
        // The oldest goes when there are too many.
        for i in 0..(MAX_SESSIONS + 5) {
            s.open(Duration::from_secs(100 + i as u64), t0).unwrap();
        }
        assert_eq!(s.by_hash.len(), MAX_SESSIONS);
    }

    #[test]
    fn sessions_survive_a_restart_as_hashes_and_end_when_they_end() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("operator.sessions");
        let ttl = Duration::from_secs(600);
        let t0 = Instant::now();
        let mut s = Sessions::kept_in(file.clone(), ttl, t0);
        let a = s.open(ttl, t0).unwrap();
        let b = s.open(Duration::from_secs(1), t0).unwrap();
        let kept = std::fs::read_to_string(&file).unwrap();
        assert!(
            !kept.contains(&a) && !kept.contains(&b),
            "no token on disk: {kept}"
        );
        assert!(kept.contains(&token_hash(&a)), "{kept}");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o600
        );
        // skycountd restarts: a new Sessions from the file, on a new monotonic clock.
        std::thread::sleep(Duration::from_millis(1100));
        let t1 = Instant::now();
        let mut again = Sessions::kept_in(file.clone(), ttl, t1);
        let end = again.valid(&a, t1).expect("signed in across the restart");
        assert!(end <= t1 + ttl && end > t1 + Duration::from_secs(590));
        assert!(
            again.valid(&b, t1).is_none(),
            "the one that ended while down is gone"
        );
        assert!(again.valid("forged", t1).is_none());
        // Signing out is kept too.
        again.close(&a);
        assert!(Sessions::kept_in(file.clone(), ttl, t1)
            .valid(&a, t1)
            .is_none());
        // A file promising more than the ttl (a clock set back) is capped; garbage is skipped.
        let far = wall_ms() + 10 * 86_400_000;
        std::fs::write(
            &file,
            format!("{} {far}\nnot a line\nzz {far}\n", token_hash("tok")),
        )
        .unwrap();
        let capped = Sessions::kept_in(file.clone(), ttl, t1);
        assert_eq!(capped.valid("tok", t1), Some(t1 + ttl));
        assert_eq!(capped.by_hash.len(), 1);
        // No file to write to: sessions still work, in memory.
        let mut nowhere = Sessions::kept_in(dir.path().join("no/such/dir/s"), ttl, t1);
        let c = nowhere.open(ttl, t1).unwrap();
        assert!(nowhere.valid(&c, t1).is_some());
    }

    #[test]
    fn the_cookie_is_found_among_others() {
        let mut h = HeaderMap::new();
        assert_eq!(token_of(&h), None);
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; skycount_session=abc; b=2"),
        );
        assert_eq!(token_of(&h), Some("abc"));
        let c = set_cookie("abc", Duration::from_secs(60))
            .to_str()
            .unwrap()
            .to_owned();
        assert!(
            c.contains("HttpOnly") && c.contains("SameSite=Strict") && c.contains("Max-Age=60"),
            "{c}"
        );
    }

    #[test]
    fn delays_grow_per_client_and_over_all() {
        let t0 = Instant::now();
        let mut l = Limiter::new(PER_CLIENT, GLOBAL, t0);
        let a: IpAddr = "192.168.50.20".parse().unwrap();
        let b: IpAddr = "192.168.50.21".parse().unwrap();
        // Four tries at once (three free, the fourth sets the first wait), then 1 s, 2 s, 4 s …
        for _ in 0..4 {
            l.begin(a, t0).unwrap();
        }
        assert_eq!(l.begin(a, t0), Err(Duration::from_secs(1)));
        l.begin(a, t0 + Duration::from_secs(1)).unwrap();
        assert_eq!(
            l.begin(a, t0 + Duration::from_secs(1)),
            Err(Duration::from_secs(2))
        );
        // Another client is not held up by the first…
        l.begin(b, t0 + Duration::from_secs(1)).unwrap();
        // …and a right passphrase starts the count again.
        l.succeeded(a, t0 + Duration::from_secs(1));
        l.begin(a, t0 + Duration::from_secs(1)).unwrap();
        // The per-client delay stops growing at the cap.
        assert_eq!(PER_CLIENT.delay(40), Duration::from_secs(300));
        assert_eq!(PER_CLIENT.delay(u32::MAX), Duration::from_secs(300));
        // Over all clients: past ten failures in a row, everyone waits.
        let mut l = Limiter::new(PER_CLIENT, GLOBAL, t0);
        for i in 0..=10u8 {
            l.begin(IpAddr::from([10, 0, 0, i]), t0).unwrap();
        }
        let fresh = IpAddr::from([10, 0, 1, 1]);
        assert_eq!(l.begin(fresh, t0), Err(Duration::from_secs(1)));
        // A refused attempt is not counted against the client.
        l.begin(fresh, t0 + Duration::from_secs(1)).unwrap();
        // A quiet quarter of an hour forgets.
        let later = t0 + Duration::from_secs(2000);
        for _ in 0..3 {
            l.begin(fresh, later).unwrap();
        }
    }

    /// The brute-force figure in docs/security.md: how many guesses the limits let through.
    /// Printed by `cargo test -p skycountd --lib brute_force -- --nocapture`.
    #[test]
    fn brute_force_figures() {
        let run = |clients: u8, minutes: u64| -> u64 {
            let t0 = Instant::now();
            let mut l = Limiter::new(PER_CLIENT, GLOBAL, t0);
            let mut tries = 0u64;
            // Every client tries every 250 ms (the delays are whole seconds).
            for step in 0..(minutes * 240) {
                let now = t0 + Duration::from_millis(step * 250);
                for c in 0..clients {
                    if l.begin(IpAddr::from([10, 0, 0, c]), now).is_ok() {
                        tries += 1;
                    }
                }
            }
            tries
        };
        let one_first = run(1, 1);
        let one_hour = run(1, 60);
        let many_hour = run(200, 60);
        println!("brute force, one address: {one_first} guesses in the first minute, {one_hour} in an hour ({:.2}/min)", one_hour as f64 / 60.0);
        println!(
            "brute force, 200 addresses: {many_hour} guesses in an hour ({:.2}/min)",
            many_hour as f64 / 60.0
        );
        // One address: 4 at once, then after waits of 1, 2, 4, 8 and 16 s: 9 in the first
        // minute; then one per 5 minutes.
        assert_eq!(one_first, 9);
        assert!(one_hour <= 25, "{one_hour}");
        // Many addresses: bounded by the global delay (one a minute at its cap).
        assert!(many_hour <= 10 + 6 + 60, "{many_hour}");
        // A 6-digit PIN then takes on average (10^6 / 2) / (guesses per hour) hours.
        println!(
            "a 6-digit PIN: {:.0} days on average from 200 addresses; a generated passphrase (~60 bits): never",
            500_000.0 / many_hour as f64 / 24.0
        );
        // docs/security.md gives these figures: they are the limiter's.
        let doc = include_str!("../../../docs/security.md");
        for row in [
            format!("| one address, first minute | {one_first} |"),
            format!("| one address, one hour | {one_hour} ("),
            format!("| 200 addresses (a whole hotspot), one hour | {many_hour} ("),
        ] {
            assert!(doc.contains(&row), "docs/security.md lacks {row:?}");
        }
    }

    /// docs/security.md says in words how many attempts come at once and what the waits are.
    #[test]
    fn the_security_doc_tells_the_limits_the_code_has() {
        let doc = include_str!("../../../docs/security.md").replace("\n  ", " ");
        let words = [
            "", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten",
            "eleven", "twelve",
        ];
        let at_once = |b: &Backoff| words[b.free as usize + 1];
        // At once: as many attempts as `begin` lets through at one instant.
        let t0 = Instant::now();
        let mut l = Limiter::new(PER_CLIENT, GLOBAL, t0);
        let one = IpAddr::from([10, 0, 0, 1]);
        let through = (0..20).take_while(|_| l.begin(one, t0).is_ok()).count();
        assert_eq!(words[through], at_once(&PER_CLIENT));
        let mut l = Limiter::new(PER_CLIENT, GLOBAL, t0);
        let through = (0..20u8)
            .take_while(|i| l.begin(IpAddr::from([10, 0, 1, *i]), t0).is_ok())
            .count();
        assert_eq!(words[through], at_once(&GLOBAL));
        for said in [
            format!(
                "per client address: {} attempts are checked at once",
                at_once(&PER_CLIENT)
            ),
            format!(
                "up to {} minutes between tries",
                PER_CLIENT.cap.as_secs() / 60
            ),
            format!(
                "over all clients together: {} attempts at once",
                at_once(&GLOBAL)
            ),
            format!("up to {} minute between tries", GLOBAL.cap.as_secs() / 60),
            "forgotten after a quiet quarter of an hour".to_string(),
        ] {
            assert!(
                doc.contains(&said),
                "docs/security.md does not say {said:?}"
            );
        }
        assert_eq!(
            (PER_CLIENT.forget, GLOBAL.forget),
            (Duration::from_secs(900), Duration::from_secs(900))
        );
        assert_eq!(
            (PER_CLIENT.base, GLOBAL.base),
            (Duration::from_secs(1), Duration::from_secs(1))
        );
    }

    #[test]
    fn host_names_are_the_box_s_only() {
        let h = HostNames::exactly(
            &["skycount.lan", "box.example.org"],
            &["192.168.50.1".parse().unwrap()],
        );
        for ok in [
            "192.168.50.1",
            "192.168.50.1:8080",
            "skycount.lan",
            "SKYCOUNT.LAN.",
            "box.example.org:80",
            "127.0.0.1:3000",
            "[::1]:80",
        ] {
            assert!(h.allows(ok), "{ok}");
        }
        let long = "a".repeat(65536);
        for bad in [
            "evil.example",
            "192.168.50.2",
            "skycount.lan:99999",
            "skycount.lan:80:80",
            "[::1",
            "",
            "sky count.lan",
            long.as_str(),
            "192.168.50.1@evil",
            // Unspecified: nobody's address; browsers reach local services through it.
            "0.0.0.0",
            "0.0.0.0:8080",
            "[::]:80",
        ] {
            assert!(!h.allows(bad), "{bad}");
        }
        // Unless the box is configured to answer to it.
        let h = HostNames::exactly(&["0.0.0.0"], &[]);
        assert!(h.allows("0.0.0.0:8080"));
        assert!(!h.allows("[::]:80"));
    }

    #[test]
    fn a_passphrase_is_generated_once_shown_and_kept_hashed() {
        let dir = tempfile::tempdir().unwrap();
        let o = OperatorSettings {
            hash_file: dir.path().join("operator.phc"),
            banner_file: dir.path().join("operator.issue"),
            ..OperatorSettings::default()
        };
        let Credential::Kept { phc, .. } = Credential::resolve(&o, &cheap()) else {
            panic!("a generated credential")
        };
        let banner = std::fs::read_to_string(&o.banner_file).unwrap();
        let shown = banner
            .lines()
            .next()
            .unwrap()
            .strip_prefix("skycount operator passphrase: ")
            .unwrap();
        assert_eq!(shown.len(), GENERATED_LEN);
        assert!(verify(shown, &phc).unwrap());
        let kept = std::fs::read_to_string(&o.hash_file).unwrap();
        assert_eq!(kept.trim(), phc);
        assert!(!kept.contains(shown), "only the hash is kept");
        use std::os::unix::fs::PermissionsExt;
        for f in [&o.hash_file, &o.banner_file] {
            let mode = std::fs::metadata(f).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600, "{}", f.display());
        }
        // The next start keeps it.
        let Credential::Kept { phc: again, .. } = Credential::resolve(&o, &cheap()) else {
            panic!()
        };
        assert_eq!(again, phc);
        // A broken hash is explained, not replaced.
        std::fs::write(&o.hash_file, "garbage\n").unwrap();
        let Credential::Missing(why) = Credential::resolve(&o, &cheap()) else {
            panic!()
        };
        assert!(why.contains("delete the file"), "{why}");
        assert_eq!(std::fs::read_to_string(&o.hash_file).unwrap(), "garbage\n");
        // No directory to keep it in: no sign-in, and why.
        let nowhere = OperatorSettings {
            hash_file: dir.path().join("no/such/operator.phc"),
            banner_file: dir.path().join("no/such/operator.issue"),
            ..OperatorSettings::default()
        };
        let Credential::Missing(why) = Credential::resolve(&nowhere, &cheap()) else {
            panic!()
        };
        assert!(why.contains("operator.passphrase"), "{why}");
        assert!(!nowhere.hash_file.exists());
    }

    #[tokio::test]
    async fn sign_in_change_and_sign_out() {
        let dir = tempfile::tempdir().unwrap();
        let o = OperatorSettings {
            hash_file: dir.path().join("operator.phc"),
            banner_file: dir.path().join("operator.issue"),
            ..OperatorSettings::default()
        };
        let first = hash("first-pin", &cheap()).unwrap();
        std::fs::write(&o.hash_file, &first).unwrap();
        let auth = Auth::new(
            Credential::resolve(&o, &cheap()),
            Duration::from_secs(600),
            cheap(),
            HostNames::default(),
        );
        let me: IpAddr = "192.168.50.30".parse().unwrap();
        assert_eq!(auth.login(me, "nope").await, Err(LoginError::Wrong));
        let token = auth.login(me, "first-pin").await.unwrap();
        let mut h = HeaderMap::new();
        h.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{COOKIE}={token}")).unwrap(),
        );
        assert!(auth.is_operator(&h));
        let other = auth.login(me, "first-pin").await.unwrap();
        assert!(matches!(
            auth.change(me, &h, "first-pin", "12345").await,
            Err(LoginError::Bad(_))
        ));
        assert_eq!(
            auth.change(me, &h, "wrong", "second-pin").await,
            Err(LoginError::Wrong)
        );
        auth.change(me, &h, "first-pin", "second-pin")
            .await
            .unwrap();
        assert!(auth.is_operator(&h), "the changing session stays");
        let mut o2 = HeaderMap::new();
        o2.insert(
            header::COOKIE,
            HeaderValue::from_str(&format!("{COOKIE}={other}")).unwrap(),
        );
        assert!(!auth.is_operator(&o2), "other sessions are closed");
        assert_eq!(auth.login(me, "first-pin").await, Err(LoginError::Wrong));
        auth.login(me, "second-pin").await.unwrap();
        let kept = std::fs::read_to_string(&o.hash_file).unwrap();
        assert!(verify("second-pin", kept.trim()).unwrap());
        let banner = std::fs::read_to_string(&o.banner_file).unwrap();
        assert!(banner.contains("chosen by the operator"), "{banner}");
        auth.logout(&h);
        assert!(!auth.is_operator(&h));
        // Set in the TOML: not changeable here.
        let fixed = Auth::for_tests("toml-pin", HostNames::default());
        assert!(matches!(
            fixed.change(me, &h, "toml-pin", "another").await,
            Err(LoginError::Conflict(_))
        ));
        assert!(!fixed.report(&h).changeable);
    }
}
