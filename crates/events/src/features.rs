//! The features of one (user, cutoff) example, computed from [`State`] at cutoff `t` — that is,
//! from events with timestamp `< t` only. Definitions: notes/events.md (V4)–(V21).
//!
//! [`FeatureSet::names`] and [`FeatureSet::write_row`] walk the same groups in the same order;
//! the test `names_and_rows_have_equal_length` and the reference test hold them together.

use std::f64::consts::TAU;

use crate::span::{DAY_MS, HOUR_MS, Window};
use crate::spec::EventSpec;
use crate::state::{NO_ITEM, State};

/// The instant-wide values shared by every example at cutoff `t`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct CutoffContext {
    pub t: i64,
    /// (V15) prior rates `B/V` and `C/V` of the whole site before `t` (0 before any view).
    pub prior_buy: f64,
    pub prior_cart: f64,
    /// (V19) hour of day.
    pub hour_sin: f64,
    pub hour_cos: f64,
    /// (V20) site events in the site window.
    pub site_events: f64,
}

/// The feature layout fixed by a spec, with the scratch space to compute rows.
pub(crate) struct FeatureSet {
    shorts: Vec<String>,
    /// Count windows in feature order (V4).
    windows: Vec<Window>,
    recent_ms: i64,
    session_gap_ms: i64,
    recency_cap_s: f64,
    prior_views: f64,
    site_window_ms: i64,
    has_cart: bool,
    has_transactions: bool,
    has_value: bool,
    /// Scratch of the current example: window starts, counts per kind × count window, values
    /// per window, and the (item, position, kind) of each event in the recent window.
    starts: Vec<i64>,
    counts: Vec<u32>,
    values: Vec<f64>,
    recent_items: Vec<(u32, u32, u8)>,
    /// (position of the first event, item) of each distinct item in the recent window.
    first_seen: Vec<(u32, u32)>,
}

/// Seconds from `then` to `t`, or the cap when there is no such event (V7).
fn seconds_since(t: i64, then: i64, cap_s: f64) -> f64 {
    if then == i64::MIN {
        cap_s
    } else {
        (t - then) as f64 / 1000.0
    }
}

impl FeatureSet {
    pub fn new(spec: &EventSpec) -> FeatureSet {
        FeatureSet {
            shorts: spec.events.kinds.iter().map(|k| k.short.clone()).collect(),
            windows: spec.count_windows.clone(),
            recent_ms: spec.recent_window.ms(),
            session_gap_ms: spec.session_gap.ms(),
            recency_cap_s: spec.recency_cap.ms() as f64 / 1000.0,
            prior_views: spec.rate_prior_views,
            site_window_ms: spec.site_window.ms(),
            has_cart: spec.events.cart.is_some(),
            has_transactions: spec.columns.transaction.is_some(),
            has_value: spec.columns.value.is_some(),
            starts: vec![0; spec.count_windows.len()],
            recent_items: Vec::new(),
            first_seen: Vec::new(),
            counts: vec![0; spec.events.kinds.len() * spec.count_windows.len()],
            values: vec![0.0; spec.count_windows.len()],
        }
    }

    /// The feature names, in row order.
    pub fn names(&self) -> Vec<String> {
        let recent = crate::span::Span::from_ms(self.recent_ms, "recent window")
            .map_or_else(|_| String::new(), |s| s.to_string());
        let mut names = Vec::new();
        for short in &self.shorts {
            for w in &self.windows {
                names.push(format!("n_{short}_{w}"));
            }
        }
        names.push(format!("items_viewed_{recent}"));
        names.push("items_viewed_all".into());
        if self.has_cart {
            names.push(format!("items_carted_{recent}"));
            names.push("items_carted_all".into());
        }
        names.push("items_bought_all".into());
        if self.has_transactions {
            names.push("n_purchases_all".into());
        }
        for short in &self.shorts {
            names.push(format!("s_since_{short}"));
        }
        names.push("s_since_event".into());
        names.push("s_since_first_event".into());
        if self.has_cart {
            names.push("open_cart_items".into());
            names.push(format!("open_cart_items_{recent}"));
            names.push("s_since_open_cart".into());
        }
        names.push(format!("sessions_{recent}"));
        names.push("sessions_all".into());
        names.push("ls_events".into());
        for short in &self.shorts {
            let plural = if short.ends_with('s') { "" } else { "s" };
            names.push(format!("ls_{short}{plural}"));
        }
        names.push("ls_items".into());
        names.push("ls_duration_s".into());
        names.push("s_since_ls_start".into());
        names.push("ls_active".into());
        names.push(format!("item_buy_rate_max_{recent}"));
        names.push(format!("item_buy_rate_mean_{recent}"));
        if self.has_cart {
            names.push(format!("item_cart_rate_max_{recent}"));
        }
        names.push(format!("item_views_mean_{recent}"));
        names.push("last_view_item_buy_rate".into());
        names.push("last_view_item_views".into());
        if self.has_cart {
            names.push("open_cart_buy_rate_max".into());
        }
        names.push("hour_sin".into());
        names.push("hour_cos".into());
        let site = crate::span::Span::from_ms(self.site_window_ms, "site window")
            .map_or_else(|_| String::new(), |s| s.to_string());
        names.push(format!("site_events_{site}"));
        if self.has_value {
            for w in &self.windows {
                names.push(format!("value_{w}"));
            }
        }
        names
    }

