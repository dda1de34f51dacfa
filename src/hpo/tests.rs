//! Unit tests on a tiny hand-made ontology.
use super::*;

const OBO: &str = "format-version: 1.2
data-version: hp/releases/test

[Term]
id: HP:0000001
name: All

[Term]
id: HP:0000010
name: Heart defect
is_a: HP:0000001 ! All

[Term]
id: HP:0000011
name: Septal defect
is_a: HP:0000010 ! Heart defect

[Term]
id: HP:0000020
name: Seizure
is_a: HP:0000001 ! All
alt_id: HP:0000021

[Term]
id: HP:0000030
name: Short stature
is_a: HP:0000001 ! All

[Term]
id: HP:0000099
name: obsolete thing
is_obsolete: true
";

fn hpoa(rows: &[(u32, &str, &str, &str)]) -> String {
    let mut s = String::from(
        "#version: test\ndatabase_id\tdisease_name\tqualifier\thpo_id\treference\tevidence\tonset\tfrequency\tsex\tmodifier\taspect\tbiocuration\n",
    );
    for (omim, q, hp, f) in rows {
        s.push_str(&format!(
            "OMIM:{omim}\tDisease {omim}\t{q}\t{hp}\tPMID:1\tPCS\t\t{f}\t\t\tP\tx\n"
        ));
    }
    s
}

fn tiny() -> HpoIndex {
    let a = hpoa(&[
        (100001, "", "HP:0000011", "1/1"), // A: septal defect (so: heart defect), obligate
        (100001, "", "HP:0000030", "1/2"), // A: short stature half the time
        (100002, "", "HP:0000021", "HP:0040283"), // B: seizures (alt id), occasional
        (100002, "NOT", "HP:0000010", ""), // NOT rows are ignored
        (100003, "", "HP:0000030", ""),    // C: short stature, no frequency
        (100004, "", "HP:0000020", "80%"), // D: seizures 80%
    ]);
    HpoIndex::from_readers(OBO.as_bytes(), a.as_bytes()).expect("tiny index")
}

#[test]
fn parses_terms_descendants_alt_ids_and_frequencies() {
    let idx = tiny();
    assert_eq!(idx.ontology().len(), 5, "obsolete term dropped");
    assert_eq!(idx.release.ontology_version, "hp/releases/test");
    let heart = idx.query_term(TermId(10), None).unwrap();
    assert_eq!(heart.name, "Heart defect");
    let a = idx.disease(100001).unwrap();
    assert_eq!(
        a.frequency_in(&heart.set),
        Some(Some(1.0)),
        "septal is_a heart"
    );
    let b = idx.disease(100002).unwrap();
    assert_eq!(b.frequency_in(&heart.set), None, "NOT row ignored");
    let seizure = idx.query_term(TermId(20), None).unwrap();
    assert_eq!(
        b.frequency_in(&seizure.set),
        Some(Some(0.17)),
        "alt id mapped"
    );
    let short = idx.query_term(TermId(30), None).unwrap();
    assert_eq!(
        idx.disease(100003).unwrap().frequency_in(&short.set),
        Some(None)
    );
    // share: 2 of 4 diseases have short stature, smoothed (2 + 1) / (4 + 2)
    assert!((short.share - 0.5).abs() < 1e-6);
    assert!((heart.share - 2.0 / 6.0).abs() < 1e-6);
    assert!(matches!(
        idx.query_term(TermId(12345), None),
        Err(HpoError::UnknownTerm(_))
    ));
}

#[test]
fn frequency_column_forms() {
    assert_eq!(parse_frequency("3/4").unwrap(), Some(0.75));
    assert_eq!(parse_frequency("25%").unwrap(), Some(0.25));
    assert_eq!(parse_frequency("HP:0040281").unwrap(), Some(0.895));
    assert_eq!(parse_frequency("").unwrap(), None);
    assert!(parse_frequency("5/4").is_err());
    assert!(parse_frequency("HP:0000118").is_err());
    assert!(parse_frequency("often").is_err());
}

