//! Polygons on the frame: the geometry masks and zones share.
//!
//! The operator draws masks (areas not counted) and zones (areas counted on their own) the same
//! way: a named polygon whose vertices are fractions of the frame (0..1 on both axes), so it holds
//! whatever size the stream or the analysis has. This module answers the three questions both ask:
//!
//! - is this list of polygons usable ([`validate`]): a printable name (`config::printable`), 3 to
//!   [`MAX_POINTS`] points, all in the frame, an area, no edge crossing another (a bow-tie has no
//!   clear inside), no name used twice;
//! - how much of each density cell lies inside ([`coverage`]): 4×4 samples per cell, so an edge
//!   through a cell takes part of it, not all or nothing (even-odd rule, so concave shapes work).

/// The most vertices one polygon may have (docs/api.md).
pub const MAX_POINTS: usize = 64;
/// The longest name, in characters.
pub const MAX_NAME: usize = 64;
/// Samples per cell side in [`coverage`].
const SAMPLES: usize = 4;

/// A named polygon in frame fractions: a mask or a zone.
pub trait Shape {
    fn name(&self) -> &str;
    fn points(&self) -> &[[f64; 2]];
}

impl Shape for crate::wire::Mask {
    fn name(&self) -> &str {
        &self.name
    }
    fn points(&self) -> &[[f64; 2]] {
        &self.points
    }
}

impl Shape for crate::wire::Zone {
    fn name(&self) -> &str {
        &self.name
    }
    fn points(&self) -> &[[f64; 2]] {
        &self.points
    }
}

/// Checks a list of shapes (`what`: "mask" or "zone", at most `max` of them); says which one is
/// wrong and how.
pub fn validate<S: Shape>(shapes: &[S], what: &str, max: usize) -> Result<(), String> {
    if shapes.len() > max {
        return Err(format!("{} {what}s: at most {max} are kept", shapes.len()));
    }
    for (i, s) in shapes.iter().enumerate() {
        let which = format!("{what} {} ({:?})", i + 1, s.name());
        let name = s.name().trim();
        if name.is_empty() || name.chars().count() > MAX_NAME {
            return Err(format!(
                "{which}: give it a name of 1 to {MAX_NAME} printable characters"
            ));
        }
        crate::config::printable::check(name).map_err(|e| format!("{which}: its name {e}"))?;
        if shapes[..i].iter().any(|o| o.name().trim() == name) {
            return Err(format!("{which}: another {what} has this name"));
        }
        check_points(s.points()).map_err(|e| format!("{which}: {e}"))?;
    }
    Ok(())
}

/// Whether the points make a usable polygon: 3 to [`MAX_POINTS`], in the frame, with an area, and
/// no edge crossing or touching another except its neighbours at their shared vertex.
pub fn check_points(points: &[[f64; 2]]) -> Result<(), String> {
    if !(3..=MAX_POINTS).contains(&points.len()) {
        return Err(format!(
            "{} points; a polygon has 3 to {MAX_POINTS}",
            points.len()
        ));
    }
    if let Some(p) = points
        .iter()
        .find(|p| !p.iter().all(|v| v.is_finite() && (0.0..=1.0).contains(v)))
    {
        return Err(format!(
            "the point {p:?} is outside the frame (use fractions 0 to 1)"
        ));
    }
    if area(points).abs() < 1e-6 {
        return Err("it covers no area (its points are on one line, or too close)".into());
    }
    let n = points.len();
    let edge = |i: usize| (points[i], points[(i + 1) % n]);
    for i in 0..n {
        for j in i + 1..n {
            let neighbours = j == i + 1 || (i == 0 && j == n - 1);
            let (a, b) = edge(i);
            let (c, d) = edge(j);
            let crossing = if neighbours {
                // Neighbours share a vertex; they only go wrong by folding back onto each other.
                overlap_collinear(a, b, c, d)
            } else {
                segments_meet(a, b, c, d)
            };
            if crossing {
                return Err(format!(
                    "its edges {} and {} cross (points {} to {} and {} to {}): draw the outline \
                     without crossing itself",
                    i + 1,
                    j + 1,
                    i + 1,
                    (i + 1) % n + 1,
                    j + 1,
                    (j + 1) % n + 1
                ));
            }
        }
    }
    Ok(())
}

/// The polygon's signed area (shoelace), in frame fractions squared.
pub fn area(points: &[[f64; 2]]) -> f64 {
    let n = points.len();
    (0..n)
        .map(|i| {
            let (a, b) = (points[i], points[(i + 1) % n]);
            a[0] * b[1] - b[0] * a[1]
        })
        .sum::<f64>()
        / 2.0
}

