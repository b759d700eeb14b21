//! The Wi-Fi hotspot the pilot's phone and the viewers join: hostapd (WPA2), a static address by
//! systemd-networkd, and dnsmasq for DHCP and DNS, all rendered from `[hotspot]` by
//! `skycountd render-hotspot` into /run (see `docs/hotspot.md` and `systemd/`).
//!
//! With `captive_portal` on, dnsmasq answers every name with the box's address. A phone that
//! joins asks a well-known address whether it is online (Android: `/generate_204`, Apple:
//! `/hotspot-detect.html`, Windows: `/connecttest.txt`, Firefox: `/canonical.html`); skycountd
//! answers those with a redirect to the dashboard, so the phone opens it in its sign-in window.

//!
//! The settings arrive parsed and checked ([`crate::config::hotspot`] holds the rules); this
//! module only writes files.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

pub use crate::config::hotspot::{check, check_passphrase};
use crate::config::HotspotSettings;
use crate::secret;

/// Where dnsmasq keeps the hotspot's DHCP leases (one line per client:
/// `<expiry> <MAC> <address> <host name or *> <client id or *>`).
pub const LEASE_FILE: &str = "/run/skycount-dnsmasq/dnsmasq.leases";

/// What the hotspot's DHCP server knows of a client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Lease {
    pub mac: String,
    /// The name the client gave (`None` when it gave none).
    pub name: Option<String>,
}

/// The lease of `addr` in a dnsmasq lease file's `text`, if it has one. Names are kept to 64
/// printable characters: they come from the client.
pub fn lease_of(text: &str, addr: std::net::IpAddr) -> Option<Lease> {
    text.lines().find_map(|line| {
        let mut f = line.split_whitespace();
        let (_expiry, mac, ip, name) = (f.next()?, f.next()?, f.next()?, f.next()?);
        if ip.parse::<std::net::IpAddr>().ok()? != addr {
            return None;
        }
        let name: String = name.chars().filter(|c| !c.is_control()).take(64).collect();
        Some(Lease {
            mac: mac.chars().take(64).collect(),
            name: (name != "*" && !name.is_empty()).then_some(name),
        })
    })
}

/// How a generated passphrase is made and kept: 12 lower-case letters and digits without
/// look-alikes (no 0/o, 1/l), about 60 bits, easy to type on a phone.
const KEPT: secret::Kind = secret::Kind {
    what: "hotspot passphrase",
    setting: "hotspot.passphrase_file",
    value_setting: "hotspot.passphrase",
    on_change: "every phone must then join with the new one",
    alphabet: b"abcdefghijkmnpqrstuvwxyz23456789",
    len: 12,
    mode: 0o600,
    check: check_passphrase,
};

/// The passphrase in force: `hotspot.passphrase`, or the one kept in `hotspot.passphrase_file`;
/// with `create`, one is generated and kept there when there is none yet.
pub fn resolve_passphrase(h: &HotspotSettings, create: bool) -> Result<String, String> {
    if !h.passphrase.is_empty() {
        return Ok(h.passphrase.clone());
    }
    match secret::read(&KEPT, &h.passphrase_file)? {
        Some(p) => Ok(p),
        None if create => secret::create(&KEPT, &h.passphrase_file),
        None => Err(format!(
            "{}: no hotspot passphrase yet (hotspot.passphrase is empty and none was generated: \
             run `skycountd render-hotspot` as root first, or set hotspot.passphrase)",
            h.passphrase_file.display()
        )),
    }
}

/// Escapes `s` for hostapd's `P"…"` (printf-escaped) strings.
fn printf_escape(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'"' => out.push_str("\\\""),
            b'\\' => out.push_str("\\\\"),
            0x20..=0x7e => out.push(b as char),
            _ => {
                let _ = write!(out, "\\x{b:02x}");
            }
        }
    }
    out
}

fn header(origin: &str, comment: &str) -> String {
    format!(
        "{comment} Rendered by `skycountd render-hotspot` from {origin}; do not edit.\n\
         {comment} Change [hotspot] in skycount.toml and restart skycount-hotspot.service.\n"
    )
}

