//! The single pass: cutoffs (V1), the examples of each (V2), their labels (V3) and features.
//!
//! Events arrive in time order. Before cutoff `t` is cut, every event with timestamp `< t` has
//! been folded into [`State`] and no later one has; the features read only that state. Labels
//! need the next `horizon` of the log, so events in `[t, t + horizon)` wait in a look-ahead
//! queue until their own cutoffs have passed (memory: one horizon of events).

use std::collections::VecDeque;

use serde::Serialize;

use crate::error::EventsError;
use crate::features::FeatureSet;
use crate::log::{LogStats, SortedLog};
use crate::read::{Event, Ids};
use crate::spec::{Cutoffs, EventSpec};
use crate::state::State;

/// Whether examples get labels.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Labels {
    /// Training and evaluation: only cutoffs whose label window ends by the log's end are cut.
    Required,
    /// Scoring: every cutoff after the first event is cut, label unknown.
    Unknown,
}

/// Identity and label of one example, given to the sink.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExampleKey {
    /// The user's key (its numeric id, or index for text ids).
    pub user: u64,
    /// The cutoff `t`, Unix milliseconds.
    pub cutoff_ms: i64,
    /// The cutoff's index `k` ([`Cutoffs::index_of`]).
    pub cutoff_index: i64,
    /// (V3) whether a positive event follows in `[t, t + horizon)`; `None` when scoring.
    pub label: Option<bool>,
}

/// Where examples go. [`ExampleSink::wants`] is asked first, so a sink that keeps a sample
/// saves the cost of the features it would drop: at each cutoff, for every example in user
/// key order, then [`ExampleSink::accept`] gets the wanted ones in the same order.
pub trait ExampleSink {
    /// Whether to compute and deliver this example (default: all).
    fn wants(&mut self, _key: &ExampleKey) -> bool {
        true
    }
    /// One example's features, in the order of [`FeaturizeReport::feature_names`].
    fn accept(&mut self, key: &ExampleKey, features: &[f64]) -> Result<(), EventsError>;
}

/// One cutoff's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CutoffSummary {
    /// `t`, Unix milliseconds.
    pub cutoff_ms: i64,
    /// `k`.
    pub index: i64,
    /// `false` when the label window runs past the log's end (no example is cut).
    pub labelled: bool,
    /// Active users at `t` (V2); 0 when not labelled in [`Labels::Required`] mode.
    pub examples: usize,
    /// Of them, positive (V3).
    pub positives: usize,
}

/// What a featurizing pass did.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FeaturizeReport {
    /// Feature names, in row order.
    pub feature_names: Vec<String>,
    /// The log's end used for cutoffs and label windows (Unix ms, exclusive).
    pub log_end_ms: i64,
    /// Every cutoff after the first event and before the log's end.
    pub cutoffs: Vec<CutoffSummary>,
    /// Examples cut (over all cutoffs; sinks may have kept fewer).
    pub examples: usize,
    /// Of them, positive.
    pub positives: usize,
    /// What reading found.
    pub log: LogStats,
    /// User id texts by key, when ids are text.
    pub user_names: Vec<String>,
}

/// The driver's moving parts.
struct Pass<'a> {
    spec: &'a EventSpec,
    log: &'a mut SortedLog,
    state: State,
    features: FeatureSet,
    /// Events read but not yet ingested (time ≥ the current cutoff).
    lookahead: VecDeque<Event>,
    exhausted: bool,
    /// Active users (V2) as (key, dense index), ordered by key.
    active: Vec<(u64, u32)>,
    newly_active: Vec<u32>,
    /// Users who left the active set with events still inside the longest window.
    lingering: Vec<u32>,
    /// Per user: the ordinal + 1 of the last cutoff for which the user is positive.
    label_stamp: Vec<u32>,
    row: Vec<f64>,
    /// The examples of the current cutoff the sink wants, with their users.
    wanted: Vec<(ExampleKey, u32)>,
}

/// How many rows ahead each step of the cache hints runs: far enough for a miss to be served,
/// each step behind the one whose memory it reads.
const USER_AHEAD: usize = 12;
const HISTORY_AHEAD: usize = 6;
const ITEMS_AHEAD: usize = 3;

