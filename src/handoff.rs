//! The result hand-off: the short plain-text summary of one result that the result-code screen
//! shows as a QR code, so a phone reads it into the patient's notes and the device stores
//! nothing. The text format is documented in `docs/handoff.md`.
//!
//! A [`Summary`] holds what the text may say: the ranked syndromes (rank, name, OMIM id, band)
//! or "no close match", the photos fused, the model, gallery and HPO versions, the device id and
//! the day when the clock is trusted ([`crate::clock`]). It has no field for an image, an
//! embedding, a name or free text about the patient, so none can reach the code.
//!
//! [`fit`] writes the text for a panel: the first line and the first candidate (or "no close
//! match") always, then the other lines in [`Part`] priority order while the QR code still fits
//! the panel's largest symbol; [`parse`] reads a text back (tests, and a programme's tooling).

use qrcode::{Color, EcLevel, QrCode};

use crate::gallery::candidate::Band;

/// The first line of every summary: the format and its version.
pub const FIRST_LINE: &str = "gestaltcam 1";

/// The second line of a result from the demo gallery (not clinical data), on every panel.
pub const DEMO_LINE: &str = "DEMO gallery";

/// The last line, when there is room for it.
pub const DISCLAIMER_LINE: &str = "screening aid, not a diagnosis";

/// Why a summary could not be written or read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum HandoffError {
    #[error("the result does not fit a code of {max_width} modules")]
    TooLong { max_width: u32 },
    #[error("not a gestaltcam summary: first line {0:?}")]
    NotASummary(String),
    #[error("summary line {line}: {text:?} is not a known field")]
    BadLine { line: usize, text: String },
}

/// One candidate as the summary lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listed {
    /// 1-based rank.
    pub rank: usize,
    /// The syndrome's name; empty when a small panel's code lists the OMIM id alone.
    pub name: String,
    pub omim: Option<String>,
    pub band: Band,
}

/// What the result was.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    /// Ranked candidates, best first.
    Candidates(Vec<Listed>),
    NoCloseMatch,
}

/// Everything a summary may say about one result.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Summary {
    pub finding: Option<Finding>,
    /// Photos fused into the result.
    pub photos: Option<usize>,
    pub model: Option<String>,
    pub gallery: Option<String>,
    /// The gallery is the bundled demo: the [`DEMO_LINE`] second line, kept on every panel.
    pub demo: bool,
    /// HPO release of the phenotype questions, e.g. `2025-01-16`.
    pub hpo: Option<String>,
    pub device: Option<String>,
    /// `YYYY-MM-DD` (UTC), only when the clock is trusted.
    pub date: Option<String>,
    pub disclaimer: bool,
}

/// The optional lines of a summary, in the order [`fit`] adds them while they fit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Part {
    Photos,
    /// Candidates after the first, one at a time.
    MoreCandidates,
    Gallery,
    Device,
    Date,
    Model,
    Hpo,
    Disclaimer,
}

/// [`Part`]s in priority order.
pub const PRIORITY: [Part; 8] = [
    Part::Photos,
    Part::MoreCandidates,
    Part::Gallery,
    Part::Device,
    Part::Date,
    Part::Model,
    Part::Hpo,
    Part::Disclaimer,
];

/// A QR code's modules, row by row (`true` = dark), and the text it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Code {
    /// Modules per side, without the quiet zone.
    pub width: u32,
    pub dark: Vec<bool>,
    /// QR version (1..=40) and error correction level letter.
    pub version: i16,
    pub ecc: char,
    pub text: String,
}

impl Code {
    /// Whether the module at column `x`, row `y` is dark.
    pub fn is_dark(&self, x: u32, y: u32) -> bool {
        self.dark[(y * self.width + x) as usize]
    }
}

