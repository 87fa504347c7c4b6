//! The featurizer spec: which columns play which role, how time is written, the task (positive
//! event, horizon, cutoffs, who is scored) and the feature windows. Serde-serialisable, so a
//! model bundle can hold it; [`EventSpec::validate`] checks it once, before any row is read.

use serde::{Deserialize, Serialize};

use crate::error::EventsError;
use crate::span::{HOUR_MS, Span, Window};
use crate::time::TimeFormat;

/// Column roles, by header name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Columns {
    /// Who acted (the example's user).
    pub user: String,
    /// When (see [`EventSpec::time_format`]).
    pub time: String,
    /// What happened (a name listed in [`EventKinds`]).
    pub event: String,
    /// On which item.
    pub item: String,
    /// An optional amount (price, revenue); summed over positive events (V21).
    #[serde(default)]
    pub value: Option<String>,
    /// An optional transaction id; distinct ids of positive events are counted (V6).
    #[serde(default)]
    pub transaction: Option<String>,
}

/// One event type: its name in the log and its short name in feature names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventKind {
    /// The value of the event column (`addtocart`).
    pub name: String,
    /// The word used in feature names (`cart` → `n_cart_1h`, `ls_carts`).
    pub short: String,
}

/// The event types of the log, and the role each plays.
///
/// Every event name in the log must be listed (an unlisted one is an error naming its line, so a
/// typo cannot silently drop events). `view` and `positive` are required roles; `cart` (items
/// put aside, the "open cart") is optional; any further kinds are counted like the others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EventKinds {
    /// All kinds, in the order their features appear.
    pub kinds: Vec<EventKind>,
    /// Name of the browsing event (item popularity and the prior rates' denominator).
    pub view: String,
    /// Name of the add-to-cart event, if the log has one.
    #[serde(default)]
    pub cart: Option<String>,
    /// Name of the event the label predicts (`transaction`).
    pub positive: String,
}

/// When examples are cut.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Cutoffs {
    /// `t = anchor + k · step` for every integer `k` with `first event < t < log end`.
    /// `k` is the cutoff's index (used by the protocol's sampling rule).
    Every {
        /// Unix milliseconds of `k = 0`.
        anchor_ms: i64,
        /// The spacing.
        step: Span,
    },
    /// These instants (Unix milliseconds, strictly increasing); `k` is the position in the list.
    List(Vec<i64>),
}

/// Whether the log may be out of time order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum LogOrder {
    /// The log is sorted by time (ties in any order); it is streamed, and a row earlier than
    /// the one before it is an error. Memory: active users, items and one horizon of events.
    Sorted,
    /// The log is read into memory and sorted by time (stable: equal timestamps keep file
    /// order); more than `max_events` rows is an error that says to sort the file first.
    SortInMemory {
        /// The most rows accepted (32 bytes each, half as much again while sorting).
        max_events: usize,
    },
}

/// How user ids are read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum UserIds {
    /// Unsigned integers (`u64`); the key of an example is the id itself.
    #[default]
    Numeric,
    /// Any text; the key is its index in order of first appearance, names in the report.
    Text,
}

/// Everything the featurizer needs to turn a log into examples.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventSpec {
    /// Column roles by header name.
    pub columns: Columns,
    /// Field delimiter (one ASCII byte).
    #[serde(default = "comma")]
    pub delimiter: char,
    /// How the time column is written.
    #[serde(default)]
    pub time_format: TimeFormat,
    /// How user ids are read.
    #[serde(default)]
    pub user_ids: UserIds,
    /// Event types and roles.
    pub events: EventKinds,
    /// The label window: positive event in `[t, t + horizon)` (V3).
    pub horizon: Span,
    /// The cutoffs `t` (V1).
    pub cutoffs: Cutoffs,
    /// The log's end (exclusive), if known: cutoffs must be before it and label windows end by
    /// it. `None`: for `Every` cutoffs, the first cutoff instant after the last event (a log
    /// of whole days stays whole); for a list, 1 ms after the last event.
    #[serde(default)]
    pub log_end_ms: Option<i64>,
    /// Examples are the users with an event in `[t − active_window, t)` (V2).
    pub active_window: Span,
    /// Windows of the per-kind counts (V4) and value sums (V21), in feature order.
    pub count_windows: Vec<Window>,
    /// The recent window `R` of distinct items, sessions, open cart and item statistics (V5, V10,
    /// V11, V16).
    pub recent_window: Span,
    /// The window of site activity (V20).
    pub site_window: Span,
    /// A session ends after more than this much inactivity (V11).
    pub session_gap: Span,
    /// Recency when there is no such event (V7).
    pub recency_cap: Span,
    /// Prior strength `m` of the smoothed item rates (V15), in views.
    pub rate_prior_views: f64,
    /// Whether the log is sorted or is sorted in memory.
    pub order: LogOrder,
}