impl Pass<'_> {
    /// Reads until an event at or after `until` is queued, or the log ends.
    fn fill(&mut self, until: i64) -> Result<(), EventsError> {
        while !self.exhausted && self.lookahead.back().is_none_or(|e| e.time_ms < until) {
            match self.log.next_event()? {
                Some(e) => {
                    if let Some(end) = self.spec.log_end_ms
                        && e.time_ms >= end
                    {
                        return Err(EventsError::Spec(format!(
                            "the log has an event at {} ms, at or after the declared log end {end} ms",
                            e.time_ms
                        )));
                    }
                    self.lookahead.push_back(e);
                }
                None => self.exhausted = true,
            }
        }
        Ok(())
    }

    /// Ingests every queued event before `t` and brings the active list and windows to `t`.
    fn advance_to(&mut self, t: i64) {
        while let Some(e) = self.lookahead.front().filter(|e| e.time_ms < t).copied() {
            self.lookahead.pop_front();
            if self.state.ingest(&e) {
                self.newly_active.push(e.user);
            }
        }
        let site_start = t - self.spec.site_window.ms();
        while self
            .state
            .site_recent
            .front()
            .is_some_and(|&s| s < site_start)
        {
            self.state.site_recent.pop_front();
        }
        // (V2) active = an event in [t − active window, t). A leaver's recent events linger
        // while a window longer than the active window may still count them on a return.
        let active_start = t - self.spec.active_window.ms();
        let history_start = t - self.spec.longest_window_ms();
        let (users, last_ms, lingering) = (
            &mut self.state.users,
            &self.state.last_ms,
            &mut self.lingering,
        );
        let mut leave = |u: u32| {
            let keep = last_ms[u as usize] >= active_start;
            if !keep {
                users[u as usize].in_active = false;
                lingering.push(u);
            }
            keep
        };
        self.active.retain(|&(_, u)| leave(u));
        // Joiners too: with cutoffs far apart, a user may have come and gone in between.
        self.newly_active.retain(|&u| leave(u));
        lingering.retain(|&u| {
            let user = &mut users[u as usize];
            while user
                .recent
                .front()
                .is_some_and(|e| e.time_ms < history_start)
            {
                user.recent.pop_front();
            }
            if user.recent.is_empty() {
                user.recent = VecDeque::new();
            }
            !user.in_active && !user.recent.is_empty()
        });
        if !self.newly_active.is_empty() {
            let ids = self.log.ids();
            let mut joining: Vec<(u64, u32)> = self
                .newly_active
                .iter()
                .map(|&u| (ids.user_key(u), u))
                .collect();
            joining.sort_unstable();
            let old = std::mem::take(&mut self.active);
            let mut merged = Vec::with_capacity(old.len() + joining.len());
            let (mut a, mut b) = (0, 0);
            while a < old.len() && b < joining.len() {
                if old[a] <= joining[b] {
                    merged.push(old[a]);
                    a += 1;
                } else {
                    merged.push(joining[b]);
                    b += 1;
                }
            }
            merged.extend_from_slice(&old[a..]);
            merged.extend_from_slice(&joining[b..]);
            self.active = merged;
            self.newly_active.clear();
        }
    }

    /// Cuts the examples of cutoff `t` (ordinal `n`) into `sink`.
    fn cut(
        &mut self,
        t: i64,
        k: i64,
        n: u32,
        labels: Labels,
        sink: &mut dyn ExampleSink,
    ) -> Result<CutoffSummary, EventsError> {
        if self.label_stamp.len() < self.state.users.len() {
            self.label_stamp.resize(self.state.users.len(), 0);
        }
        if labels == Labels::Required {
            // (V3) positive events in [t, t + horizon); the queue holds all of them.
            let label_end = t + self.spec.horizon.ms();
            let positive = self.state.roles.positive;
            for e in self.lookahead.iter().take_while(|e| e.time_ms < label_end) {
                if e.kind == positive && (e.user as usize) < self.label_stamp.len() {
                    self.label_stamp[e.user as usize] = n + 1;
                }
            }
        }
        let ctx = self.features.context(&self.state, t);
        let mut positives = 0;
        for &(user, u) in &self.active {
            let label = match labels {
                Labels::Required => {
                    let positive = self.label_stamp[u as usize] == n + 1;
                    positives += usize::from(positive);
                    Some(positive)
                }
                Labels::Unknown => None,
            };
            let key = ExampleKey {
                user,
                cutoff_ms: t,
                cutoff_index: k,
                label,
            };
            if sink.wants(&key) {
                self.wanted.push((key, u));
            }
        }
        // The rows, with cache hints for the rows ahead (see `State::prefetch_user`).
        let state = &self.state;
        let ahead = |i: usize| self.wanted.get(i).map(|&(_, u)| u);
        for i in 0..self.wanted.len() {
            if let Some(u) = ahead(i + USER_AHEAD) {
                state.prefetch_user(u);
            }
            if let Some(u) = ahead(i + HISTORY_AHEAD) {
                state.prefetch_history(u);
            }
            if let Some(u) = ahead(i + ITEMS_AHEAD) {
                state.prefetch_items(u);
            }
            let (key, u) = self.wanted[i];
            self.features.write_row(state, u, &ctx, &mut self.row);
            sink.accept(&key, &self.row)?;
        }
        self.wanted.clear();
        Ok(CutoffSummary {
            cutoff_ms: t,
            index: k,
            labelled: labels == Labels::Required,
            examples: self.active.len(),
            positives,
        })
    }
}

