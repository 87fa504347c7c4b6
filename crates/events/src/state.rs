//! What the featurizer knows at a cutoff: every event before it, folded into per-user,
//! per-item, per-(user, item) and site state. [`State::ingest`] applies one event; nothing here
//! looks at an event that has not been ingested, which is what keeps features in the past.
//!
//! Memory: one [`UserState`] per user seen, one counter row per item seen, one [`Pair`] per
//! (user, item) touched, distinct (user, transaction) pairs, and the events of the last
//! longest window before each active user's latest event, plus the site window's timestamps.

use std::collections::VecDeque;

use crate::hash::{FastMap, FastSet};
use crate::prefetch::{prefetch, prefetch_slice};
use crate::read::{Event, NO_TRANSACTION};
use crate::spec::EventSpec;

/// "No such item" in [`UserState::last_view_item`].
pub(crate) const NO_ITEM: u32 = u32::MAX;

/// The most bytes of one list a cache hint asks for (the rest is read on demand).
const HINT_BYTES: usize = 512;

/// Role indices of the event kinds.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Roles {
    pub view: u8,
    pub cart: Option<u8>,
    pub positive: u8,
    /// Number of kinds.
    pub kinds: usize,
}

impl Roles {
    pub fn new(spec: &EventSpec) -> Roles {
        let index = |name: &str| {
            spec.events
                .kinds
                .iter()
                .position(|k| k.name == name)
                .map(|i| i as u8)
        };
        Roles {
            view: index(&spec.events.view).unwrap_or(0),
            cart: spec.events.cart.as_deref().and_then(index),
            positive: index(&spec.events.positive).unwrap_or(0),
            kinds: spec.events.kinds.len(),
        }
    }
}

/// One event of a user's recent history.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Recent {
    pub time_ms: i64,
    pub item: u32,
    pub kind: u8,
    /// Whether this event opened a new session (V11).
    pub opens_session: bool,
    pub value: f64,
}

/// The state of one user.
#[derive(Debug, Clone)]
pub(crate) struct UserState {
    /// Events within the longest window before the user's latest event (pruned when an event
    /// arrives, cleared when the user leaves the active set).
    pub recent: VecDeque<Recent>,
    pub first_ms: i64,
    /// Number of sessions so far (V11).
    pub sessions: u32,
    /// The current (last) session: its start, events and distinct items (V12).
    pub session_start_ms: i64,
    pub session_events: u32,
    pub session_items: u32,
    /// Distinct transaction ids of positive events (V6).
    pub purchases: u32,
    /// Sum of values of positive events over all history (V21).
    pub value_all: f64,
    /// The item of the latest view (the last in file order on equal timestamps) (V17).
    pub last_view_item: u32,
    /// The open cart (V9): items whose last add-to-cart is later than their last purchase,
    /// with that add-to-cart's time.
    pub open_cart: Vec<(u32, i64)>,
    /// Whether the user is in the active list.
    pub in_active: bool,
}

impl UserState {
    fn new() -> UserState {
        UserState {
            recent: VecDeque::new(),
            first_ms: i64::MIN,
            sessions: 0,
            session_start_ms: i64::MIN,
            session_events: 0,
            session_items: 0,
            purchases: 0,
            value_all: 0.0,
            last_view_item: NO_ITEM,
            open_cart: Vec::new(),
            in_active: false,
        }
    }
}

/// One user's events of one kind.
#[derive(Debug, Clone, Copy)]
pub(crate) struct KindStats {
    /// Events over all history (V4).
    pub count: u32,
    /// Distinct items (V5).
    pub items: u32,
    /// Events in the current session (V12).
    pub in_session: u32,
    /// Time of the latest (V7); `i64::MIN` if none.
    pub last_ms: i64,
}

const NO_KIND_STATS: KindStats = KindStats {
    count: 0,
    items: 0,
    in_session: 0,
    last_ms: i64::MIN,
};

/// What one user has done to one item.
#[derive(Debug, Clone, Copy)]
struct Pair {
    /// Bit `k` set when the user had an event of kind `k` on the item (V5).
    kinds_seen: u16,
    /// The user's session number when the pair was last seen (V12's distinct items).
    last_session: u32,
    /// Time of the last add-to-cart and of the last positive event (V9).
    last_cart_ms: i64,
    last_positive_ms: i64,
}

/// All state at the current instant.
pub(crate) struct State {
    pub roles: Roles,
    session_gap_ms: i64,
    /// Events older than this before the latest event are dropped from a user's recent history.
    history_ms: i64,
    pub users: Vec<UserState>,
    /// Per user: time of the latest event (`i64::MIN` before any). Kept apart from
    /// [`UserState`] because the active set scans it at every cutoff: 8 bytes a user stay in cache.
    pub last_ms: Vec<i64>,
    /// Per user × kind, one user's kinds side by side (index `u · kinds + k`).
    pub kinds: Vec<KindStats>,
    /// Per item × kind: events of all users so far (V15).
    pub item_count: Vec<u32>,
    /// Per kind: events of the whole site so far (V15).
    pub site_count: Vec<u64>,
    /// Timestamps of the site's events in the site window (V20).
    pub site_recent: VecDeque<i64>,
    pairs: FastMap<(u32, u32), Pair>,
    purchases: FastSet<(u32, u32)>,
}

impl State {
    pub fn new(spec: &EventSpec) -> State {
        let roles = Roles::new(spec);
        State {
            roles,
            session_gap_ms: spec.session_gap.ms(),
            history_ms: spec.longest_window_ms(),
            users: Vec::new(),
            last_ms: Vec::new(),
            kinds: Vec::new(),
            item_count: Vec::new(),
            site_count: vec![0; roles.kinds],
            site_recent: VecDeque::new(),
            pairs: FastMap::default(),
            purchases: FastSet::default(),
        }
    }

