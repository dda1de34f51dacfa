//! The analysis thread: owns the analyzer while the loop runs, takes jobs in order and sends
//! each answer back. The loop sends a preview frame only when no job is outstanding, so frames
//! never queue up behind a slow model (the newest frame is always the one analysed next).
//! A session's analysis also sends its progress as it goes ([`Done::Progress`]): the screen
//! shows it, and a job that reports progress is not a hung one ([`Worker::busy_for`]).

use std::sync::mpsc::{self, Receiver, Sender};
use std::time::Duration;

use crate::analysis::{
    AnalyseError, AnalysisOutcome, Analyzer, Capture, FrameSummary, Progress, ProgressSink, Refined,
};
use crate::camera::Frame;
use crate::hpo::Answer;
use crate::ui::view::SelfCheck;

/// Work for the analyzer.
pub(super) enum Job {
    SelfTest,
    /// `epoch` is the loop's camera-loss count when the frame arrived.
    Preview {
        frame: Frame,
        epoch: u64,
    },
    Analyse(Vec<Capture>),
    Refine(Vec<Answer>),
    /// Forget the patient (no answer).
    Clear,
}

/// An answer.
pub(super) enum Done {
    SelfTest(Vec<SelfCheck>),
    /// What the analyzer saw in `frame`, or why it could not look.
    Preview {
        frame: Frame,
        summary: Result<FrameSummary, AnalyseError>,
        epoch: u64,
    },
    Analysed(Result<AnalysisOutcome, AnalyseError>),
    Refined(Refined),
    /// How far the running analysis has got (not an answer: the job goes on).
    Progress(Progress),
}

/// The loop's end of the thread.
pub(super) struct Worker {
    jobs: Sender<Job>,
    done: Receiver<Done>,
    /// Jobs sent that owe an answer.
    outstanding: usize,
    /// When the oldest outstanding job started, as far as the loop can tell (sent, or the
    /// previous answer came), or last reported progress.
    since: Option<Duration>,
}

impl Worker {
    /// The loop's end and the thread's two ends.
    pub(super) fn channels() -> (Worker, Receiver<Job>, Sender<Done>) {
        let (jobs, job_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let w = Worker {
            jobs,
            done,
            outstanding: 0,
            since: None,
        };
        (w, job_rx, done_tx)
    }

    /// No job is outstanding: a preview frame may go.
    pub(super) fn idle(&self) -> bool {
        self.outstanding == 0
    }

    pub(super) fn send(&mut self, job: Job, now: Duration) {
        let answers = !matches!(job, Job::Clear);
        if self.jobs.send(job).is_err() {
            // The thread is gone (it panicked): the jobs can never be answered.
            log::error!("the analysis thread has stopped; job dropped");
            return;
        }
        if answers {
            if self.outstanding == 0 {
                self.since = Some(now);
            }
            self.outstanding += 1;
        }
    }

    /// The answers and progress reports that have come, without waiting. Either restarts the
    /// outstanding job's clock: a job that reports progress is working.
    pub(super) fn answers(&mut self, now: Duration) -> Vec<Done> {
        let got: Vec<Done> = self.done.try_iter().collect();
        if !got.is_empty() {
            let answered = got
                .iter()
                .filter(|d| !matches!(d, Done::Progress(_)))
                .count();
            self.outstanding = self.outstanding.saturating_sub(answered);
            self.since = (self.outstanding > 0).then_some(now);
        }
        got
    }

    /// How long the current job has run since it started or last reported progress, if one is
    /// running.
    pub(super) fn busy_for(&self, now: Duration) -> Option<Duration> {
        self.since.map(|t| now.saturating_sub(t))
    }
}

/// Carries out one job on the analyzer: the analysis thread's work, and the loop's own when it
/// has no thread. An analysis tells `progress` how far it has got. `None` for a job that owes
/// no answer.
pub(super) fn answer<A: Analyzer>(
    analyzer: &mut A,
    job: Job,
    progress: &ProgressSink<'_>,
) -> Option<Done> {
    Some(match job {
        Job::SelfTest => Done::SelfTest(analyzer.self_test()),
        Job::Preview { frame, epoch } => {
            let summary = analyzer.preview(&frame);
            Done::Preview {
                frame,
                summary,
                epoch,
            }
        }
        Job::Analyse(photos) => {
            let result = analyzer.analyse_reporting(&photos, progress);
            // The photos leave memory as soon as they are analysed.
            drop(photos);
            Done::Analysed(result)
        }
        Job::Refine(answers) => Done::Refined(analyzer.refine(&answers)),
        Job::Clear => {
            analyzer.clear_session();
            return None;
        }
    })
}

/// The thread's body: answers jobs until the loop drops its end.
pub(super) fn serve<A: Analyzer>(analyzer: &mut A, jobs: Receiver<Job>, done: Sender<Done>) {
    for job in jobs {
        let progress = |p| {
            let _ = done.send(Done::Progress(p));
        };
        if let Some(answer) = answer(analyzer, job, &progress) {
            if done.send(answer).is_err() {
                break;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::RgbImage;

    /// An analyzer whose preview always fails.
    struct BrokenPreview;

    impl Analyzer for BrokenPreview {
        fn preview(&mut self, _: &Frame) -> Result<FrameSummary, AnalyseError> {
            Err(AnalyseError::ModelFailed {
                detail: "detector exploded".into(),
            })
        }
        fn analyse(&mut self, _: &[Capture]) -> Result<AnalysisOutcome, AnalyseError> {
            unreachable!("no analysis in these tests")
        }
    }

    /// A failed preview comes back to the loop as the error, with its frame and epoch.
    #[test]
    fn a_failed_preview_is_answered_as_an_error() {
        let frame = Frame::new(RgbImage::new(4, 4), 9, Duration::ZERO);
        let done = answer(
            &mut BrokenPreview,
            Job::Preview { frame, epoch: 2 },
            &|_| {},
        );
        let Some(Done::Preview {
            frame,
            summary,
            epoch,
        }) = done
        else {
            panic!("expected a preview answer");
        };
        assert_eq!((frame.sequence, epoch), (9, 2));
        assert_eq!(
            summary,
            Err(AnalyseError::ModelFailed {
                detail: "detector exploded".into()
            })
        );
    }
}