impl Summary {
    /// The summary's text, one field a line (see `docs/handoff.md`).
    pub fn text(&self) -> String {
        let mut lines = vec![FIRST_LINE.to_string()];
        if self.demo {
            lines.push(DEMO_LINE.into());
        }
        match &self.finding {
            Some(Finding::Candidates(list)) => lines.extend(list.iter().map(candidate_line)),
            Some(Finding::NoCloseMatch) => lines.push("no close match".into()),
            None => {}
        }
        if let Some(n) = self.photos {
            lines.push(format!("photos {n}"));
        }
        if let Some(g) = &self.gallery {
            lines.push(format!("gallery {g}"));
        }
        let optional = [
            ("model", &self.model),
            ("HPO", &self.hpo),
            ("device", &self.device),
        ];
        for (key, value) in optional {
            if let Some(v) = value {
                lines.push(format!("{key} {v}"));
            }
        }
        if let Some(d) = &self.date {
            lines.push(format!("date {d} UTC"));
        }
        if self.disclaimer {
            lines.push(DISCLAIMER_LINE.into());
        }
        lines.join("\n")
    }

    /// The same summary with only the first candidate, listed by OMIM id when it has one.
    fn core(&self, by_omim: bool) -> Summary {
        let finding = match &self.finding {
            Some(Finding::Candidates(list)) => Some(Finding::Candidates(
                list.iter()
                    .take(1)
                    .map(|c| Listed {
                        name: if by_omim && c.omim.is_some() {
                            String::new()
                        } else {
                            c.name.clone()
                        },
                        ..c.clone()
                    })
                    .collect(),
            )),
            other => other.clone(),
        };
        Summary {
            finding,
            demo: self.demo,
            ..Summary::default()
        }
    }

    /// Adds `part` of `full` to `self`; `false` when there is nothing (more) to add.
    fn add(&mut self, part: Part, full: &Summary) -> bool {
        fn take<T: Clone>(to: &mut Option<T>, from: &Option<T>) -> bool {
            *to = from.clone();
            to.is_some()
        }
        match part {
            Part::Photos => take(&mut self.photos, &full.photos),
            Part::MoreCandidates => {
                let (Some(Finding::Candidates(have)), Some(Finding::Candidates(all))) =
                    (&mut self.finding, &full.finding)
                else {
                    return false;
                };
                match all.get(have.len()) {
                    Some(next) => {
                        have.push(next.clone());
                        true
                    }
                    None => false,
                }
            }
            Part::Gallery => take(&mut self.gallery, &full.gallery),
            Part::Device => take(&mut self.device, &full.device),
            Part::Date => take(&mut self.date, &full.date),
            Part::Model => take(&mut self.model, &full.model),
            Part::Hpo => take(&mut self.hpo, &full.hpo),
            Part::Disclaimer => {
                self.disclaimer = full.disclaimer;
                full.disclaimer
            }
        }
    }
}

/// `1. Cornelia de Lange syndrome, OMIM 122470, strong`; without a name `1. OMIM 122470, strong`.
fn candidate_line(c: &Listed) -> String {
    let mut parts = Vec::new();
    if !c.name.is_empty() {
        parts.push(c.name.clone());
    }
    if let Some(o) = &c.omim {
        parts.push(format!("OMIM {o}"));
    }
    parts.push(c.band.label().to_string());
    format!("{}. {}", c.rank, parts.join(", "))
}

/// The QR code of `text` within `max_width` modules: error correction M when it fits, else L.
pub fn encode(text: &str, max_width: u32) -> Option<Code> {
    [(EcLevel::M, 'M'), (EcLevel::L, 'L')]
        .into_iter()
        .find_map(|(level, letter)| {
            let code = QrCode::with_error_correction_level(text, level).ok()?;
            let width = code.width() as u32;
            if width > max_width {
                return None;
            }
            let qrcode::Version::Normal(version) = code.version() else {
                return None;
            };
            Some(Code {
                width,
                dark: code.to_colors().iter().map(|c| *c == Color::Dark).collect(),
                version,
                ecc: letter,
                text: text.to_string(),
            })
        })
}