/// The feature names `spec` produces, in row order.
pub fn feature_names(spec: &EventSpec) -> Vec<String> {
    FeatureSet::new(spec).names()
}

/// The most cutoffs one pass cuts: 200,000 is 11 years of 30-minute cutoffs. A log that
/// spans more (found by fuzzing: one timestamp written with extra digits) is an error, not a
/// pass that would run for hours.
pub const MAX_CUTOFFS: u32 = 200_000;

/// Featurizes a time-ordered log in one pass, giving every example to `sink`.
///
/// Errors: reading errors of the log; [`EventsError::HorizonLongerThanLog`] or
/// [`EventsError::NoCutoffs`] when no cutoff can be cut.
pub fn featurize(
    log: &mut SortedLog,
    spec: &EventSpec,
    labels: Labels,
    sink: &mut dyn ExampleSink,
) -> Result<FeaturizeReport, EventsError> {
    spec.validate()?;
    let features = FeatureSet::new(spec);
    let names = features.names();
    let mut pass = Pass {
        spec,
        state: State::new(spec),
        row: vec![0.0; names.len()],
        features,
        log,
        lookahead: VecDeque::new(),
        exhausted: false,
        active: Vec::new(),
        newly_active: Vec::new(),
        lingering: Vec::new(),
        label_stamp: Vec::new(),
        wanted: Vec::new(),
    };
    pass.fill(i64::MIN + 1)?;
    let Some(first_ms) = pass.lookahead.front().map(|e| e.time_ms) else {
        return Err(EventsError::NoCutoffs {
            first_ms: 0,
            end_ms: 0,
        });
    };
    let horizon = spec.horizon.ms();
    let mut summaries = Vec::new();
    let mut next = spec.cutoffs.first_after(first_ms);
    let mut n = 0u32;
    while let Some((t, k)) = next {
        if n >= MAX_CUTOFFS {
            return Err(EventsError::TooManyCutoffs {
                limit: MAX_CUTOFFS,
                first_ms,
                at_ms: t,
            });
        }
        // Labels need [t, t + horizon) queued; features need everything before t.
        let until = if labels == Labels::Required {
            t.saturating_add(horizon)
        } else {
            t
        };
        pass.fill(until)?;
        let end = log_end(spec, &pass);
        let past_end = end.is_some_and(|end| t >= end);
        if past_end && (labels == Labels::Required || matches!(spec.cutoffs, Cutoffs::Every { .. }))
        {
            break;
        }
        pass.advance_to(t);
        let labelled = end.is_none_or(|end| t.saturating_add(horizon) <= end);
        let summary = if labels == Labels::Required && !labelled {
            // (V1) the label window runs past the log: listed, not cut.
            CutoffSummary {
                cutoff_ms: t,
                index: k,
                labelled: false,
                examples: 0,
                positives: 0,
            }
        } else {
            pass.cut(t, k, n, labels, sink)?
        };
        summaries.push(summary);
        n += 1;
        next = spec.cutoffs.first_after(t);
    }
    // Read the rest, so the whole file is validated and the statistics are complete.
    while !pass.exhausted {
        pass.lookahead.clear();
        pass.fill(i64::MIN + 1)?;
    }
    let end = log_end(spec, &pass).unwrap_or(first_ms);
    let cut = summaries
        .iter()
        .filter(|s| s.labelled || labels == Labels::Unknown)
        .count();
    if cut == 0 {
        return Err(if labels == Labels::Required && horizon >= end - first_ms {
            EventsError::HorizonLongerThanLog {
                horizon_ms: horizon,
                span_ms: end - first_ms,
            }
        } else {
            EventsError::NoCutoffs {
                first_ms,
                end_ms: end,
            }
        });
    }
    let ids: &Ids = pass.log.ids();
    Ok(FeaturizeReport {
        feature_names: names,
        log_end_ms: end,
        examples: summaries.iter().map(|s| s.examples).sum(),
        positives: summaries.iter().map(|s| s.positives).sum(),
        cutoffs: summaries,
        user_names: ids.user_names().to_vec(),
        log: pass.log.stats(),
    })
}

/// The log's end: declared, or once the log is read to its end, [`Cutoffs::default_log_end`].
fn log_end(spec: &EventSpec, pass: &Pass<'_>) -> Option<i64> {
    spec.log_end_ms.or_else(|| {
        pass.exhausted
            .then(|| spec.cutoffs.default_log_end(pass.log.stats().last_ms))
    })
}