    /// The values shared by all examples at cutoff `t` (state holds the events before `t`,
    /// the site window already pruned to `[t − site window, t)`).
    pub fn context(&self, state: &State, t: i64) -> CutoffContext {
        let r = state.roles;
        let views = state.site_count[usize::from(r.view)] as f64;
        let (prior_buy, prior_cart) = if views > 0.0 {
            let buys = state.site_count[usize::from(r.positive)] as f64;
            let carts = r
                .cart
                .map_or(0.0, |c| state.site_count[usize::from(c)] as f64);
            (buys / views, carts / views)
        } else {
            (0.0, 0.0)
        };
        // (V19) h = the hour of day of t in UTC, a whole number: 06:30 is hour 6.
        let hour = (t.rem_euclid(DAY_MS) / HOUR_MS) as f64;
        let angle = TAU * hour / 24.0;
        CutoffContext {
            t,
            prior_buy,
            prior_cart,
            hour_sin: angle.sin(),
            hour_cos: angle.cos(),
            site_events: state.site_recent.len() as f64,
        }
    }

    /// (V15) `r^B_i = (B_i + m·B/V) / (V_i + m)`, `r^C_i = (C_i + m·C/V) / (V_i + m)`, and `V_i`.
    fn item_rates(&self, state: &State, ctx: &CutoffContext, item: u32) -> (f64, f64, f64) {
        let r = state.roles;
        let row = &state.item_count[item as usize * r.kinds..(item as usize + 1) * r.kinds];
        let views = f64::from(row[usize::from(r.view)]);
        let buys = f64::from(row[usize::from(r.positive)]);
        let carts = r.cart.map_or(0.0, |c| f64::from(row[usize::from(c)]));
        let m = self.prior_views;
        let denominator = views + m;
        (
            (buys + m * ctx.prior_buy) / denominator,
            (carts + m * ctx.prior_cart) / denominator,
            views,
        )
    }