/// The code of `summary` for a panel whose largest code is `max_width` modules a side, with
/// at most `max_candidates` candidates: the first line and the first candidate always (by its
/// OMIM id alone when the name does not fit), then each [`Part`] in [`PRIORITY`] order that
/// still fits.
pub fn fit(summary: &Summary, max_width: u32, max_candidates: usize) -> Result<Code, HandoffError> {
    let too_long = HandoffError::TooLong { max_width };
    let (mut have, mut code) = [false, true]
        .into_iter()
        .find_map(|by_omim| {
            let core = summary.core(by_omim);
            encode(&core.text(), max_width).map(|c| (core, c))
        })
        .ok_or(too_long)?;
    for part in PRIORITY {
        loop {
            if part == Part::MoreCandidates && listed(&have) >= max_candidates {
                break;
            }
            let mut more = have.clone();
            if !more.add(part, summary) {
                break;
            }
            match encode(&more.text(), max_width) {
                Some(c) => (have, code) = (more, c),
                None => break,
            }
            if part != Part::MoreCandidates {
                break;
            }
        }
    }
    Ok(code)
}

/// Candidates a summary lists.
fn listed(s: &Summary) -> usize {
    match &s.finding {
        Some(Finding::Candidates(l)) => l.len(),
        _ => 0,
    }
}

/// Reads a summary's text back; a line it does not know is an error.
pub fn parse(text: &str) -> Result<Summary, HandoffError> {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    if first != FIRST_LINE {
        return Err(HandoffError::NotASummary(first.to_string()));
    }
    let mut s = Summary::default();
    for (i, line) in lines.enumerate() {
        let bad = || HandoffError::BadLine {
            line: i + 2,
            text: line.to_string(),
        };
        let (key, value) = line.split_once(' ').unwrap_or((line, ""));
        let value = value.to_string();
        match key {
            _ if line == "no close match" => s.finding = Some(Finding::NoCloseMatch),
            _ if line == DISCLAIMER_LINE => s.disclaimer = true,
            "photos" => s.photos = Some(value.parse().map_err(|_| bad())?),
            _ if line == DEMO_LINE => s.demo = true,
            "gallery" => s.gallery = Some(value),
            "model" => s.model = Some(value),
            "HPO" => s.hpo = Some(value),
            "device" => s.device = Some(value),
            "date" => s.date = Some(value.strip_suffix(" UTC").ok_or_else(bad)?.to_string()),
            _ => {
                let c = parse_candidate(line).ok_or_else(bad)?;
                match &mut s.finding {
                    Some(Finding::Candidates(list)) => list.push(c),
                    _ => s.finding = Some(Finding::Candidates(vec![c])),
                }
            }
        }
    }
    Ok(s)
}