fn comma() -> char {
    ','
}

/// 2015-06-01 06:00:00 UTC, the RetailRocket log's first cutoff instant (`k = 0`).
pub const RETAILROCKET_ANCHOR_MS: i64 = 1_433_138_400_000;

impl EventSpec {
    /// The data README's protocol on `datasets/retailrocket_events.csv`: cutoffs every 30 min
    /// from 2015-06-01 06:00 UTC, users active in the last 24 h, label = a `transaction` in
    /// the next hour, and the 46 reference features.
    pub fn retailrocket_next_hour() -> EventSpec {
        let kind = |name: &str, short: &str| EventKind {
            name: name.into(),
            short: short.into(),
        };
        EventSpec {
            columns: Columns {
                user: "visitorid".into(),
                time: "timestamp".into(),
                event: "event".into(),
                item: "itemid".into(),
                value: None,
                transaction: Some("transactionid".into()),
            },
            delimiter: ',',
            time_format: TimeFormat::UnixMillis,
            user_ids: UserIds::Numeric,
            events: EventKinds {
                kinds: vec![
                    kind("view", "view"),
                    kind("addtocart", "cart"),
                    kind("transaction", "trans"),
                ],
                view: "view".into(),
                cart: Some("addtocart".into()),
                positive: "transaction".into(),
            },
            horizon: Span::hours(1),
            cutoffs: Cutoffs::Every {
                anchor_ms: RETAILROCKET_ANCHOR_MS,
                step: Span::minutes(30),
            },
            log_end_ms: None,
            active_window: Span::hours(24),
            count_windows: vec![
                Window::Last(Span::hours(1)),
                Window::Last(Span::hours(6)),
                Window::Last(Span::hours(24)),
                Window::All,
            ],
            recent_window: Span::hours(24),
            site_window: Span::hours(1),
            session_gap: Span::minutes(30),
            recency_cap: Span::days(7),
            rate_prior_views: 20.0,
            order: LogOrder::SortInMemory {
                max_events: 20_000_000,
            },
        }
    }