#[test]
fn likelihood_ratios_follow_the_formula() {
    let idx = tiny();
    let m = LrModel::default();
    let short = idx.query_term(TermId(30), None).unwrap();
    let b = m.background(short.share);
    assert!((b - (0.05 + 0.93 * 0.5)).abs() < 1e-6);
    // A: annotated at 1/2 → p = 0.5
    let pa = m.p_yes(idx.disease(100001).unwrap().frequency_in(&short.set));
    assert!((pa - 0.5).abs() < 1e-6);
    assert!((m.log_lr(pa, b, Answer::Yes) - (0.5f32 / b).ln()).abs() < 1e-6);
    assert!((m.log_lr(pa, b, Answer::No) - (0.5f32 / (1.0 - b)).ln()).abs() < 1e-6);
    assert_eq!(m.log_lr(pa, b, Answer::DontKnow), 0.0);
    // C: no frequency → default 0.5; B: unannotated → α
    assert_eq!(m.p_yes(Some(None)), 0.5);
    assert_eq!(m.p_yes(None), 0.05);
    // obligate is capped at 1 − μ, so "no" does not veto
    let heart = idx.query_term(TermId(10), None).unwrap();
    let p = m.p_yes(idx.disease(100001).unwrap().frequency_in(&heart.set));
    assert!((p - 0.98).abs() < 1e-6);
    assert!(m
        .log_lr(p, m.background(heart.share), Answer::No)
        .is_finite());
    // a yes to an unannotated term always lowers, to an obligate one raises
    assert!(m.log_lr(m.p_yes(None), m.background(heart.share), Answer::Yes) < 0.0);
    assert!(m.log_lr(p, m.background(heart.share), Answer::Yes) > 0.0);
}

fn flat_face() -> FaceLikelihood {
    FaceLikelihood::from_histogram(&[0.0, 1.0, 2.0], &[5, 5], &[5, 5]).unwrap()
}

fn cands() -> Vec<Candidate> {
    [100001, 100002, 100003, 999999]
        .iter()
        .enumerate()
        .map(|(i, &o)| Candidate {
            label: i,
            name: format!("L{i}"),
            omim: Some(o),
            distance: 0.5,
        })
        .collect()
}

#[test]
fn posterior_moves_with_answers_and_keeps_contributions() {
    let idx = tiny();
    let bank = vec![
        idx.query_term(TermId(10), Some("Heart defect?")).unwrap(),
        idx.query_term(TermId(20), Some("Seizures?")).unwrap(),
    ];
    let mut d = Differential::new(&idx, LrModel::default(), &flat_face(), &cands(), &bank, 30);
    let before: Vec<f32> = d.candidates().iter().map(|s| s.posterior).collect();
    assert!((before[0] - 0.25).abs() < 1e-5, "flat face, uniform prior");
    assert!(
        d.candidates()[3].face_only,
        "OMIM 999999 has no annotations"
    );
    d.answer_question(0, Answer::Yes);
    let top = d.ranked()[0];
    assert_eq!(top.label, 0, "only A has a heart defect");
    assert!(top.contributions[0].log_lr > 0.0);
    assert!(d.candidates()[1].contributions[0].log_lr < 0.0);
    assert_eq!(
        d.candidates()[3].contributions[0].log_lr,
        0.0,
        "face only: LR 1"
    );
    let sum: f32 = d.candidates().iter().map(|s| s.posterior).sum();
    assert!((sum - 1.0).abs() < 1e-5);
    // don't know changes nothing
    let p = d.candidates()[0].posterior;
    d.answer_question(1, Answer::DontKnow);
    assert!((d.candidates()[0].posterior - p).abs() < 1e-6);
    assert_eq!(d.answered(), 2);
}