    /// Writes the features of user `u` at `ctx.t` into `row` (length `names().len()`).
    /// The user's recent history must hold only events of the longest window before `t`.
    pub fn write_row(&mut self, state: &State, u: u32, ctx: &CutoffContext, row: &mut [f64]) {
        let t = ctx.t;
        let r = state.roles;
        let k = r.kinds;
        let user = &state.users[u as usize];
        let kinds = &state.kinds[u as usize * k..(u as usize + 1) * k];

        // One pass over the recent history, in time order.
        let n_windows = self.windows.len();
        self.counts.fill(0);
        self.values.fill(0.0);
        for (start, window) in self.starts.iter_mut().zip(&self.windows) {
            *start = window.start(t);
        }
        let recent_start = t - self.recent_ms;
        let mut session_opens = 0u32;
        let mut first_in_recent: Option<bool> = None;
        self.recent_items.clear();
        for e in &user.recent {
            let kind = usize::from(e.kind);
            for (w, &start) in self.starts.iter().enumerate() {
                if matches!(self.windows[w], Window::Last(_)) && e.time_ms >= start {
                    // (V4) counts of kind k in window w.
                    self.counts[kind * n_windows + w] += 1;
                    if e.kind == r.positive {
                        // (V21) value of positive events in window w.
                        self.values[w] += e.value;
                    }
                }
            }
            if e.time_ms < recent_start {
                continue;
            }
            // (V11) sessions meeting the recent window.
            first_in_recent.get_or_insert(e.opens_session);
            session_opens += u32::from(e.opens_session);
            let position = self.recent_items.len() as u32;
            self.recent_items.push((e.item, position, e.kind));
        }
        // Distinct items of the recent window: sorted by (item, position), each item's group
        // starts with its first event there. (V5) counts the groups holding a view / a cart.
        self.recent_items.sort_unstable();
        self.first_seen.clear();
        let (mut viewed_recent, mut carted_recent) = (0u32, 0u32);
        for group in self.recent_items.chunk_by(|a, b| a.0 == b.0) {
            viewed_recent += u32::from(group.iter().any(|g| g.2 == r.view));
            carted_recent += u32::from(group.iter().any(|g| Some(g.2) == r.cart));
            self.first_seen.push((group[0].1, group[0].0));
        }
        // (V16) statistics of the distinct items touched in the recent window, summed in the
        // order of their first event (an order the past fixes, unlike the items' indices).
        self.first_seen.sort_unstable();
        let (mut buy_max, mut buy_sum, mut cart_max, mut views_sum) = (0.0f64, 0.0, 0.0f64, 0.0);
        for &(_, item) in &self.first_seen {
            let (buy, cart, views) = self.item_rates(state, ctx, item);
            buy_max = buy_max.max(buy);
            buy_sum += buy;
            cart_max = cart_max.max(cart);
            views_sum += views;
        }
        let touched = self.first_seen.len() as u32;
        let last_ms = state.last_ms[u as usize];

        let mut at = 0;
        let mut put = |v: f64| {
            row[at] = v;
            at += 1;
        };
        // (V4) n_{kind}_{window}.
        for (stats, counts) in kinds.iter().zip(self.counts.chunks_exact(n_windows)) {
            for (window, &count) in self.windows.iter().zip(counts) {
                match window {
                    Window::Last(_) => put(f64::from(count)),
                    Window::All => put(f64::from(stats.count)),
                }
            }
        }
        // (V5) distinct items per role.
        put(f64::from(viewed_recent));
        put(f64::from(kinds[usize::from(r.view)].items));
        if let Some(cart) = r.cart {
            put(f64::from(carted_recent));
            put(f64::from(kinds[usize::from(cart)].items));
        }
        put(f64::from(kinds[usize::from(r.positive)].items));
        // (V6) distinct transactions.
        if self.has_transactions {
            put(f64::from(user.purchases));
        }
        // (V7) recency per kind; (V8) of any event and of the first event.
        let cap = self.recency_cap_s;
        for stats in kinds {
            put(seconds_since(t, stats.last_ms, cap));
        }
        put(seconds_since(t, last_ms, cap));
        put(seconds_since(t, user.first_ms, cap));
        // (V9) open cart; (V10) its recent part and recency; (V18) its best buy rate.
        let mut open_buy_max = 0.0f64;
        if self.has_cart {
            let (mut open_recent, mut latest) = (0u32, i64::MIN);
            for &(item, cart_ms) in &user.open_cart {
                open_recent += u32::from(cart_ms >= recent_start);
                latest = latest.max(cart_ms);
                open_buy_max = open_buy_max.max(self.item_rates(state, ctx, item).0);
            }
            put(user.open_cart.len() as f64);
            put(f64::from(open_recent));
            put(seconds_since(t, latest, cap));
        }
        // (V11) sessions: those meeting the recent window (a session begun before the window
        // and continued into it counts), and all.
        let continued = first_in_recent.is_some_and(|opens| !opens);
        put(f64::from(session_opens + u32::from(continued)));
        put(f64::from(user.sessions));
        // (V12) the last session's counts.
        put(f64::from(user.session_events));
        for stats in kinds {
            put(f64::from(stats.in_session));
        }
        put(f64::from(user.session_items));
        // (V13) its duration and age; (V14) whether it is still open.
        put(seconds_since(last_ms, user.session_start_ms, 0.0));
        put(seconds_since(t, user.session_start_ms, cap));
        put(
            if last_ms != i64::MIN && t - last_ms <= self.session_gap_ms {
                1.0
            } else {
                0.0
            },
        );
        // (V16) touched items' rates.
        let mean = |sum: f64| {
            if touched > 0 {
                sum / f64::from(touched)
            } else {
                0.0
            }
        };
        put(buy_max);
        put(mean(buy_sum));
        if self.has_cart {
            put(cart_max);
        }
        put(mean(views_sum));
        // (V17) the last viewed item.
        if user.last_view_item == NO_ITEM {
            put(0.0);
            put(0.0);
        } else {
            let (buy, _, views) = self.item_rates(state, ctx, user.last_view_item);
            put(buy);
            put(views);
        }
        if self.has_cart {
            put(open_buy_max);
        }
        // (V19) hour of day; (V20) site activity.
        put(ctx.hour_sin);
        put(ctx.hour_cos);
        put(ctx.site_events);
        // (V21) value of positive events per window.
        if self.has_value {
            for (w, window) in self.windows.iter().enumerate() {
                match window {
                    Window::Last(_) => put(self.values[w]),
                    Window::All => put(user.value_all),
                }
            }
        }
        debug_assert_eq!(at, row.len(), "row length differs from the feature names");
    }
}