/// hostapd.conf: an access point with WPA2-PSK (CCMP) only.
pub fn hostapd_conf(h: &HotspotSettings, origin: &str) -> String {
    let mut s = header(origin, "#");
    let five = h.channel > 14;
    let _ = writeln!(s, "interface={}", h.interface);
    let _ = writeln!(s, "driver=nl80211");
    let _ = writeln!(s, "ctrl_interface=/run/hostapd");
    let _ = writeln!(s, "ssid2=P\"{}\"", printf_escape(&h.ssid));
    let _ = writeln!(s, "utf8_ssid=1");
    if !h.country.is_empty() {
        let _ = writeln!(s, "country_code={}", h.country);
        let _ = writeln!(s, "ieee80211d=1");
    }
    let _ = writeln!(s, "hw_mode={}", if five { "a" } else { "g" });
    let _ = writeln!(s, "channel={}", h.channel);
    let _ = writeln!(s, "ieee80211n=1");
    if five {
        let _ = writeln!(s, "ieee80211ac=1");
    }
    let _ = writeln!(s, "wmm_enabled=1");
    let _ = writeln!(s, "auth_algs=1");
    let _ = writeln!(s, "ignore_broadcast_ssid=0");
    let _ = writeln!(s, "wpa=2");
    let _ = writeln!(s, "wpa_key_mgmt=WPA-PSK");
    let _ = writeln!(s, "rsn_pairwise=CCMP");
    let _ = writeln!(s, "wpa_passphrase={}", h.passphrase);
    // Viewers' phones talk to the box, not to each other.
    let _ = writeln!(s, "ap_isolate=1");
    let _ = writeln!(s, "max_num_sta=64");
    s
}

/// dnsmasq.conf: DHCP and DNS on the hotspot only; with `captive_portal`, every name is the box.
pub fn dnsmasq_conf(h: &HotspotSettings, origin: &str) -> String {
    let box_addr = h.box_addr();
    let (first, last) = (h.dhcp_range.first, h.dhcp_range.last);
    let mut s = header(origin, "#");
    let _ = writeln!(s, "interface={}", h.interface);
    // Follows the address as networkd sets it, and never binds the other interfaces' port 53.
    let _ = writeln!(s, "bind-dynamic");
    let _ = writeln!(s, "except-interface=lo");
    let _ = writeln!(s, "no-resolv");
    let _ = writeln!(s, "no-hosts");
    let _ = writeln!(s, "no-poll");
    let _ = writeln!(s, "domain-needed");
    let _ = writeln!(s, "bogus-priv");
    let _ = writeln!(s, "local=/lan/");
    let _ = writeln!(s, "domain=lan");
    let _ = writeln!(s, "address=/skycount.lan/{box_addr}");
    let _ = writeln!(s, "dhcp-authoritative");
    let _ = writeln!(s, "dhcp-range={first},{last},{},12h", h.address.netmask());
    let _ = writeln!(s, "dhcp-option=option:router,{box_addr}");
    let _ = writeln!(s, "dhcp-option=option:dns-server,{box_addr}");
    let _ = writeln!(s, "dhcp-leasefile={LEASE_FILE}");
    if h.captive_portal {
        let _ = writeln!(
            s,
            "# Captive portal: every name is the box, so a joining phone opens the dashboard."
        );
        let _ = writeln!(s, "address=/#/{box_addr}");
    }
    s
}

/// The systemd-networkd .network file that gives the hotspot interface its static address.
pub fn network_file(h: &HotspotSettings, origin: &str) -> String {
    let net = h.address;
    let mut s = header(origin, "#");
    let _ = writeln!(s, "[Match]\nName={}\n", h.interface);
    let _ = writeln!(
        s,
        "[Link]\n# The box is reachable on the hotspot whether or not it is online otherwise.\nRequiredForOnline=no\n"
    );
    let _ = writeln!(
        s,
        "[Network]\nAddress={net}\nConfigureWithoutCarrier=yes\nLinkLocalAddressing=no\nIPv6AcceptRA=no\nDHCP=no"
    );
    s
}

/// The name of the rendered .network file.
pub const NETWORK_FILE: &str = "10-skycount-hotspot.network";
/// The name of the rendered login banner.
pub const ISSUE_FILE: &str = "hotspot.issue";

