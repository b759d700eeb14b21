//! `[hotspot]`'s own types and checks: the DHCP range, the Wi-Fi name, the WPA2 passphrase, the
//! channel and how they fit together. `crate::hotspot` renders the files from them.

use std::fmt;
use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::str::FromStr;

use ipnet::Ipv4Net;
use serde::{Deserialize, Serialize};

/// `[hotspot]`: the Wi-Fi network the pilot's phone and the viewers join.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct HotspotSettings {
    pub enabled: bool,
    /// The Wi-Fi interface hostapd runs the access point on.
    pub interface: String,
    pub ssid: String,
    /// WPA2 passphrase, 8 to 63 printable ASCII characters; empty: generated on the first
    /// `render-hotspot` and kept in `passphrase_file`.
    pub passphrase: String,
    /// Where a generated passphrase is kept (the hotspot unit's StateDirectory).
    pub passphrase_file: PathBuf,
    /// ISO 3166 country code for the radio's regulatory domain; empty: the world domain
    /// (2.4 GHz channels 1 to 11 only).
    pub country: String,
    /// 1 to 13 (2.4 GHz), or 36 to 48 and 149 to 165 (5 GHz, needs `country`).
    pub channel: u8,
    /// The box's address and prefix on the hotspot ([`HotspotSettings::box_addr`]: the address
    /// alone).
    pub address: Ipv4Net,
    /// Addresses handed out by DHCP: "FIRST-LAST".
    pub dhcp_range: DhcpRange,
    /// Answer every DNS name with the box's address, so that a phone that joins opens the
    /// dashboard.
    pub captive_portal: bool,
}

impl Default for HotspotSettings {
    fn default() -> Self {
        Self {
            enabled: false,
            interface: "wlan0".into(),
            ssid: "skycount".into(),
            passphrase: String::new(),
            passphrase_file: "/var/lib/skycount-hotspot/passphrase".into(),
            country: String::new(),
            channel: 6,
            address: Ipv4Net::new(std::net::Ipv4Addr::new(192, 168, 50, 1), 24)
                .expect("24 is a prefix length"),
            dhcp_range: DhcpRange {
                first: std::net::Ipv4Addr::new(192, 168, 50, 10),
                last: std::net::Ipv4Addr::new(192, 168, 50, 250),
            },
            captive_portal: true,
        }
    }
}

/// `hotspot.dhcp_range`: the addresses DHCP hands out, `FIRST-LAST`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DhcpRange {
    pub first: Ipv4Addr,
    pub last: Ipv4Addr,
}

impl FromStr for DhcpRange {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (a, b) = s.split_once('-').ok_or_else(|| {
            format!("{s:?}: expected \"FIRST-LAST\" such as \"192.168.50.10-192.168.50.250\"")
        })?;
        let parse = |x: &str| {
            x.trim()
                .parse::<Ipv4Addr>()
                .map_err(|_| format!("{x:?} is not an IPv4 address (expected \"FIRST-LAST\")"))
        };
        Ok(Self {
            first: parse(a)?,
            last: parse(b)?,
        })
    }
}

impl fmt::Display for DhcpRange {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.first, self.last)
    }
}

impl Serialize for DhcpRange {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for DhcpRange {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

const CHANNELS_24: std::ops::RangeInclusive<u8> = 1..=13;
const CHANNELS_5: &[u8] = &[36, 40, 44, 48, 149, 153, 157, 161, 165];
/// Prefix lengths a hotspot network may have: room for the box and its clients, not the world.
const PREFIXES: std::ops::RangeInclusive<u8> = 8..=30;

impl HotspotSettings {
    /// The box's own address on the hotspot (`hotspot.address` without its prefix).
    pub fn box_addr(&self) -> Ipv4Addr {
        self.address.addr()
    }