/// `N. [name, ][OMIM id, ]band`.
fn parse_candidate(line: &str) -> Option<Listed> {
    let (rank, rest) = line.split_once(". ")?;
    let rank = rank.parse().ok()?;
    let (head, band) = match rest.rsplit_once(", ") {
        Some((h, b)) => (h, b),
        None => ("", rest),
    };
    let band = [
        Band::Strong,
        Band::Moderate,
        Band::Supporting,
        Band::Weak,
        Band::Uncalibrated,
    ]
    .into_iter()
    .find(|b| b.label() == band)?;
    let omim_of = |s: &str| {
        s.strip_prefix("OMIM ")
            .filter(|id| !id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()))
            .map(str::to_string)
    };
    let (name, omim) = if let Some(o) = omim_of(head) {
        (String::new(), Some(o))
    } else {
        match head.rsplit_once(", ").map(|(n, o)| (n, omim_of(o))) {
            Some((n, Some(o))) => (n.to_string(), Some(o)),
            _ => (head.to_string(), None),
        }
    };
    Some(Listed {
        rank,
        name,
        omim,
        band,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary() -> Summary {
        let c = |rank, name: &str, omim: Option<&str>, band| Listed {
            rank,
            name: name.into(),
            omim: omim.map(Into::into),
            band,
        };
        Summary {
            finding: Some(Finding::Candidates(vec![
                c(
                    1,
                    "Cornelia de Lange syndrome",
                    Some("122470"),
                    Band::Strong,
                ),
                c(2, "Kabuki syndrome", Some("147920"), Band::Moderate),
                c(3, "Koolen-de Vries syndrome, 17q21", None, Band::Weak),
            ])),
            photos: Some(2),
            model: Some("dlib-resnet-v1 int8 (QDQ, per-channel)".into()),
            gallery: Some("GMDB 2025-06".into()),
            demo: false,
            hpo: Some("2025-01-16".into()),
            device: Some("TEST-DEVICE".into()),
            date: Some("2026-12-07".into()),
            disclaimer: true,
        }
    }

    #[test]
    fn the_text_has_one_field_a_line_and_reads_back() {
        let s = summary();
        let text = s.text();
        assert_eq!(
            text,
            "gestaltcam 1\n\
             1. Cornelia de Lange syndrome, OMIM 122470, strong\n\
             2. Kabuki syndrome, OMIM 147920, moderate\n\
             3. Koolen-de Vries syndrome, 17q21, weak\n\
             photos 2\n\
             gallery GMDB 2025-06\n\
             model dlib-resnet-v1 int8 (QDQ, per-channel)\n\
             HPO 2025-01-16\n\
             device TEST-DEVICE\n\
             date 2026-12-07 UTC\n\
             screening aid, not a diagnosis"
        );
        assert_eq!(parse(&text), Ok(s));
        let none = Summary {
            finding: Some(Finding::NoCloseMatch),
            demo: true,
            gallery: Some("demo-0.3".into()),
            ..Summary::default()
        };
        assert_eq!(parse(&none.text()), Ok(none));
    }

    #[test]
    fn a_text_that_is_not_a_summary_is_refused() {
        assert_eq!(
            parse("hello\n1. x, strong"),
            Err(HandoffError::NotASummary("hello".into()))
        );
        let bad = parse("gestaltcam 1\nphotos two").unwrap_err();
        assert_eq!(
            bad,
            HandoffError::BadLine {
                line: 2,
                text: "photos two".into()
            }
        );
        assert!(parse("gestaltcam 1\n1. Name, very strong").is_err());
    }

    #[test]
    fn a_big_code_holds_everything_and_a_small_one_the_first_candidate_first() {
        let s = summary();
        let big = fit(&s, 61, 3).unwrap();
        assert_eq!(parse(&big.text), Ok(s.clone()));
        // Version 3 (29 modules): the first candidate by OMIM id, then what fits in order.
        let small = fit(&s, 29, 1).unwrap();
        assert!(small.width <= 29 && small.version <= 3, "{small:?}");
        let read = parse(&small.text).unwrap();
        let Some(Finding::Candidates(list)) = &read.finding else {
            panic!("{read:?}")
        };
        assert_eq!(list.len(), 1);
        assert_eq!(
            (list[0].omim.as_deref(), list[0].band),
            (Some("122470"), Band::Strong)
        );
        assert_eq!(read.photos, Some(2));
        // Nothing is invented: each line present is the summary's own.
        for (got, want) in [
            (&read.gallery, &s.gallery),
            (&read.device, &s.device),
            (&read.date, &s.date),
            (&read.model, &s.model),
        ] {
            assert!(got.is_none() || got == want, "{got:?} vs {want:?}");
        }
        assert_eq!(
            fit(&s, 20, 1),
            Err(HandoffError::TooLong { max_width: 20 }),
            "version 1 is 21 modules"
        );
    }

    #[test]
    fn the_modules_are_the_qr_codes() {
        // 27 bytes: version 2 holds 26 at M, 32 at L; version 1 holds 17 at L.
        let text = "gestaltcam 1\nno close match";
        assert_eq!(encode(text, 21), None);
        let code = encode(text, 25).unwrap();
        assert_eq!((code.width, code.version, code.ecc), (25, 2, 'L'));
        assert_eq!(encode(text, 29).map(|c| (c.version, c.ecc)), Some((3, 'M')));
        let code = encode(FIRST_LINE, 25).unwrap();
        assert_eq!(code.width, 21);
        assert_eq!(code.dark.len(), 21 * 21);
        // The finder pattern's corner and its light separator.
        assert!(code.is_dark(0, 0) && code.is_dark(6, 6) && !code.is_dark(7, 7));
    }
}
