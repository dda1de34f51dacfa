//! The curated bedside questions: high-yield HPO terms a clinician can answer at the bedside
//! (or from the notes) without imaging beyond what is usually done. Labels are at most
//! [`MAX_LABEL_CHARS`] characters so they fit one line of the 128×64 panel (6 px font) and the
//! 240×240 panel; the CLI uses the HPO name for any other term.

use super::TermId;

/// Longest label: 21 characters (128 px / 6 px per character).
pub const MAX_LABEL_CHARS: usize = 21;

/// One curated question.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Question {
    /// `HP:0001627` as the number 1627.
    pub hp: u32,
    /// Short clinical wording, ending in `?`.
    pub label: &'static str,
}

impl Question {
    pub fn term(&self) -> TermId {
        TermId(self.hp)
    }
}

const fn q(hp: u32, label: &'static str) -> Question {
    Question { hp, label }
}

/// 40 questions, roughly by organ system. Each counts as "yes" for a disease annotated with the
/// term or any descendant of it.
pub const QUESTIONS: &[Question] = &[
    // growth
    q(4322, "Short stature?"),
    q(98, "Tall stature?"),
    q(1548, "Overgrowth?"),
    q(1511, "Small at birth?"),
    q(1508, "Failure to thrive?"),
    q(1513, "Obesity?"),
    // head
    q(252, "Microcephaly?"),
    q(256, "Macrocephaly?"),
    // neurodevelopment
    q(1263, "Developmental delay?"),
    q(1249, "Intellect disability?"),
    q(1250, "Seizures?"),
    q(1252, "Hypotonia?"),
    q(729, "Autistic behaviour?"),
    q(12443, "Brain malformation?"),
    q(11968, "Feeding difficulties?"),
    // senses
    q(365, "Hearing loss?"),
    q(505, "Visual impairment?"),
    q(518, "Cataract?"),
    q(486, "Strabismus?"),
    q(508, "Ptosis?"),
    q(589, "Coloboma?"),
    // face and mouth (bedside, beyond what the camera sees)
    q(175, "Cleft palate?"),
    q(410030, "Cleft lip?"),
    q(347, "Small jaw?"),
    q(369, "Low-set ears?"),
    q(164, "Dental anomaly?"),
    // organs
    q(1627, "Heart defect?"),
    q(12210, "Kidney anomaly?"),
    q(2240, "Enlarged liver?"),
    q(2023, "Anal atresia?"),
    q(1537, "Umbilical hernia?"),
    // genitals
    q(47, "Hypospadias?"),
    q(28, "Undescended testes?"),
    // limbs and skeleton
    q(10442, "Polydactyly?"),
    q(1159, "Syndactyly?"),
    q(11304, "Broad thumbs?"),
    q(1762, "Clubfoot?"),
    q(1371, "Joint contractures?"),
    q(1382, "Joint hypermobility?"),
    q(2650, "Scoliosis?"),
    q(9826, "Short limbs?"),
    // skin, hair, immunity
    q(957, "Cafe-au-lait spots?"),
    q(8070, "Sparse hair?"),
    q(2719, "Recurrent infections?"),
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_fit_one_small_panel_line_and_terms_are_distinct() {
        let mut seen = std::collections::HashSet::new();
        for q in QUESTIONS {
            assert!(
                q.label.chars().count() <= MAX_LABEL_CHARS,
                "{} is {} chars",
                q.label,
                q.label.chars().count()
            );
            assert!(q.label.ends_with('?'), "{}", q.label);
            assert!(q.label.is_ascii(), "{} (the OLED font is ASCII)", q.label);
            assert!(seen.insert(q.hp), "HP:{:07} twice", q.hp);
        }
        assert!((38..=46).contains(&QUESTIONS.len()));
    }
}