    /// The dashboard's address on the hotspot: `http://192.168.50.1/`, with the port when
    /// skycountd does not listen on 80.
    pub fn dashboard_url(&self, port: u16) -> String {
        match port {
            80 => format!("http://{}/", self.box_addr()),
            p => format!("http://{}:{p}/", self.box_addr()),
        }
    }
}

/// Every problem of `[hotspot]`, as (key, problem); checked when the hotspot is enabled.
pub fn check(h: &HotspotSettings) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if let Err(e) = check_interface(&h.interface) {
        out.push(("interface", e));
    }
    if let Err(e) = check_ssid(&h.ssid) {
        out.push(("ssid", e));
    }
    // Empty: generated on the first render and kept in `passphrase_file`.
    if !h.passphrase.is_empty() {
        if let Err(e) = check_passphrase(&h.passphrase) {
            out.push(("passphrase", e));
        }
    } else if h.passphrase_file.as_os_str().is_empty() {
        out.push((
            "passphrase_file",
            "is empty while hotspot.passphrase is empty too: set one of them".into(),
        ));
    }
    let country_ok = h.country.is_empty()
        || (h.country.len() == 2 && h.country.chars().all(|c| c.is_ascii_uppercase()));
    if !country_ok {
        out.push((
            "country",
            format!(
                "{:?}: expected a two-letter country code in capitals, such as \"DE\" or \"US\" (or empty)",
                h.country
            ),
        ));
    }
    if let Err(e) = check_channel(h.channel, &h.country) {
        out.push(("channel", e));
    }
    out.extend(check_network(&h.address, &h.dhcp_range));
    out
}

/// A network interface name as the kernel takes it.
fn check_interface(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 15
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if ok {
        Ok(())
    } else {
        Err(format!(
            "{name:?} is not a network interface name (such as \"wlan0\": up to 15 letters, digits, _ - .)"
        ))
    }
}

/// A Wi-Fi name: 1 to 32 bytes, no control characters.
pub fn check_ssid(ssid: &str) -> Result<(), String> {
    if ssid.is_empty() || ssid.len() > 32 {
        return Err(format!(
            "{ssid:?} is {} bytes long: a Wi-Fi name is 1 to 32 bytes",
            ssid.len()
        ));
    }
    if ssid.chars().any(char::is_control) {
        return Err(format!(
            "{ssid:?} contains control characters: use printable text"
        ));
    }
    Ok(())
}

/// WPA2's rule for a passphrase: 8 to 63 printable ASCII characters.
pub fn check_passphrase(p: &str) -> Result<(), String> {
    if !(8..=63).contains(&p.len()) {
        return Err(format!(
            "is {} characters long: a WPA2 passphrase is 8 to 63 characters",
            p.chars().count()
        ));
    }
    if !p.chars().all(|c| (' '..='~').contains(&c)) {
        return Err(
            "contains characters other than printable ASCII (letters, digits, punctuation, space)"
                .into(),
        );
    }
    Ok(())
}

fn check_channel(channel: u8, country: &str) -> Result<(), String> {
    if CHANNELS_24.contains(&channel) {
        if country.is_empty() && channel > 11 {
            return Err(format!(
                "{channel} needs hotspot.country (channels 12 and 13 are not allowed everywhere)"
            ));
        }
    } else if CHANNELS_5.contains(&channel) {
        if country.is_empty() {
            return Err(format!(
                "{channel} is a 5 GHz channel: set hotspot.country for it"
            ));
        }
    } else {
        return Err(format!(
            "{channel} is not a channel the hotspot can use: 1 to 13 (2.4 GHz), or 36, 40, 44, 48, \
             149, 153, 157, 161, 165 (5 GHz; channels 52 to 144 need radar detection)"
        ));
    }
    Ok(())
}

/// The box's address and the DHCP range in its network.
fn check_network(net: &Ipv4Net, range: &DhcpRange) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    if !PREFIXES.contains(&net.prefix_len()) {
        out.push((
            "address",
            format!("{net}: prefix /{} is not 8 to 30", net.prefix_len()),
        ));
        return out;
    }
    let (addr, network, broadcast) = (net.addr(), net.network(), net.broadcast());
    if addr == network || addr == broadcast {
        out.push((
            "address",
            format!(
                "{addr} is the network's own or broadcast address: pick a host address such as .1"
            ),
        ));
    }
    let DhcpRange { first, last } = *range;
    if !net.contains(&first) || !net.contains(&last) {
        out.push((
            "dhcp_range",
            format!(
                "{range} is not inside hotspot.address's network {}",
                net.trunc()
            ),
        ));
    } else if first > last {
        out.push((
            "dhcp_range",
            format!("{range}: the first address is after the last"),
        ));
    } else if (first..=last).contains(&addr) {
        out.push((
            "dhcp_range",
            format!("{range} includes the box's own address {addr}"),
        ));
    } else if first == network || last == broadcast {
        out.push((
            "dhcp_range",
            format!("{range} includes the network or broadcast address"),
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn good() -> HotspotSettings {
        HotspotSettings {
            enabled: true,
            passphrase: "correct horse".into(),
            ..HotspotSettings::default()
        }
    }

    fn keys(h: &HotspotSettings) -> Vec<&'static str> {
        check(h).into_iter().map(|(k, _)| k).collect()
    }

    #[test]
    fn the_defaults_with_a_passphrase_are_valid() {
        assert!(check(&good()).is_empty(), "{:?}", check(&good()));
        assert_eq!(good().box_addr(), Ipv4Addr::new(192, 168, 50, 1));
        assert_eq!(good().dashboard_url(80), "http://192.168.50.1/");
        assert_eq!(good().dashboard_url(8080), "http://192.168.50.1:8080/");
    }

    #[test]
    fn bad_values_are_named() {
        let net = |s: &str| s.parse::<Ipv4Net>().unwrap();
        let range = |s: &str| s.parse::<DhcpRange>().unwrap();
        let cases: Vec<(HotspotSettings, &str)> = vec![
            (
                HotspotSettings {
                    ssid: String::new(),
                    ..good()
                },
                "ssid",
            ),
            (
                HotspotSettings {
                    ssid: "x".repeat(33),
                    ..good()
                },
                "ssid",
            ),
            (
                HotspotSettings {
                    ssid: "a\nb".into(),
                    ..good()
                },
                "ssid",
            ),
            (
                HotspotSettings {
                    passphrase: "short".into(),
                    ..good()
                },
                "passphrase",
            ),
            (
                HotspotSettings {
                    passphrase: "x".repeat(64),
                    ..good()
                },
                "passphrase",
            ),
            (
                HotspotSettings {
                    passphrase: "pässphrase".into(),
                    ..good()
                },
                "passphrase",
            ),
            (
                HotspotSettings {
                    passphrase: String::new(),
                    passphrase_file: "".into(),
                    ..good()
                },
                "passphrase_file",
            ),
            (
                HotspotSettings {
                    country: "usa".into(),
                    ..good()
                },
                "country",
            ),
            (
                HotspotSettings {
                    channel: 14,
                    ..good()
                },
                "channel",
            ),
            (
                HotspotSettings {
                    channel: 12,
                    ..good()
                },
                "channel",
            ),
            (
                HotspotSettings {
                    channel: 36,
                    ..good()
                },
                "channel",
            ),
            (
                HotspotSettings {
                    channel: 52,
                    country: "DE".into(),
                    ..good()
                },
                "channel",
            ),
            (
                HotspotSettings {
                    address: net("192.168.50.1/31"),
                    ..good()
                },
                "address",
            ),
            (
                HotspotSettings {
                    address: net("192.168.50.0/24"),
                    ..good()
                },
                "address",
            ),
            (
                HotspotSettings {
                    dhcp_range: range("10.0.0.2-10.0.0.9"),
                    ..good()
                },
                "dhcp_range",
            ),
            (
                HotspotSettings {
                    dhcp_range: range("192.168.50.1-192.168.50.9"),
                    ..good()
                },
                "dhcp_range",
            ),
            (
                HotspotSettings {
                    dhcp_range: range("192.168.50.9-192.168.50.2"),
                    ..good()
                },
                "dhcp_range",
            ),
            (
                HotspotSettings {
                    dhcp_range: range("192.168.50.0-192.168.50.9"),
                    ..good()
                },
                "dhcp_range",
            ),
            (
                HotspotSettings {
                    interface: "wlan0; rm".into(),
                    ..good()
                },
                "interface",
            ),
        ];
        for (h, key) in cases {
            assert_eq!(keys(&h), vec![key], "{h:?}");
        }
        assert!(check(&HotspotSettings {
            channel: 36,
            country: "DE".into(),
            ..good()
        })
        .is_empty());
    }

    #[test]
    fn dhcp_ranges_parse_and_print_alike() {
        let r: DhcpRange = "192.168.50.10 - 192.168.50.250".parse().unwrap();
        assert_eq!(r.to_string(), "192.168.50.10-192.168.50.250");
        assert!("192.168.50.10"
            .parse::<DhcpRange>()
            .unwrap_err()
            .contains("FIRST-LAST"));
        assert!("a-b"
            .parse::<DhcpRange>()
            .unwrap_err()
            .contains("not an IPv4 address"));
    }
}
