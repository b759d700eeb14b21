//! `mediamtx.always_available_tracks`: the drone's tracks as MediaMTX's `alwaysAvailableTracks`
//! takes them, `CODEC` or `CODEC:RATE:CHANNELS[:mulaw]`. Parsed once, when the configuration is
//! read; `crate::mediamtx::render` writes them into mediamtx.yml.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A codec MediaMTX can keep a path available with, by its name there.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, strum::Display, strum::EnumString, strum::IntoStaticStr,
)]
#[strum(ascii_case_insensitive)]
pub enum Codec {
    H264,
    H265,
    AV1,
    VP9,
    Opus,
    MPEG4Audio,
    G711,
    LPCM,
}

impl Codec {
    /// Whether MediaMTX needs a sample rate and a channel count with it.
    pub fn is_sampled_audio(self) -> bool {
        matches!(self, Self::MPEG4Audio | Self::G711 | Self::LPCM)
    }
}

/// A track of `mediamtx.always_available_tracks`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Track {
    pub codec: Codec,
    /// With `sample_rate` and `channels` exactly for [`Codec::is_sampled_audio`].
    pub sample_rate: Option<u32>,
    pub channels: Option<u32>,
    /// G711 only: µ-law (else A-law).
    pub mu_law: bool,
}

const EXPECTED: &str = "expected H264, H265, AV1, VP9, Opus, or MPEG4Audio/G711/LPCM with \
                        :RATE:CHANNELS, e.g. \"MPEG4Audio:44100:2\" (G711 may end with :mulaw)";

impl Track {
    pub fn parse(spec: &str) -> Result<Self, String> {
        let mut parts = spec.split(':');
        let name = parts.next().unwrap_or_default().trim();
        let rest: Vec<&str> = parts.map(str::trim).collect();
        let codec: Codec = name
            .parse()
            .map_err(|_| format!("{spec:?}: unknown codec; {EXPECTED}"))?;
        if !codec.is_sampled_audio() {
            if !rest.is_empty() {
                return Err(format!(
                    "{spec:?}: {codec} takes no rate or channels; {EXPECTED}"
                ));
            }
            return Ok(Self {
                codec,
                sample_rate: None,
                channels: None,
                mu_law: false,
            });
        }
        let (rate, channels, law) = match rest.as_slice() {
            [r, c] => (r, c, None),
            [r, c, l] if codec == Codec::G711 => (r, c, Some(*l)),
            _ => {
                return Err(format!(
                    "{spec:?}: {codec} needs :RATE:CHANNELS; {EXPECTED}"
                ))
            }
        };
        let min_rate = if codec == Codec::MPEG4Audio {
            22050
        } else {
            8000
        };
        let rate: u32 = rate
            .parse()
            .ok()
            .filter(|r| (min_rate..=192_000).contains(r))
            .ok_or_else(|| {
                format!("{spec:?}: sample rate {rate:?} is not {min_rate} to 192000 Hz")
            })?;
        let channels: u32 = channels
            .parse()
            .ok()
            .filter(|c| (1..=8).contains(c))
            .ok_or_else(|| format!("{spec:?}: channels {channels:?} is not 1 to 8"))?;
        let mu_law = match law {
            None | Some("alaw") => false,
            Some("mulaw") => true,
            Some(other) => return Err(format!("{spec:?}: {other:?} is not \"mulaw\" or \"alaw\"")),
        };
        Ok(Self {
            codec,
            sample_rate: Some(rate),
            channels: Some(channels),
            mu_law,
        })
    }
}

impl FromStr for Track {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        Self::parse(s)
    }
}

/// The `CODEC[:RATE:CHANNELS[:mulaw]]` form, which parses again to the same track.
impl fmt::Display for Track {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.codec)?;
        if let (Some(r), Some(c)) = (self.sample_rate, self.channels) {
            write!(f, ":{r}:{c}")?;
        }
        if self.mu_law {
            f.write_str(":mulaw")?;
        }
        Ok(())
    }
}

impl Serialize for Track {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Track {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        String::deserialize(d)?
            .parse()
            .map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tracks_parse_like_mediamtx_checks_them() {
        assert_eq!(Track::parse("h264").unwrap().codec, Codec::H264);
        let aac = Track::parse("MPEG4Audio:44100:2").unwrap();
        assert_eq!((aac.sample_rate, aac.channels), (Some(44100), Some(2)));
        assert!(Track::parse("G711:8000:1:mulaw").unwrap().mu_law);
        assert!(!Track::parse("g711:8000:1:alaw").unwrap().mu_law);
        assert!(Track::parse("MPEG4Audio").is_err());
        assert!(
            Track::parse("MPEG4Audio:8000:2").is_err(),
            "AAC needs 22050 Hz or more"
        );
        assert!(Track::parse("H264:90000").is_err());
        assert!(Track::parse("MJPEG").is_err());
        assert!(Track::parse("G711:8000:1:ulaw").is_err());
    }

    #[test]
    fn tracks_print_as_they_parse() {
        for (input, shown) in [
            ("h264", "H264"),
            ("av1", "AV1"),
            ("mpeg4audio:44100:2", "MPEG4Audio:44100:2"),
            ("G711:8000:1:mulaw", "G711:8000:1:mulaw"),
            ("G711:8000:1:alaw", "G711:8000:1"),
            ("LPCM:48000:2", "LPCM:48000:2"),
        ] {
            let t = Track::parse(input).unwrap();
            assert_eq!(t.to_string(), shown);
            assert_eq!(Track::parse(shown).unwrap(), t);
        }
    }
}