/// Twice the signed area of the triangle a, b, c: > 0 when c is left of a→b.
fn orient(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> f64 {
    (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
}

/// Whether c, known to be on the line through a and b, lies within the segment's box.
fn on_segment(a: [f64; 2], b: [f64; 2], c: [f64; 2]) -> bool {
    c[0] >= a[0].min(b[0])
        && c[0] <= a[0].max(b[0])
        && c[1] >= a[1].min(b[1])
        && c[1] <= a[1].max(b[1])
}

/// Whether the segments a–b and c–d have any point in common.
fn segments_meet(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> bool {
    let (d1, d2) = (orient(c, d, a), orient(c, d, b));
    let (d3, d4) = (orient(a, b, c), orient(a, b, d));
    if ((d1 > 0.0 && d2 < 0.0) || (d1 < 0.0 && d2 > 0.0))
        && ((d3 > 0.0 && d4 < 0.0) || (d3 < 0.0 && d4 > 0.0))
    {
        return true;
    }
    (d1 == 0.0 && on_segment(c, d, a))
        || (d2 == 0.0 && on_segment(c, d, b))
        || (d3 == 0.0 && on_segment(a, b, c))
        || (d4 == 0.0 && on_segment(a, b, d))
}

/// For two edges sharing a vertex (b == c or the like): whether they lie on one line and double
/// back, so that they overlap along more than that vertex.
fn overlap_collinear(a: [f64; 2], b: [f64; 2], c: [f64; 2], d: [f64; 2]) -> bool {
    if orient(a, b, c) != 0.0 || orient(a, b, d) != 0.0 {
        return false;
    }
    // On one line: they overlap when the far ends point the same way from the shared vertex.
    let (shared, p, q) = if b == c {
        (b, a, d)
    } else if a == d {
        (a, b, c)
    } else {
        return true;
    };
    let dot = (p[0] - shared[0]) * (q[0] - shared[0]) + (p[1] - shared[1]) * (q[1] - shared[1]);
    dot > 0.0
}

/// The share (0..1) of each cell of a `width × height` map, row-major, that lies inside any of
/// the polygons (even-odd rule, so concave shapes work).
///
/// Each cell is sampled 4×4. Rather than asking every sample whether it is inside every polygon
/// (samples × polygons × edges: seconds for 16 zones of 64 points on a large map), each row of
/// samples is cut by each polygon's edges once: between the 1st and 2nd crossing is inside,
/// between the 2nd and 3rd outside, and so on.
pub fn coverage(polygons: &[&[[f64; 2]]], width: usize, height: usize) -> Vec<f32> {
    let mut c = vec![0.0f32; width * height];
    if polygons.is_empty() || width == 0 {
        return c;
    }
    // Samples across a row: x_k = (k + 0.5) / n.
    let n = width * SAMPLES;
    let nf = n as f64;
    let first_at_or_after = |x: f64| ((x * nf - 0.5).ceil().max(0.0) as usize).min(n);
    let mut inside = vec![false; n];
    let mut crossings: Vec<f64> = Vec::with_capacity(MAX_POINTS);
    for cy in 0..height {
        let row = &mut c[cy * width..(cy + 1) * width];
        for sy in 0..SAMPLES {
            let y = (cy as f64 + (sy as f64 + 0.5) / SAMPLES as f64) / height as f64;
            inside.fill(false);
            for points in polygons {
                crossings.clear();
                let mut j = points.len() - 1;
                for i in 0..points.len() {
                    let (pi, pj) = (points[i], points[j]);
                    if (pi[1] > y) != (pj[1] > y) {
                        crossings.push((pj[0] - pi[0]) * (y - pi[1]) / (pj[1] - pi[1]) + pi[0]);
                    }
                    j = i;
                }
                crossings.sort_by(f64::total_cmp);
                for span in crossings.chunks_exact(2) {
                    let (from, to) = (first_at_or_after(span[0]), first_at_or_after(span[1]));
                    inside[from..to.max(from)].fill(true);
                }
            }
            for (k, _) in inside.iter().enumerate().filter(|(_, v)| **v) {
                row[k / SAMPLES] += 1.0;
            }
        }
    }
    for v in &mut c {
        *v /= (SAMPLES * SAMPLES) as f32;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    const SQUARE: [[f64; 2]; 4] = [[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]];

    #[test]
    fn a_bow_tie_and_a_folded_outline_are_refused() {
        let bow_tie = [[0.1, 0.1], [0.6, 0.5], [0.6, 0.1], [0.1, 0.3]];
        let err = check_points(&bow_tie).unwrap_err();
        assert!(err.contains("cross"), "{err}");
        // A spike that goes out along an edge and comes back on it.
        let folded = [[0.1, 0.1], [0.5, 0.1], [0.3, 0.1], [0.3, 0.4]];
        assert!(check_points(&folded).unwrap_err().contains("cross"));
        // A vertex that touches an edge not its own.
        let touching = [[0.1, 0.1], [0.6, 0.1], [0.6, 0.6], [0.35, 0.1], [0.1, 0.6]];
        assert!(check_points(&touching).unwrap_err().contains("cross"));
    }

    #[test]
    fn concave_and_edge_polygons_are_fine() {
        assert!(check_points(&SQUARE).is_ok());
        let l = [
            [0.0, 0.0],
            [0.5, 0.0],
            [0.5, 0.5],
            [1.0, 0.5],
            [1.0, 1.0],
            [0.0, 1.0],
        ];
        assert!(check_points(&l).is_ok());
        let whole = [[0.0, 0.0], [1.0, 0.0], [1.0, 1.0], [0.0, 1.0]];
        assert!(check_points(&whole).is_ok());
        // Three points in a row along an edge: a straight angle is not a crossing.
        let straight = [[0.0, 0.0], [0.5, 0.0], [1.0, 0.0], [1.0, 1.0]];
        assert!(check_points(&straight).is_ok());
    }

    #[test]
    fn degenerate_and_outside_polygons_are_refused() {
        for (points, want) in [
            (vec![[0.1, 0.1], [0.2, 0.2]], "3 to"),
            (vec![[0.1, 0.1], [0.2, 0.2], [0.3, 0.3]], "no area"),
            (
                vec![[0.1, 0.1], [1.5, 0.1], [0.2, 0.2]],
                "outside the frame",
            ),
            (
                vec![[-0.1, 0.1], [0.5, 0.1], [0.2, 0.2]],
                "outside the frame",
            ),
            (
                vec![[f64::NAN, 0.1], [0.2, 0.2], [0.3, 0.1]],
                "outside the frame",
            ),
            (vec![[0.5; 2]; 65], "3 to 64"),
        ] {
            let err = check_points(&points).unwrap_err();
            assert!(err.contains(want), "{err} (wanted {want})");
        }
    }

    #[test]
    fn coverage_of_a_concave_shape_and_an_edge_through_cells() {
        let l: &[[f64; 2]] = &[
            [0.0, 0.0],
            [0.5, 0.0],
            [0.5, 0.5],
            [1.0, 0.5],
            [1.0, 1.0],
            [0.0, 1.0],
        ];
        let c = coverage(&[l], 8, 8);
        let sum: f32 = c.iter().sum();
        assert!(
            (sum - 48.0).abs() < 1e-3,
            "three quarters of 64 cells: {sum}"
        );
        assert_eq!(c[7], 0.0, "the top-right quarter is out");
        let strip: &[[f64; 2]] = &[[0.0, 0.0], [0.0625, 0.0], [0.0625, 1.0], [0.0, 1.0]];
        assert!((coverage(&[strip], 8, 8)[0] - 0.5).abs() < 1e-6);
        assert!(coverage(&[], 4, 4).iter().all(|&v| v == 0.0));
    }

    /// Whether `(x, y)` is inside (even-odd rule): the sample-by-sample answer [`coverage`] must give.
    fn inside(points: &[[f64; 2]], x: f64, y: f64) -> bool {
        let mut inside = false;
        let mut j = points.len() - 1;
        for i in 0..points.len() {
            let (pi, pj) = (points[i], points[j]);
            if (pi[1] > y) != (pj[1] > y)
                && x < (pj[0] - pi[0]) * (y - pi[1]) / (pj[1] - pi[1]) + pi[0]
            {
                inside = !inside;
            }
            j = i;
        }
        inside
    }

    #[test]
    fn coverage_is_what_asking_each_sample_gives() {
        // Concave stars of many points, overlapping, one off the frame's edge.
        let star = |cx: f64, cy: f64, r: f64, n: usize| -> Vec<[f64; 2]> {
            (0..n)
                .map(|i| {
                    let a = i as f64 / n as f64 * std::f64::consts::TAU;
                    let r = if i % 2 == 0 { r } else { r * 0.45 };
                    [
                        (cx + r * a.cos()).clamp(0.0, 1.0),
                        (cy + r * a.sin()).clamp(0.0, 1.0),
                    ]
                })
                .collect()
        };
        let shapes = [
            star(0.4, 0.5, 0.35, 64),
            star(0.7, 0.3, 0.4, 18),
            star(0.1, 0.9, 0.2, 7),
        ];
        let refs: Vec<&[[f64; 2]]> = shapes.iter().map(Vec::as_slice).collect();
        for (w, h) in [(37, 21), (80, 45)] {
            let fast = coverage(&refs, w, h);
            for cy in 0..h {
                for cx in 0..w {
                    let mut hits = 0;
                    for sy in 0..SAMPLES {
                        for sx in 0..SAMPLES {
                            let x = (cx as f64 + (sx as f64 + 0.5) / SAMPLES as f64) / w as f64;
                            let y = (cy as f64 + (sy as f64 + 0.5) / SAMPLES as f64) / h as f64;
                            if refs.iter().any(|p| inside(p, x, y)) {
                                hits += 1;
                            }
                        }
                    }
                    let slow = hits as f32 / (SAMPLES * SAMPLES) as f32;
                    assert_eq!(fast[cy * w + cx], slow, "cell {cx},{cy} of {w}x{h}");
                }
            }
        }
    }
}
