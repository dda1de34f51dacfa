//! The device's question round for one patient: the face candidates of the last analysis and
//! the clinician's answers so far → the next question, or the re-ranked list.
//!
//! Stateless in the answers: the questions are chosen again from the start for every step
//! ([`choose_question`] is deterministic), so the app only keeps the answers in order and a
//! replayed sequence always gives the same questions and the same ranking.

use super::{
    choose_question, should_stop, Answer, Candidate, Differential, FaceLikelihood, HpoIndex,
    LrModel, QueryTerm, Scored, TOP_N,
};

/// The next step of a question round.
#[derive(Debug, Clone, PartialEq)]
pub enum Step {
    /// Ask this: `number` is 1-based; `label` the short bedside wording.
    Ask { number: usize, label: String },
    /// The round is over (at most [`super::MAX_QUESTIONS`] answers, a clear leader, or no
    /// question left): the candidates by posterior, each with what the answers did to it.
    Done { ranked: Vec<Scored> },
}

/// One patient's question round.
#[derive(Debug, Clone)]
pub struct QuestionRound {
    candidates: Vec<Candidate>,
    face: FaceLikelihood,
}

impl QuestionRound {
    /// A round over the face candidates (their face distances) with the gallery's face
    /// likelihood for this session size.
    pub fn new(candidates: Vec<Candidate>, face: FaceLikelihood) -> Self {
        QuestionRound { candidates, face }
    }

    /// The candidates the round started from.
    pub fn candidates(&self) -> &[Candidate] {
        &self.candidates
    }

    /// Where the round stands after `answers` (to the questions this round asked, in order).
    /// Answers beyond the end of the round are ignored.
    pub fn step(&self, index: &HpoIndex, bank: &[QueryTerm], answers: &[Answer]) -> Step {
        let mut diff = Differential::new(
            index,
            LrModel::default(),
            &self.face,
            &self.candidates,
            bank,
            TOP_N,
        );
        let mut given = answers.iter();
        loop {
            let next = if should_stop(&diff) {
                None
            } else {
                choose_question(&diff).map(|(q, _)| q)
            };
            let Some(q) = next else {
                return Step::Done {
                    ranked: diff.ranked().into_iter().cloned().collect(),
                };
            };
            match given.next() {
                Some(&a) => diff.answer_question(q, a),
                None => {
                    return Step::Ask {
                        number: diff.answered() + 1,
                        label: bank[q].label.clone(),
                    }
                }
            }
        }
    }
}

/// What the answers did to one candidate, for one line of the results screen: the answered
/// terms that raised it (`+`) or lowered it (`-`), strongest first, e.g.
/// `+Heart defect -Seizures`; "face only" for a candidate without annotations.
pub fn evidence_line(s: &Scored) -> String {
    if s.face_only {
        return "face only (no HPO annotations)".into();
    }
    let mut moved: Vec<_> = s
        .contributions
        .iter()
        .filter(|c| c.log_lr.abs() > 0.05)
        .collect();
    moved.sort_by(|a, b| b.log_lr.abs().total_cmp(&a.log_lr.abs()));
    if moved.is_empty() {
        return "answers: no change".into();
    }
    moved
        .iter()
        .map(|c| {
            let sign = if c.log_lr > 0.0 { '+' } else { '-' };
            format!("{sign}{}", c.label.trim_end_matches('?'))
        })
        .collect::<Vec<_>>()
        .join(" ")
}