#[test]
fn chooser_picks_the_separating_question() {
    // Two equally likely candidates A (heart, short stature 1/2) and C (short stature, no freq):
    // heart separates them, short stature (0.5 vs 0.5) does not, seizures (both α) does not.
    let idx = tiny();
    let bank = vec![
        idx.query_term(TermId(30), Some("Short stature?")).unwrap(),
        idx.query_term(TermId(20), Some("Seizures?")).unwrap(),
        idx.query_term(TermId(10), Some("Heart defect?")).unwrap(),
    ];
    let two: Vec<Candidate> = cands()
        .into_iter()
        .filter(|c| c.label == 0 || c.label == 2)
        .collect();
    let mut d = Differential::new(&idx, LrModel::default(), &flat_face(), &two, &bank, 30);
    let (q, gain) = choose_question(&d).unwrap();
    assert_eq!(q, 2, "heart defect separates A from C");
    assert!(gain > 0.1);
    assert!(expected_information_gain(&d, 0) < 1e-6);
    d.answer_question(2, Answer::No);
    assert_ne!(
        choose_question(&d).map(|c| c.0),
        Some(2),
        "asked questions are excluded"
    );
    // random chooser never repeats and runs out
    let mut rng = SplitMix(1);
    let mut seen = vec![2usize];
    while let Some(q) = random_question(&d, &mut rng) {
        assert!(!seen.contains(&q));
        seen.push(q);
        d.answer_question(q, Answer::DontKnow);
    }
    assert_eq!(seen.len(), 3);
}

#[test]
fn stop_rule_on_clear_leader() {
    let idx = tiny();
    let bank = vec![idx.query_term(TermId(10), None).unwrap()];
    let mut c = cands();
    c[0].distance = 0.0;
    let face = FaceLikelihood::from_histogram(&[0.0, 0.5, 1.0], &[100, 0], &[0, 100]).unwrap();
    let d = Differential::new(&idx, LrModel::default(), &face, &c, &bank, 30);
    assert!(d.leader_posterior() >= CLEAR_LEADER);
    assert!(should_stop(&d));
    let d = Differential::new(&idx, LrModel::default(), &flat_face(), &c, &bank, 30);
    assert!(!should_stop(&d));
}

#[test]
fn face_likelihood_is_smoothed_and_non_increasing() {
    // same-label distances small, different large, with a noisy bump that PAV must flatten
    let same: Vec<f32> = (0..200).map(|i| 0.2 + 0.001 * i as f32).collect();
    let mut diff: Vec<f32> = (0..2000).map(|i| 0.5 + 0.0002 * i as f32).collect();
    diff.extend([0.21, 0.22]);
    let f = FaceLikelihood::from_samples(&same, &diff).unwrap();
    assert!(f.log_lr.windows(2).all(|w| w[1] <= w[0]));
    assert!(f.log_lr(0.25) > 2.0, "close is strong evidence");
    assert!(f.log_lr(0.8) < -2.0);
    assert!(f.log_lr(0.3) >= f.log_lr(0.6));
    assert!(f.log_lr(-5.0) <= FACE_LOG_LR_CAP && f.log_lr(99.0) >= -FACE_LOG_LR_CAP);
    assert!(FaceLikelihood::from_samples(&[], &diff).is_err());
    assert!(FaceLikelihood::from_histogram(&[0.0, 1.0], &[1, 2], &[1, 2]).is_err());
}

#[test]
fn missing_and_malformed_files_are_typed_errors() {
    let dir = tempfile::tempdir().unwrap();
    assert!(matches!(
        HpoIndex::load(dir.path()),
        Err(HpoError::Missing(_))
    ));
    std::fs::write(dir.path().join(OBO_FILE), "this is not obo\n").unwrap();
    std::fs::write(
        dir.path().join(HPOA_FILE),
        hpoa(&[(1, "", "HP:0000010", "")]),
    )
    .unwrap();
    assert!(matches!(
        HpoIndex::load(dir.path()),
        Err(HpoError::Malformed { file: "hp.obo", .. })
    ));
    std::fs::write(dir.path().join(OBO_FILE), OBO).unwrap();
    std::fs::write(
        dir.path().join(HPOA_FILE),
        hpoa(&[(100001, "", "HP:0000010", "7/3")]),
    )
    .unwrap();
    match HpoIndex::load(dir.path()) {
        Err(HpoError::Malformed { file, line, .. }) => {
            assert_eq!((file, line), ("phenotype.hpoa", 3));
        }
        other => panic!("{other:?}"),
    }
    std::fs::write(dir.path().join(HPOA_FILE), "database_id\tno\n").unwrap();
    assert!(HpoIndex::load(dir.path()).is_err());
    std::fs::write(
        dir.path().join(HPOA_FILE),
        hpoa(&[(100001, "", "HP:0000011", "1/1")]),
    )
    .unwrap();
    let idx = HpoIndex::load(dir.path()).unwrap();
    assert_eq!(idx.release.obo_sha256.len(), 64);
    assert!(!idx.release.pinned);
    assert_eq!(idx.disease(100001).unwrap().n_terms(), 1);
}

