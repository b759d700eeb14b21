//! What "printable" means for the names and passphrases people type: zone and mask names, the
//! operator's passphrase.
//!
//! A printable text has no character of the Unicode general categories
//! - `Cc`, controls (a tab, a newline, NUL);
//! - `Cf`, format characters: invisible ones (U+200B ZERO WIDTH SPACE, U+FEFF, the soft hyphen)
//!   and the bidirectional controls (U+202E RIGHT-TO-LEFT OVERRIDE, U+2066…U+2069) that change
//!   how the text around them is shown;
//! - `Zl` and `Zp`, the line and paragraph separators (U+2028, U+2029).
//!
//! With them, "stage" and "stage" + U+200B are two zones that look the same, and an override
//! shows a name backwards on the dashboard and in a CSV opened in a spreadsheet. Letters, marks,
//! digits, punctuation, symbols (emoji) and spaces of every script stay printable. The categories
//! come from `unicode-properties` (the Unicode Character Database), not from a table kept here.

use unicode_properties::{GeneralCategory, UnicodeGeneralCategory as _};

/// What kind of unprintable character `c` is, or `None` when it is printable.
fn kind(c: char) -> Option<&'static str> {
    match c.general_category() {
        GeneralCategory::Control => Some("a control character such as a tab or a line break"),
        GeneralCategory::Format => Some(
            "an invisible formatting character, such as a zero-width space or a text direction \
             override",
        ),
        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator => {
            Some("a line or paragraph separator")
        }
        _ => None,
    }
}

/// `Ok` when `text` is printable (see the module docs); otherwise which character is not and
/// what it is, as the end of a sentence ("contains U+202E (…): use printable characters").
pub fn check(text: &str) -> Result<(), String> {
    match text.chars().find_map(|c| kind(c).map(|k| (c, k))) {
        None => Ok(()),
        Some((c, what)) => Err(format!(
            "contains U+{:04X} ({what}): use printable characters only",
            u32::from(c)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invisible_direction_and_line_characters_are_named_by_code_point() {
        for (text, code) in [
            ("a\tb", "U+0009"),
            ("a\u{0}", "U+0000"),
            ("stage\u{200b}", "U+200B"),
            ("\u{202e}tix", "U+202E"),
            ("a\u{2028}b", "U+2028"),
            ("a\u{2029}b", "U+2029"),
            ("\u{feff}x", "U+FEFF"),
            ("soft\u{ad}hyphen", "U+00AD"),
            ("isolate\u{2068}", "U+2068"),
        ] {
            let err = check(text).unwrap_err();
            assert!(
                err.starts_with(&format!("contains {code} (")),
                "{text:?}: {err}"
            );
        }
        for text in [
            "stage front",
            "Bühne",
            "出口",
            "מבוא",
            "🎤 stage",
            "a\u{a0}b",
            "",
        ] {
            assert_eq!(check(text), Ok(()), "{text:?}");
        }
    }
}
