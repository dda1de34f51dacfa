//! Fitting text into a fixed number of monospace cells: word wrap, abbreviation, truncation.
//!
//! Pure string functions (counted in `char`s, which is what a mono font draws), so the
//! screens can guarantee that no line is wider than the panel.

/// Marker appended to a truncated line.
pub const ELLIPSIS: &str = "..";

/// Cut `text` to at most `max_chars` characters, ending in [`ELLIPSIS`] when something was cut.
pub fn truncate(text: &str, max_chars: usize) -> String {
    let n = text.chars().count();
    if n <= max_chars {
        return text.to_string();
    }
    let ell = ELLIPSIS.chars().count();
    if max_chars <= ell {
        return text.chars().take(max_chars).collect();
    }
    let mut out: String = text.chars().take(max_chars - ell).collect();
    // Do not leave a dangling space before the marker.
    while out.ends_with(' ') {
        out.pop();
    }
    out.push_str(ELLIPSIS);
    out
}

/// Greedy word wrap into lines of at most `max_chars` characters.
///
/// Lines break at spaces and after hyphens ("Smith-Lemli-" / "Opitz"); pieces longer than a
/// line are split. Returns every line; see [`wrap_fit`] for a line limit.
pub fn wrap(text: &str, max_chars: usize) -> Vec<String> {
    let max_chars = max_chars.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line: Vec<char> = Vec::new();
    for word in text.split_whitespace() {
        // Pieces of the word, each ending in its hyphen; only the first takes a space.
        let mut pieces: Vec<Vec<char>> = Vec::new();
        let mut piece = Vec::new();
        for c in word.chars() {
            piece.push(c);
            if c == '-' {
                pieces.push(std::mem::take(&mut piece));
            }
        }
        if !piece.is_empty() {
            pieces.push(piece);
        }
        for (i, mut piece) in pieces.into_iter().enumerate() {
            let space = i == 0 && !line.is_empty();
            loop {
                let need = line.len() + usize::from(space && !line.is_empty()) + piece.len();
                if need <= max_chars {
                    if space && !line.is_empty() {
                        line.push(' ');
                    }
                    line.append(&mut piece);
                    break;
                }
                if !line.is_empty() {
                    lines.push(line.drain(..).collect());
                    continue;
                }
                // A piece longer than a whole line: hard split.
                let rest = piece.split_off(max_chars);
                lines.push(piece.iter().collect());
                piece = rest;
                if piece.is_empty() {
                    break;
                }
            }
        }
    }
    if !line.is_empty() {
        lines.push(line.into_iter().collect());
    }
    lines
}

/// Common long words in syndrome names and their abbreviations, tried in order when a name
/// does not fit.
const ABBREVIATIONS: &[(&str, &str)] = &[
    ("syndrome", "synd."),
    ("Syndrome", "Synd."),
    ("deficiency", "def."),
    ("disorder", "dis."),
    ("intellectual disability", "ID"),
    ("developmental", "dev."),
];

/// Wrap `text` into at most `max_lines` lines of `max_chars`; if it does not fit, abbreviate
/// common words, and if it still does not fit, truncate the last line with [`ELLIPSIS`].
pub fn wrap_fit(text: &str, max_chars: usize, max_lines: usize) -> Vec<String> {
    let max_lines = max_lines.max(1);
    let mut candidate = text.to_string();
    let mut lines = wrap(&candidate, max_chars);
    if lines.len() <= max_lines {
        return lines;
    }
    for (long, short) in ABBREVIATIONS {
        if candidate.contains(long) {
            candidate = candidate.replace(long, short);
            lines = wrap(&candidate, max_chars);
            if lines.len() <= max_lines {
                return lines;
            }
        }
    }
    let rest = lines.split_off(max_lines - 1).join(" ");
    lines.push(truncate(&rest, max_chars));
    lines
}