#[test]
fn term_ids_and_omim_parse() {
    assert_eq!("HP:0001631".parse::<TermId>().unwrap(), TermId(1631));
    assert_eq!(TermId(1631).to_string(), "HP:0001631");
    assert!("HP:161".parse::<TermId>().is_err());
    assert!("1631".parse::<TermId>().is_err());
    assert_eq!(parse_omim("OMIM:194050"), Some(194050));
    assert_eq!(parse_omim("194050"), Some(194050));
    assert_eq!(parse_omim("ORPHA:904"), None);
}

#[test]
fn any_term_scores_like_the_same_bank_question() {
    let idx = tiny();
    let bank = vec![idx.query_term(TermId(30), Some("Short stature?")).unwrap()];
    let mut by_bank =
        Differential::new(&idx, LrModel::default(), &flat_face(), &cands(), &bank, 30);
    let mut by_term = Differential::new(&idx, LrModel::default(), &flat_face(), &cands(), &[], 30);
    by_bank.answer_question(0, Answer::No);
    by_term.answer_term(&idx.query_term(TermId(30), None).unwrap(), Answer::No);
    for (a, b) in by_bank.candidates().iter().zip(by_term.candidates()) {
        assert!((a.posterior - b.posterior).abs() < 1e-6);
        assert_eq!(a.contributions[0].log_lr, b.contributions[0].log_lr);
    }
    // b = 0.05 + 0.93 · 0.5 = 0.515: "no" gives A (1/2) and C (default 0.5) ln(0.5 / 0.485),
    // and B (unannotated, 0.05) the larger ln(0.95 / 0.485); face-only D gets 0.
    let c = by_term.candidates();
    let l = |i: usize| c[i].contributions[0].log_lr;
    assert!((l(0) - (0.5f32 / 0.485).ln()).abs() < 1e-5);
    assert_eq!(l(0), l(2));
    assert!((l(1) - (0.95f32 / 0.485).ln()).abs() < 1e-5);
    assert_eq!(l(3), 0.0);
    assert_eq!(by_term.asked(), &[TermId(30)]);
}

#[test]
fn a_question_round_replays_its_questions_and_ends_re_ranked() {
    let idx = tiny();
    let bank = vec![
        idx.query_term(TermId(30), Some("Short stature?")).unwrap(),
        idx.query_term(TermId(20), Some("Seizures?")).unwrap(),
        idx.query_term(TermId(10), Some("Heart defect?")).unwrap(),
    ];
    let round = QuestionRound::new(cands(), flat_face());
    // The first question separates the candidates best; asking again gives the same one.
    let first = round.step(&idx, &bank, &[]);
    assert_eq!(first, round.step(&idx, &bank, &[]));
    let Step::Ask { number: 1, label } = &first else {
        panic!("{first:?}")
    };
    assert!(bank.iter().any(|q| &q.label == label));
    // "Yes" to a heart defect and "no" to seizures: A (septal defect) leads, B is lowered.
    let mut answers = Vec::new();
    let ranked = loop {
        match round.step(&idx, &bank, &answers) {
            Step::Ask { number, label } => {
                assert_eq!(number, answers.len() + 1);
                answers.push(match label.as_str() {
                    "Heart defect?" => Answer::Yes,
                    "Seizures?" => Answer::No,
                    _ => Answer::DontKnow,
                });
            }
            Step::Done { ranked } => break ranked,
        }
    };
    assert!(answers.len() <= MAX_QUESTIONS && answers.len() <= bank.len());
    assert_eq!(ranked[0].label, 0, "{ranked:?}");
    assert!(evidence_line(&ranked[0]).contains("+Heart defect"));
    let b = ranked.iter().find(|s| s.label == 1).unwrap();
    assert!(evidence_line(b).starts_with('-'), "{}", evidence_line(b));
    let none = ranked.iter().find(|s| s.label == 3).unwrap();
    assert_eq!(evidence_line(none), "face only (no HPO annotations)");
    // Extra answers past the end change nothing.
    answers.push(Answer::Yes);
    assert_eq!(round.step(&idx, &bank, &answers), Step::Done { ranked });
}