/// The console's login banner (an agetty issue file): what a team with a screen or a serial
/// cable reads to join the hotspot.
pub fn issue_text(h: &HotspotSettings, dashboard: &str) -> String {
    // agetty reads `\x` as an escape; a doubled backslash prints one.
    let esc = |s: &str| s.replace('\\', "\\\\");
    format!(
        "skycount Wi-Fi hotspot: {}\npassphrase: {}\ndashboard: {} (or http://skycount.lan/)\n\n",
        esc(&h.ssid),
        esc(&h.passphrase),
        dashboard
    )
}

/// Writes hostapd.conf, dnsmasq.conf and hotspot.issue (the login banner) into `out_dir` and the
/// .network file into `network_dir`; returns the files written. An empty `hotspot.passphrase`
/// is generated here the first time and kept in `hotspot.passphrase_file`.
pub fn render_all(
    h: &HotspotSettings,
    origin: &str,
    dashboard_port: u16,
    out_dir: &Path,
    network_dir: Option<&Path>,
) -> Result<Vec<PathBuf>, String> {
    let problems = check(h);
    if !problems.is_empty() {
        return Err(problems
            .iter()
            .map(|(k, p)| format!("{origin}: `hotspot.{k}`: {p}"))
            .collect::<Vec<_>>()
            .join("\n"));
    }
    let h = &HotspotSettings {
        passphrase: resolve_passphrase(h, true)?,
        ..h.clone()
    };
    let dashboard = h.dashboard_url(dashboard_port);
    // The passphrase is in hostapd.conf and in the banner: root only.
    let mut files = vec![
        (out_dir.join("hostapd.conf"), hostapd_conf(h, origin), 0o600),
        (out_dir.join("dnsmasq.conf"), dnsmasq_conf(h, origin), 0o644),
        (out_dir.join(ISSUE_FILE), issue_text(h, &dashboard), 0o600),
    ];
    if let Some(dir) = network_dir {
        files.push((dir.join(NETWORK_FILE), network_file(h, origin), 0o644));
    }
    let mut written = Vec::new();
    for (path, text, mode) in files {
        write_file(&path, &text, mode)?;
        written.push(path);
    }
    Ok(written)
}