/// Pack `segments` into lines of at most `max_chars`, joined by ", " and breaking between
/// segments where possible (a segment longer than a line is word-wrapped). More than
/// `max_lines` lines: the last one is truncated with [`ELLIPSIS`].
pub fn pack_segments(segments: &[String], max_chars: usize, max_lines: usize) -> Vec<String> {
    let max_chars = max_chars.max(1);
    let mut lines: Vec<String> = Vec::new();
    let mut line = String::new();
    let count = segments.len();
    for (i, seg) in segments.iter().enumerate() {
        let piece = if i + 1 < count {
            format!("{seg},")
        } else {
            seg.clone()
        };
        let len = line.chars().count();
        let plen = piece.chars().count();
        if len == 0 && plen <= max_chars {
            line = piece;
        } else if len > 0 && len + 1 + plen <= max_chars {
            line.push(' ');
            line.push_str(&piece);
        } else {
            if len > 0 {
                lines.push(std::mem::take(&mut line));
            }
            let mut wrapped = wrap(&piece, max_chars);
            line = wrapped.pop().unwrap_or_default();
            lines.extend(wrapped);
        }
    }
    if !line.is_empty() {
        lines.push(line);
    }
    let max_lines = max_lines.max(1);
    if lines.len() > max_lines {
        let rest = lines.split_off(max_lines - 1).join(" ");
        lines.push(truncate(&rest, max_chars));
    }
    lines
}

/// Replace control characters (which a font cannot draw) with spaces.
pub fn sanitize(text: &str) -> String {
    text.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn truncate_marks_cut_text() {
        assert_eq!(truncate("short", 10), "short");
        assert_eq!(truncate("abcdefghij", 6), "abcd..");
        assert_eq!(truncate("ab cdefgh", 5), "ab..");
        assert_eq!(truncate("abcdef", 2), "ab");
    }

    #[test]
    fn wrap_breaks_at_words_and_splits_long_words() {
        assert_eq!(
            wrap("Cornelia de Lange syndrome", 20),
            vec!["Cornelia de Lange", "syndrome"]
        );
        assert_eq!(wrap("abcdefghij", 4), vec!["abcd", "efgh", "ij"]);
        assert!(wrap("   ", 4).is_empty());
    }

    #[test]
    fn wrap_fit_abbreviates_then_truncates() {
        let name = "Cornelia de Lange syndrome";
        assert_eq!(wrap_fit(name, 21, 1), vec!["Cornelia de Lange s.."]);
        assert_eq!(
            wrap_fit("Smith-Lemli-Opitz syndrome", 13, 2),
            vec!["Smith-Lemli-", "Opitz synd."]
        );
        assert_eq!(
            wrap("Borjeson-Forssman-Lehmann syndrome", 20),
            vec!["Borjeson-Forssman-", "Lehmann syndrome"]
        );
        assert_eq!(wrap("a b-c", 5), vec!["a b-c"]);
        let long = "Intellectual developmental disorder with dysmorphic facies and behavioral abnormalities";
        let lines = wrap_fit(long, 20, 2);
        assert_eq!(lines.len(), 2);
        assert!(lines.iter().all(|l| l.chars().count() <= 20));
        assert!(lines[1].ends_with(ELLIPSIS));
    }

    #[test]
    fn pack_segments_breaks_between_segments() {
        let segs: Vec<String> = [
            "7459 reference cases",
            "449 syndromes",
            "2 photos",
            "model m 1.0",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        assert_eq!(
            pack_segments(&segs, 38, 4),
            vec![
                "7459 reference cases, 449 syndromes,",
                "2 photos, model m 1.0"
            ]
        );
        assert_eq!(pack_segments(&segs, 12, 2), vec!["7459", "reference.."]);
        let lines = pack_segments(&segs, 10, 10);
        assert!(lines.iter().all(|l| l.chars().count() <= 10), "{lines:?}");
    }

    #[test]
    fn sanitize_removes_control_characters() {
        assert_eq!(sanitize("a\tb\nc"), "a b c");
    }
}