    /// Cache hints for a row of user `u` a few rows ahead, in three steps that each need the
    /// previous one's memory: (1) the user's fixed-size state, (2) its recent events and open
    /// cart, (3) the counters of the items those name. Changes no value.
    pub fn prefetch_user(&self, u: u32) {
        let u = u as usize;
        let k = self.roles.kinds;
        prefetch_slice(std::slice::from_ref(&self.users[u]), usize::MAX);
        prefetch_slice(&self.kinds[u * k..(u + 1) * k], usize::MAX);
        prefetch(&self.last_ms[u]);
    }

    /// Step (2) of [`State::prefetch_user`].
    pub fn prefetch_history(&self, u: u32) {
        let user = &self.users[u as usize];
        let (front, back) = user.recent.as_slices();
        prefetch_slice(front, HINT_BYTES);
        prefetch_slice(back, HINT_BYTES);
        prefetch_slice(&user.open_cart, HINT_BYTES);
    }

    /// Step (3) of [`State::prefetch_user`].
    pub fn prefetch_items(&self, u: u32) {
        let user = &self.users[u as usize];
        let k = self.roles.kinds;
        let counters = |item: u32| {
            if let Some(row) = self.item_count.get(item as usize * k) {
                prefetch(row);
            }
        };
        user.recent
            .iter()
            .take(HINT_BYTES / 8)
            .for_each(|e| counters(e.item));
        user.open_cart.iter().for_each(|&(item, _)| counters(item));
        counters(user.last_view_item);
    }

    /// Folds event `e` (the latest so far) into the state. Returns `true` when the user was
    /// not in the active list (the caller adds it).
    pub fn ingest(&mut self, e: &Event) -> bool {
        let k = self.roles.kinds;
        let (u, i, kind) = (e.user as usize, e.item as usize, usize::from(e.kind));
        while self.users.len() <= u {
            self.users.push(UserState::new());
            self.last_ms.push(i64::MIN);
            self.kinds.extend(std::iter::repeat_n(NO_KIND_STATS, k));
        }
        if self.item_count.len() <= i * k {
            self.item_count.resize((i + 1) * k, 0);
        }
        // (V15) item and site counters.
        self.item_count[i * k + kind] += 1;
        self.site_count[kind] += 1;
        self.site_recent.push_back(e.time_ms);

        let user = &mut self.users[u];
        let kinds = &mut self.kinds[u * k..(u + 1) * k];
        let last_ms = self.last_ms[u];
        // (V11) a gap longer than the session gap (or the first event) opens a session.
        let opens_session = last_ms == i64::MIN || e.time_ms - last_ms > self.session_gap_ms;
        if opens_session {
            user.sessions += 1;
            user.session_start_ms = e.time_ms;
            user.session_events = 0;
            user.session_items = 0;
            kinds.iter_mut().for_each(|s| s.in_session = 0);
        }
        if user.first_ms == i64::MIN {
            user.first_ms = e.time_ms;
        }
        self.last_ms[u] = e.time_ms;
        user.session_events += 1;
        let stats = &mut kinds[kind];
        stats.in_session += 1;
        stats.count += 1;
        stats.last_ms = e.time_ms;
        // Events arrive in time order, so no later cutoff's window reaches back past this.
        let history_start = e.time_ms.saturating_sub(self.history_ms);
        while user
            .recent
            .front()
            .is_some_and(|r| r.time_ms < history_start)
        {
            user.recent.pop_front();
        }
        user.recent.push_back(Recent {
            time_ms: e.time_ms,
            item: e.item,
            kind: e.kind,
            opens_session,
            value: e.value,
        });

        let pair = self.pairs.entry((e.user, e.item)).or_insert(Pair {
            kinds_seen: 0,
            last_session: 0,
            last_cart_ms: i64::MIN,
            last_positive_ms: i64::MIN,
        });
        // (V5) first event of this kind on this item.
        if pair.kinds_seen & (1 << kind) == 0 {
            pair.kinds_seen |= 1 << kind;
            self.kinds[u * k + kind].items += 1;
        }
        // (V12) first event on this item in the current session (sessions are numbered 1, 2, …).
        if pair.last_session != user.sessions {
            pair.last_session = user.sessions;
            user.session_items += 1;
        }
        if e.kind == self.roles.view {
            user.last_view_item = e.item;
        }
        if e.kind == self.roles.positive {
            pair.last_positive_ms = e.time_ms;
            user.value_all += e.value;
            if e.transaction != NO_TRANSACTION && self.purchases.insert((e.user, e.transaction)) {
                user.purchases += 1;
            }
        }
        if Some(e.kind) == self.roles.cart {
            pair.last_cart_ms = e.time_ms;
        }
        if Some(e.kind) == self.roles.cart || e.kind == self.roles.positive {
            // (V9) open iff the last add-to-cart is strictly later than the last purchase.
            let open = pair.last_cart_ms > pair.last_positive_ms;
            let slot = user.open_cart.iter().position(|&(item, _)| item == e.item);
            match (open, slot) {
                (true, Some(s)) => user.open_cart[s].1 = pair.last_cart_ms,
                (true, None) => user.open_cart.push((e.item, pair.last_cart_ms)),
                (false, Some(s)) => {
                    user.open_cart.swap_remove(s);
                }
                (false, None) => {}
            }
        }
        let newly_active = !user.in_active;
        user.in_active = true;
        newly_active
    }
}