/// Writes `text` to `path` atomically, with `mode`: a temporary file in the same directory,
/// written and synced, renamed over `path`, and the directory synced, so that a crash or a full
/// disk leaves the old file or the new one, never a part.
pub fn write_file(path: &Path, text: &str, mode: u32) -> Result<(), String> {
    let dir = path
        .parent()
        .filter(|d| !d.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir)
        .map_err(|e| format!("{}: cannot create the directory: {e}", dir.display()))?;
    secret::write_atomically(path, text.as_bytes(), mode)
        .map_err(|e| format!("{}: cannot write: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leases_are_found_by_address() {
        let text = "1765000000 aa:bb:cc:dd:ee:01 192.168.50.23 DJI-RC-Pro 01:aa:bb:cc:dd:ee:01\n\
                    1765000000 aa:bb:cc:dd:ee:02 192.168.50.24 * *\n";
        assert_eq!(
            lease_of(text, "192.168.50.23".parse().unwrap()),
            Some(Lease {
                mac: "aa:bb:cc:dd:ee:01".into(),
                name: Some("DJI-RC-Pro".into())
            })
        );
        assert_eq!(
            lease_of(text, "192.168.50.24".parse().unwrap())
                .unwrap()
                .name,
            None
        );
        assert_eq!(lease_of(text, "192.168.50.25".parse().unwrap()), None);
        assert_eq!(
            lease_of("garbage\n\n", "192.168.50.25".parse().unwrap()),
            None
        );
    }

    fn good() -> HotspotSettings {
        HotspotSettings {
            enabled: true,
            passphrase: "correct horse".into(),
            ..HotspotSettings::default()
        }
    }

    #[test]
    fn rendered_files_say_what_they_should() {
        let h = HotspotSettings {
            ssid: "Crowd \"Ops\"".into(),
            ..good()
        };
        let ap = hostapd_conf(&h, "t.toml");
        assert!(ap.contains("ssid2=P\"Crowd \\\"Ops\\\"\""), "{ap}");
        assert!(ap.contains("wpa=2\n") && ap.contains("wpa_key_mgmt=WPA-PSK\n"));
        assert!(ap.contains("wpa_passphrase=correct horse\n"));
        assert!(ap.contains("hw_mode=g\nchannel=6\n"));
        let dns = dnsmasq_conf(&h, "t.toml");
        assert!(dns.contains("dhcp-range=192.168.50.10,192.168.50.250,255.255.255.0,12h"));
        assert!(dns.contains("address=/#/192.168.50.1"));
        let no_portal = dnsmasq_conf(
            &HotspotSettings {
                captive_portal: false,
                ..good()
            },
            "t",
        );
        assert!(!no_portal.contains("address=/#/"));
        let net = network_file(&h, "t.toml");
        assert!(net.contains("Name=wlan0") && net.contains("Address=192.168.50.1/24"));
    }

    #[test]
    fn an_empty_passphrase_is_generated_once_and_kept() {
        let dir = tempfile::tempdir().unwrap();
        let h = HotspotSettings {
            passphrase: String::new(),
            passphrase_file: dir.path().join("passphrase"),
            ..good()
        };
        assert!(check(&h).is_empty(), "{:?}", check(&h));
        let err = resolve_passphrase(&h, false).unwrap_err();
        assert!(err.contains("no hotspot passphrase yet"), "{err}");

        let out = dir.path().join("run");
        let files = render_all(&h, "t.toml", 80, &out, None).unwrap();
        assert_eq!(files.len(), 3, "{files:?}");
        let kept = std::fs::read_to_string(&h.passphrase_file).unwrap();
        let kept = kept.trim_end();
        assert_eq!(kept.len(), 12);
        check_passphrase(kept).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&h.passphrase_file)
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "root only: {mode:o}");
        let ap = std::fs::read_to_string(out.join("hostapd.conf")).unwrap();
        assert!(ap.contains(&format!("\nwpa_passphrase={kept}\n")), "{ap}");
        let banner = std::fs::read_to_string(out.join(ISSUE_FILE)).unwrap();
        assert!(
            banner.contains("hotspot: skycount\n")
                && banner.contains(&format!("passphrase: {kept}\n"))
                && banner.contains("http://192.168.50.1/"),
            "{banner}"
        );

        // The next boot renders the same passphrase; one in the TOML wins over the kept one.
        render_all(&h, "t.toml", 80, &out, None).unwrap();
        let again = std::fs::read_to_string(out.join("hostapd.conf")).unwrap();
        assert_eq!(ap, again);
        let set = HotspotSettings {
            passphrase: "from the toml".into(),
            ..h.clone()
        };
        render_all(&set, "t.toml", 8080, &out, None).unwrap();
        let ap = std::fs::read_to_string(out.join("hostapd.conf")).unwrap();
        assert!(ap.contains("\nwpa_passphrase=from the toml\n"), "{ap}");
        let banner = std::fs::read_to_string(out.join(ISSUE_FILE)).unwrap();
        assert!(banner.contains("http://192.168.50.1:8080/"), "{banner}");
        assert_eq!(
            std::fs::read_to_string(&h.passphrase_file)
                .unwrap()
                .trim_end(),
            kept,
            "the kept one is not overwritten"
        );
    }

    #[test]
    fn a_broken_kept_passphrase_is_explained_not_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("passphrase");
        std::fs::write(&file, "short\n").unwrap();
        let h = HotspotSettings {
            passphrase: String::new(),
            passphrase_file: file.clone(),
            ..good()
        };
        let err = render_all(&h, "t.toml", 80, &dir.path().join("run"), None).unwrap_err();
        assert!(
            err.contains("passphrase") && err.contains("delete the file"),
            "{err}"
        );
        assert_eq!(std::fs::read_to_string(&file).unwrap(), "short\n");
        let missing = HotspotSettings {
            passphrase_file: dir.path().join("no/such/dir/passphrase"),
            ..h
        };
        let err = resolve_passphrase(&missing, true).unwrap_err();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn the_banner_keeps_backslashes_literal_for_agetty() {
        let h = HotspotSettings {
            ssid: "a\\b".into(),
            passphrase: "pass\\word1".into(),
            ..good()
        };
        let banner = issue_text(&h, "http://192.168.50.1/");
        assert!(banner.contains("hotspot: a\\\\b\n"), "{banner}");
        assert!(banner.contains("passphrase: pass\\\\word1\n"), "{banner}");
    }
}
