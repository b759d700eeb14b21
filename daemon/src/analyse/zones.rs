//! Zones: areas the operator counts on their own (the stage front, an exit).
//!
//! A zone is a named polygon in frame fractions, drawn like a mask ([`super::polygon`] checks and
//! samples both), with an optional limit that raises an alert ([`super::alerts`]). Its count is
//! the density it covers:
//!
//! ```text
//!   zone count = factor × Σ over cells of (cell value after the masks × share of the cell in the zone)
//! ```
//!
//! so a zone over a mask counts only the unmasked part, zones may overlap (a person in both counts
//! in both), a zone over the whole frame counts what `count` counts, and `share` is the zone's part
//! of that whole. The shares per cell depend only on the zones and the map's size, so they are
//! computed once per size ([`Zoner`]), kept for the cells a zone touches only, and each analysis
//! is one multiply-add per such cell.

use super::polygon;
use crate::infer::DensityMap;
use crate::wire::{Zone, ZoneCount};

/// The most zones one stream path keeps (docs/api.md): it also bounds /metrics' `zone` label.
pub const MAX_ZONES: usize = 16;
/// The highest limit a zone may have.
pub const MAX_LIMIT: u32 = 1_000_000;

/// Checks a list of zones the way the API promises; says which one is wrong and how.
pub fn validate(zones: &[Zone]) -> Result<(), String> {
    polygon::validate(zones, "zone", MAX_ZONES)?;
    for (i, z) in zones.iter().enumerate() {
        if let Some(limit) = z.limit {
            if !(1..=MAX_LIMIT).contains(&limit) {
                return Err(format!(
                    "zone {} ({:?}): a limit of {limit} people; use 1 to {MAX_LIMIT}, or none",
                    i + 1,
                    z.name
                ));
            }
        }
    }
    Ok(())
}

/// Per zone, the cells it touches and the share of each inside it, for maps of one size
/// (width, height).
type Shares = ((usize, usize), Vec<Vec<(usize, f32)>>);

/// Counts the zones of one stream path on density maps of any size.
#[derive(Debug, Default)]
pub struct Zoner {
    zones: Vec<Zone>,
    /// For the last map size.
    shares: Option<Shares>,
}

impl Zoner {
    pub fn new(zones: Vec<Zone>) -> Self {
        Self {
            zones,
            shares: None,
        }
    }