    /// Checks the spec in itself (no log needed): distinct, non-empty names; roles among the
    /// kinds; a strictly increasing cutoff list; a usable delimiter and prior.
    pub fn validate(&self) -> Result<(), EventsError> {
        let fail = |msg: String| Err(EventsError::Spec(msg));
        let c = &self.columns;
        let mut roles: Vec<(&str, &String)> = vec![
            ("user", &c.user),
            ("time", &c.time),
            ("event", &c.event),
            ("item", &c.item),
        ];
        roles.extend(c.value.iter().map(|v| ("value", v)));
        roles.extend(c.transaction.iter().map(|v| ("transaction", v)));
        for (i, (role, name)) in roles.iter().enumerate() {
            if name.trim().is_empty() {
                return fail(format!("the {role} column has an empty name"));
            }
            if let Some((other, _)) = roles[..i].iter().find(|(_, n)| n == name) {
                return fail(format!(
                    "column \"{name}\" is given both the {other} and the {role} role"
                ));
            }
        }
        if !self.delimiter.is_ascii() || matches!(self.delimiter, '"' | '\r' | '\n') {
            return fail(format!(
                "delimiter {:?} must be one ASCII byte other than a quote or a line end",
                self.delimiter
            ));
        }
        let kinds = &self.events.kinds;
        if kinds.is_empty() || kinds.len() > 16 {
            return fail(format!("list 1 to 16 event kinds (got {})", kinds.len()));
        }
        for (i, kind) in kinds.iter().enumerate() {
            if kind.name.is_empty() || kind.short.is_empty() {
                return fail("an event kind has an empty name or short name".into());
            }
            if !kind
                .short
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_')
            {
                return fail(format!(
                    "short name \"{}\" must be letters, digits and _",
                    kind.short
                ));
            }
            if kinds[..i]
                .iter()
                .any(|k| k.name == kind.name || k.short == kind.short)
            {
                return fail(format!(
                    "event kind \"{}\" / \"{}\" is listed twice",
                    kind.name, kind.short
                ));
            }
        }
        let roles = [
            ("view", Some(&self.events.view)),
            ("cart", self.events.cart.as_ref()),
            ("positive", Some(&self.events.positive)),
        ];
        for (role, name) in roles {
            if let Some(name) = name
                && !kinds.iter().any(|k| &k.name == name)
            {
                return fail(format!(
                    "the {role} event \"{name}\" is not among the listed kinds"
                ));
            }
        }
        let distinct_roles = [
            Some(&self.events.view),
            self.events.cart.as_ref(),
            Some(&self.events.positive),
        ];
        for (i, a) in distinct_roles.iter().enumerate() {
            if a.is_some() && distinct_roles[..i].contains(a) {
                return fail("the view, cart and positive events must be different kinds".into());
            }
        }
        if let Cutoffs::List(list) = &self.cutoffs {
            if list.is_empty() {
                return fail("the cutoff list is empty".into());
            }
            if list.windows(2).any(|w| w[0] >= w[1]) {
                return fail("cutoffs must be strictly increasing".into());
            }
        }
        if self.count_windows.is_empty() {
            return fail("list at least one count window".into());
        }
        for (i, w) in self.count_windows.iter().enumerate() {
            if self.count_windows[..i].contains(w) {
                return fail(format!("count window {w} is listed twice"));
            }
        }
        if !(self.rate_prior_views.is_finite() && self.rate_prior_views > 0.0) {
            return fail(format!(
                "rate_prior_views must be positive (got {})",
                self.rate_prior_views
            ));
        }
        Ok(())
    }

    /// The longest finite window any feature or the active set looks back (events older than
    /// this are dropped from a user's recent history).
    pub fn longest_window_ms(&self) -> i64 {
        let finite = self.count_windows.iter().filter_map(|w| match w {
            Window::Last(s) => Some(s.ms()),
            Window::All => None,
        });
        finite
            .chain([self.active_window.ms(), self.recent_window.ms()])
            .max()
            .unwrap_or(HOUR_MS)
    }
}

impl Cutoffs {
    /// The index `k` of cutoff `t`: `(t − anchor) / step` for `Every` (when on the grid), the
    /// position for a list; `None` if `t` is not a cutoff.
    pub fn index_of(&self, t: i64) -> Option<i64> {
        match self {
            Cutoffs::Every { anchor_ms, step } => {
                let d = t - anchor_ms;
                (d.rem_euclid(step.ms()) == 0).then(|| d.div_euclid(step.ms()))
            }
            Cutoffs::List(list) => list.binary_search(&t).ok().map(|i| i as i64),
        }
    }

    /// The first cutoff strictly after `time` and its index, or `None` (list exhausted).
    pub fn first_after(&self, time: i64) -> Option<(i64, i64)> {
        match self {
            Cutoffs::Every { anchor_ms, step } => {
                let k = (time - anchor_ms).div_euclid(step.ms()) + 1;
                Some((anchor_ms + k * step.ms(), k))
            }
            Cutoffs::List(list) => {
                let i = list.partition_point(|&t| t <= time);
                list.get(i).map(|&t| (t, i as i64))
            }
        }
    }

    /// The log's end when it is not declared: the first `Every` cutoff after the last event, or
    /// 1 ms after the last event for a list.
    pub fn default_log_end(&self, last_event_ms: i64) -> i64 {
        match self {
            Cutoffs::Every { .. } => self
                .first_after(last_event_ms)
                .map_or(last_event_ms + 1, |(t, _)| t),
            Cutoffs::List(_) => last_event_ms + 1,
        }
    }
}
