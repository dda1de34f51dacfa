//! Which question to ask next: expected information gain over the posterior of the top
//! candidates, a random chooser for comparison, and the stop rule.

use super::{Differential, SplitMix};

/// Model probability that the clinician answers "don't know" (no update).
pub const DONT_KNOW_RATE: f32 = 0.2;
/// Questions asked at most.
pub const MAX_QUESTIONS: usize = 5;
/// Stop once the leader's posterior reaches this.
pub const CLEAR_LEADER: f32 = 0.9;

fn entropy(p: impl Iterator<Item = f64>) -> f64 {
    let (mut z, mut h) = (0.0, 0.0);
    let v: Vec<f64> = p.collect();
    for &x in &v {
        z += x;
    }
    if z <= 0.0 {
        return 0.0;
    }
    for &x in &v {
        let q = x / z;
        if q > 0.0 {
            h -= q * q.ln();
        }
    }
    h
}

/// EIG (nats) of bank question `q` for the current posterior.
pub fn expected_information_gain(diff: &Differential<'_>, q: usize) -> f64 {
    let post: Vec<f64> = diff
        .candidates()
        .iter()
        .map(|s| s.posterior as f64)
        .collect();
    // Face-only candidates have LR 1: their P(yes) is the background, so no information.
    let b = diff.model().background(diff.bank()[q].share) as f64;
    let p: Vec<f64> = diff
        .p_yes_for(q)
        .iter()
        .zip(diff.candidates())
        .map(|(&p, s)| if s.face_only { b } else { p as f64 })
        .collect();
    let h0 = entropy(post.iter().copied());
    let p_yes: f64 = post.iter().zip(&p).map(|(a, b)| a * b).sum();
    let h_yes = entropy(post.iter().zip(&p).map(|(a, b)| a * b));
    let h_no = entropy(post.iter().zip(&p).map(|(a, b)| a * (1.0 - b)));
    let answered = 1.0 - DONT_KNOW_RATE as f64;
    answered * (h0 - p_yes * h_yes - (1.0 - p_yes) * h_no)
}

/// The unasked bank question with the largest EIG, and its EIG; `None` when all are asked.
pub fn choose_question(diff: &Differential<'_>) -> Option<(usize, f64)> {
    let asked = diff.asked();
    let mut best: Option<(usize, f64)> = None;
    for (i, q) in diff.bank().iter().enumerate() {
        if asked.contains(&q.id) {
            continue;
        }
        let g = expected_information_gain(diff, i);
        if best.map_or(true, |(_, bg)| g > bg) {
            best = Some((i, g));
        }
    }
    best
}

/// A uniformly random unasked bank question.
pub fn random_question(diff: &Differential<'_>, rng: &mut SplitMix) -> Option<usize> {
    let open: Vec<usize> = (0..diff.bank().len())
        .filter(|&i| !diff.asked().contains(&diff.bank()[i].id))
        .collect();
    (!open.is_empty()).then(|| open[rng.below(open.len())])
}

/// The stop rule: [`MAX_QUESTIONS`] answers, or a leader at [`CLEAR_LEADER`] or above.
pub fn should_stop(diff: &Differential<'_>) -> bool {
    diff.answered() >= MAX_QUESTIONS || diff.leader_posterior() >= CLEAR_LEADER
}