    /// The zones' counts on `map` (masks already applied), times the calibration's `factor`;
    /// `total` is the whole count (with the factor), for the shares.
    pub fn count(&mut self, map: &DensityMap, factor: f64, total: f64) -> Vec<ZoneCount> {
        if self.zones.is_empty() {
            return Vec::new();
        }
        let dims = (map.width, map.height);
        if self.shares.as_ref().map(|(d, _)| *d) != Some(dims) {
            let shares = self
                .zones
                .iter()
                .map(|z| {
                    polygon::coverage(&[z.points.as_slice()], dims.0, dims.1)
                        .into_iter()
                        .enumerate()
                        .filter(|(_, s)| *s > 0.0)
                        .collect()
                })
                .collect();
            self.shares = Some((dims, shares));
        }
        let Some((_, shares)) = &self.shares else {
            return Vec::new();
        };
        self.zones
            .iter()
            .zip(shares)
            .map(|(z, share)| {
                let raw: f64 = share
                    .iter()
                    .map(|&(i, s)| {
                        f64::from(map.values.get(i).copied().unwrap_or(0.0)) * f64::from(s)
                    })
                    .sum();
                let count = raw * factor;
                ZoneCount {
                    name: z.name.clone(),
                    count,
                    share: if total > 0.0 {
                        (count / total).clamp(0.0, 1.0)
                    } else {
                        0.0
                    },
                    limit: z.limit,
                    alerting: false,
                }
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::analyse::mask;
    use crate::wire::Mask;

    fn zone(name: &str, points: &[[f64; 2]], limit: Option<u32>) -> Zone {
        Zone {
            name: name.into(),
            points: points.to_vec(),
            limit,
        }
    }

    fn ones(w: usize, h: usize) -> DensityMap {
        DensityMap {
            width: w,
            height: h,
            values: vec![1.0; w * h],
        }
    }

    const WHOLE: [[f64; 2]; 4] = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
    const LEFT: [[f64; 2]; 4] = [[0.0, 0.0], [0.5, 0.0], [0.5, 1.0], [0.0, 1.0]];

    #[test]
    fn a_zone_over_the_whole_frame_counts_the_count_and_halves_add_up() {
        let map = ones(80, 45);
        let total = map.count() * 2.0;
        let right = [[0.5, 0.0], [1.0, 0.0], [1.0, 1.0], [0.5, 1.0]];
        let mut z = Zoner::new(vec![
            zone("all", &WHOLE, None),
            zone("left", &LEFT, Some(10)),
            zone("right", &right, None),
        ]);
        let c = z.count(&map, 2.0, total);
        assert!((c[0].count - total).abs() < 1e-6, "{c:?}");
        assert!((c[0].share - 1.0).abs() < 1e-9);
        assert!((c[1].count + c[2].count - total).abs() < 1e-6);
        assert!((c[1].share - 0.5).abs() < 1e-9);
        assert_eq!(c[1].limit, Some(10));
        assert!(!c[1].alerting);
        // Another size: the shares are made again.
        let small = ones(8, 4);
        let c = z.count(&small, 1.0, 32.0);
        assert!((c[0].count - 32.0).abs() < 1e-6);
    }

    #[test]
    fn a_concave_zone_counts_its_inside_only() {
        let l = [
            [0.0, 0.0],
            [0.5, 0.0],
            [0.5, 0.5],
            [1.0, 0.5],
            [1.0, 1.0],
            [0.0, 1.0],
        ];
        let mut z = Zoner::new(vec![zone("L", &l, None)]);
        let c = z.count(&ones(8, 8), 1.0, 64.0);
        assert!((c[0].count - 48.0).abs() < 1e-6, "{c:?}");
        assert!((c[0].share - 0.75).abs() < 1e-9);
    }

    #[test]
    fn a_zone_over_a_mask_counts_the_unmasked_part_and_overlapping_zones_both_count() {
        let mut map = ones(10, 10);
        let masks = [Mask {
            name: "left".into(),
            points: LEFT.to_vec(),
        }];
        mask::apply(&mut map, &mask::weights(&masks, 10, 10));
        let total = map.count();
        assert!((total - 50.0).abs() < 1e-6);
        let middle = [[0.3, 0.0], [0.7, 0.0], [0.7, 1.0], [0.3, 1.0]];
        let wide = [[0.1, 0.0], [0.9, 0.0], [0.9, 1.0], [0.1, 1.0]];
        let mut z = Zoner::new(vec![
            zone("middle", &middle, None),
            zone("wide", &wide, None),
        ]);
        let c = z.count(&map, 1.0, total);
        assert!(
            (c[0].count - 20.0).abs() < 1e-6,
            "only 0.5..0.7 is counted: {c:?}"
        );
        assert!((c[1].count - 40.0).abs() < 1e-6, "{c:?}");
        assert!((c[0].share - 0.4).abs() < 1e-9);
    }

    #[test]
    fn a_zone_on_the_frame_edge_and_nothing_to_count() {
        // A thin strip along the bottom edge, its points on the edge itself.
        let bottom = [[0.0, 0.9], [1.0, 0.9], [1.0, 1.0], [0.0, 1.0]];
        let mut z = Zoner::new(vec![zone("bottom", &bottom, None)]);
        let c = z.count(&ones(10, 10), 1.0, 100.0);
        assert!((c[0].count - 10.0).abs() < 1e-6, "{c:?}");
        let empty = DensityMap {
            width: 10,
            height: 10,
            values: vec![0.0; 100],
        };
        let c = z.count(&empty, 1.0, 0.0);
        assert_eq!((c[0].count, c[0].share), (0.0, 0.0));
        assert!(Zoner::new(vec![]).count(&empty, 1.0, 0.0).is_empty());
    }

    #[test]
    fn bad_zones_are_refused_with_a_reason() {
        let ok = zone("stage", &LEFT, Some(5));
        assert!(validate(std::slice::from_ref(&ok)).is_ok());
        let bow_tie = zone("x", &[[0.1, 0.1], [0.6, 0.5], [0.6, 0.1], [0.1, 0.3]], None);
        for (zones, want) in [
            (vec![bow_tie], "cross"),
            (
                vec![ok.clone(), zone("stage ", &WHOLE, None)],
                "another zone",
            ),
            (
                vec![zone("a", &[[0.0, 0.0], [1.2, 0.0], [0.0, 1.0]], None)],
                "outside",
            ),
            (vec![zone("a", &LEFT, Some(0))], "limit of 0"),
            (vec![zone("", &LEFT, None)], "name"),
        ] {
            let err = validate(&zones).unwrap_err();
            assert!(err.contains(want), "{err} (wanted {want})");
        }
        let many: Vec<Zone> = (0..17).map(|i| zone(&i.to_string(), &LEFT, None)).collect();
        assert!(validate(&many).unwrap_err().contains("at most 16"));
    }

    #[test]
    fn names_with_invisible_or_direction_changing_characters_are_refused() {
        // A right-to-left override flips the name on the dashboard and in the CSV; a zero-width
        // space makes "stage" and "stage\u{200b}" two zones that look the same; line and
        // paragraph separators break lines where none should be.
        for (name, code) in [
            ("exit\u{202e}tix", "U+202E"),
            ("stage\u{200b}", "U+200B"),
            ("a\u{2028}b", "U+2028"),
            ("a\u{2029}b", "U+2029"),
            ("\u{feff}gate", "U+FEFF"),
            ("bar\u{2066}", "U+2066"),
        ] {
            let err = validate(&[zone(name, &LEFT, None)]).unwrap_err();
            assert!(
                err.contains(code) && err.contains("zone 1"),
                "{name:?}: {err}"
            );
        }
        let look_alikes = [
            zone("stage", &LEFT, None),
            zone("stage\u{200b}", &WHOLE, None),
        ];
        assert!(validate(&look_alikes).is_err());
        // Letters of every script, accents, emoji and inner spaces are names.
        for name in ["Bühne vorne", "出口 2", "מבוא", "stage 🎤", "café"] {
            assert!(validate(&[zone(name, &LEFT, None)]).is_ok(), "{name:?}");
        }
    }
}
