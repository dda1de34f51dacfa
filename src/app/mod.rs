//! The device's behaviour as an Elm-style pure state machine ([`update()`]), and the run loop
//! ([`run::run_device`]) that feeds it events from an injected camera, buttons and clock and
//! carries out its [`Effect`]s.
//!
//! Flow: Starting (self-test) → Preview (framing guidance) → capture photo n of N (capture
//! button; Next finishes early) → Analysing → Results (Next pages, long press clears) or
//! NoCloseMatch. When the result offers phenotype questions (its basis names an HPO release),
//! "next" on the last results page starts them: up to [`crate::hpo::MAX_QUESTIONS`] yes/no/don't
//! know questions (capture / next / hold clear), then the re-ranked list. A missing camera shows
//! an error screen and the app resumes when frames come
//! back; the idle timeout blanks the screen and wipes the session. A self-test `Warning` line
//! (e.g. the last good gallery in use) keeps the start-up screen up until a button is pressed.
//!
//! By job: `event.rs` (what goes in and out of the state machine), `state.rs` (where the app is
//! and what each state shows), `update.rs` (the step from one state to the next, one handler
//! per event), [`run`] (the loop around it), [`buttons`] and [`save`]; `count.rs` says what
//! the per-day counters ([`crate::counters`]) count of each event. The analyzer the loop
//! drives is a port of its own, [`crate::analysis`]; the real one is [`crate::screening`].

pub mod buttons;
mod count;
mod event;
pub mod run;
pub mod save;
mod state;
mod update;

pub use crate::camera::{Clock, ManualClock, SystemClock};
pub use buttons::{ButtonEvent, Buttons, ScriptedButtons, Trigger};
pub use event::{Effect, Event, Notice};
pub use run::{run_device, Device, Notifier, NullNotifier, RunOptions, RunReport, ViewSink};
pub use state::{AppContext, Mode, State};
pub use update::{update, NOT_TAKEN_SHOWN};
