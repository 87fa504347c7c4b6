//! Small hand-made logs whose every feature is worked out by hand (notes/events.md V1–V21).

mod common;

use common::{assert_features, examples, iso_spec, ms};
use glassbox_events::{Cutoffs, Labels, Span, Window};

/// Three users on 2020-01-01 (UTC), rows out of time order, one exact duplicate (the second
/// `00:50 addtocart`), two views by user 1 in the same second (item 11 then item 10, so item 10
/// is the last viewed), a two-row transaction t2.
const LOG: &str = "\
time,user,event,item,txn
2020-01-01T00:10:00Z,1,view,11,
2020-01-01T00:00:00Z,1,view,10,
2020-01-01T00:10:00Z,1,view,10,
2020-01-01T00:50:00Z,1,addtocart,10,
2020-01-01T00:20:00Z,2,view,10,

2020-01-01T00:50:00Z,1,addtocart,10,
2020-01-01T01:00:00Z,2,transaction,10,t1
2020-01-01T02:00:00Z,3,view,12,
2020-01-01T05:00:00Z,1,transaction,10,t2
2020-01-01T05:00:00Z,1,transaction,11,t2
2020-01-01T05:10:00Z,1,addtocart,12,
2020-01-01T06:30:00Z,3,transaction,12,t3
2020-01-01T06:00:00Z,2,view,11,
2020-01-02T08:00:00Z,4,view,10,
";

fn cutoffs() -> (i64, i64) {
    (ms("2020-01-01T06:00:00Z"), ms("2020-01-02T06:20:00Z"))
}

#[test]
fn three_users_at_06_00_every_feature_by_hand() {
    let (t1, t2) = cutoffs();
    let spec = iso_spec(Cutoffs::List(vec![t1, t2]));
    let (ex, report) = examples(LOG, &spec, Labels::Required);
    assert_eq!(report.log.rows, 14);
    assert_eq!(report.log.duplicates_dropped, 1);
    assert!(report.log.sorted_in_memory && report.log.rows_out_of_order == 3);
    assert_eq!(
        report.log_end_ms,
        ms("2020-01-02T08:00:00Z") + 1,
        "a list's log ends 1 ms after its last event"
    );

    // Item statistics before 06:00 (all users; the 06:00 view is not before 06:00):
    //   item 10: V = 3 (00:00, 00:10 by user 1; 00:20 by user 2), C = 1 (00:50), B = 2 (01:00, 05:00)
    //   item 11: V = 1 (00:10), C = 0, B = 1 (05:00)
    //   item 12: V = 1 (02:00), C = 1 (05:10), B = 0 (the 06:30 purchase is later)
    //   site: V = 5, C = 2, B = 3, so B/V = 0.6, C/V = 0.4 and with m = 20:
    //   r^B = (B_i + 12) / (V_i + 20), r^C = (C_i + 8) / (V_i + 20).
    let buy10 = 14.0 / 23.0;
    let cart10 = 9.0 / 23.0;
    let buy11 = 13.0 / 21.0;
    let buy12 = 12.0 / 21.0;
    let cart12 = 9.0 / 21.0;
    let week = 604_800.0;
    let hour_sin = (std::f64::consts::TAU * 6.0 / 24.0).sin(); // 06:00 is hour 6
    let hour_cos = (std::f64::consts::TAU * 6.0 / 24.0).cos();
    // Site events in [05:00, 06:00): 05:00, 05:00, 05:10.
    let site = 3.0;

    // User 1: 00:00 view 10 | 00:10 view 11, view 10 | 00:50 cart 10 (40 min gap: session 2)
    // | 05:00 buy 10, buy 11 (session 3) | 05:10 cart 12. The 6 h window [00:00, 06:00) holds
    // the 00:00 view (window starts are inclusive). Open cart: item 12 only (item 10 bought
    // at 05:00 after its 00:50 add). Last session: 05:00–05:10, items 10, 11, 12.
    let (label, user1) = &ex[&(1, t1)];
    assert_eq!(*label, Some(false));
    #[rustfmt::skip]
    assert_features(user1, &[
        ("n_view_1h", 0.0), ("n_view_6h", 3.0), ("n_view_24h", 3.0), ("n_view_all", 3.0),
        ("n_cart_1h", 1.0), ("n_cart_6h", 2.0), ("n_cart_24h", 2.0), ("n_cart_all", 2.0),
        ("n_trans_1h", 2.0), ("n_trans_6h", 2.0), ("n_trans_24h", 2.0), ("n_trans_all", 2.0),
        ("items_viewed_24h", 2.0), ("items_viewed_all", 2.0),
        ("items_carted_24h", 2.0), ("items_carted_all", 2.0),
        ("items_bought_all", 2.0), ("n_purchases_all", 1.0),
        ("s_since_view", 21_000.0), ("s_since_cart", 3_000.0), ("s_since_trans", 3_600.0),
        ("s_since_event", 3_000.0), ("s_since_first_event", 21_600.0),
        ("open_cart_items", 1.0), ("open_cart_items_24h", 1.0), ("s_since_open_cart", 3_000.0),
        ("sessions_24h", 3.0), ("sessions_all", 3.0),
        ("ls_events", 3.0), ("ls_views", 0.0), ("ls_carts", 1.0), ("ls_trans", 2.0), ("ls_items", 3.0),
        ("ls_duration_s", 600.0), ("s_since_ls_start", 3_600.0), ("ls_active", 0.0),
        ("item_buy_rate_max_24h", buy11),
        ("item_buy_rate_mean_24h", (buy10 + buy11 + buy12) / 3.0),
        ("item_cart_rate_max_24h", cart12),
        ("item_views_mean_24h", 5.0 / 3.0),
        ("last_view_item_buy_rate", buy10), ("last_view_item_views", 3.0),
        ("open_cart_buy_rate_max", buy12),
        ("hour_sin", hour_sin), ("hour_cos", hour_cos), ("site_events_1h", site),
    ], "user 1 at 06:00");

    // User 2: 00:20 view 10 | 01:00 buy 10 (40 min gap: session 2). No add-to-cart.
    let (label, user2) = &ex[&(2, t1)];
    assert_eq!(*label, Some(false), "the 06:00 view is not a purchase");
    #[rustfmt::skip]
    assert_features(user2, &[
        ("n_view_1h", 0.0), ("n_view_6h", 1.0), ("n_view_24h", 1.0), ("n_view_all", 1.0),
        ("n_cart_all", 0.0), ("n_trans_1h", 0.0), ("n_trans_6h", 1.0), ("n_trans_all", 1.0),
        ("items_viewed_24h", 1.0), ("items_carted_all", 0.0), ("items_bought_all", 1.0), ("n_purchases_all", 1.0),
        ("s_since_view", 20_400.0), ("s_since_cart", week), ("s_since_trans", 18_000.0),
        ("s_since_event", 18_000.0), ("s_since_first_event", 20_400.0),
        ("open_cart_items", 0.0), ("open_cart_items_24h", 0.0), ("s_since_open_cart", week),
        ("sessions_24h", 2.0), ("sessions_all", 2.0),
        ("ls_events", 1.0), ("ls_views", 0.0), ("ls_carts", 0.0), ("ls_trans", 1.0), ("ls_items", 1.0),
        ("ls_duration_s", 0.0), ("s_since_ls_start", 18_000.0), ("ls_active", 0.0),
        ("item_buy_rate_max_24h", buy10), ("item_buy_rate_mean_24h", buy10),
        ("item_cart_rate_max_24h", cart10), ("item_views_mean_24h", 3.0),
        ("last_view_item_buy_rate", buy10), ("last_view_item_views", 3.0),
        ("open_cart_buy_rate_max", 0.0), ("site_events_1h", site),
    ], "user 2 at 06:00");

    // User 3: one view of item 12 at 02:00; buys it at 06:30, inside [06:00, 07:00).
    let (label, user3) = &ex[&(3, t1)];
    assert_eq!(*label, Some(true));
    #[rustfmt::skip]
    assert_features(user3, &[
        ("n_view_1h", 0.0), ("n_view_6h", 1.0), ("n_view_all", 1.0), ("n_trans_all", 0.0),
        ("items_viewed_all", 1.0), ("items_bought_all", 0.0), ("n_purchases_all", 0.0),
        ("s_since_view", 14_400.0), ("s_since_trans", week), ("s_since_first_event", 14_400.0),
        ("sessions_all", 1.0), ("ls_events", 1.0), ("ls_views", 1.0), ("ls_items", 1.0),
        ("s_since_ls_start", 14_400.0),
        ("item_buy_rate_max_24h", buy12), ("item_cart_rate_max_24h", cart12), ("item_views_mean_24h", 1.0),
        ("last_view_item_buy_rate", buy12), ("last_view_item_views", 1.0),
    ], "user 3 at 06:00");

    // Cutoff 2020-01-02 06:20: active = an event in [01-01 06:20, 01-02 06:20) = user 3 only
    // (06:30 purchase); user 1 (last 05:10) and user 2 (last 06:00) have left.
    assert_eq!(report.cutoffs[1].examples, 1);
    let (label, user3) = &ex[&(3, t2)];
    assert_eq!(*label, Some(false));
    // Before t2: item 12 has V = 1, C = 1, B = 1; site V = 6, C = 2, B = 4, so
    // r^B_12 = (1 + 20·4/6) / (1 + 20) = 43/63.
    let buy12_t2 = (1.0 + 20.0 * (4.0 / 6.0)) / 21.0;
    #[rustfmt::skip]
    assert_features(user3, &[
        ("n_view_24h", 0.0), ("n_view_all", 1.0), ("n_trans_24h", 1.0), ("n_trans_all", 1.0),
        ("items_viewed_24h", 0.0), ("items_viewed_all", 1.0), ("items_bought_all", 1.0), ("n_purchases_all", 1.0),
        ("sessions_24h", 1.0), ("sessions_all", 2.0), ("ls_trans", 1.0), ("ls_views", 0.0),
        ("s_since_first_event", 102_000.0), ("s_since_trans", 85_800.0),
        ("item_buy_rate_max_24h", buy12_t2), ("last_view_item_buy_rate", buy12_t2),
        ("site_events_1h", 0.0),
    ], "user 3 on day 2");
    assert_eq!(ex.len(), 4);
}

#[test]
fn a_session_begun_before_the_recent_window_counts_once() {
    // With a 1 h recent window at 12:00: events at 10:45, 11:10 (25 min gap: same session),
    // 11:50 (40 min gap: a new session). The window [11:00, 12:00) meets both sessions.
    let log = "time,user,event,item,txn\n\
               2020-01-01T10:45:00Z,5,view,1,\n\
               2020-01-01T11:10:00Z,5,view,2,\n\
               2020-01-01T11:50:00Z,5,view,2,\n\
               2020-01-01T13:00:00Z,6,view,1,\n";
    let t = ms("2020-01-01T12:00:00Z");
    let mut spec = iso_spec(Cutoffs::List(vec![t]));
    spec.recent_window = Span::hours(1);
    spec.active_window = Span::hours(1);
    spec.count_windows = vec![Window::Last(Span::minutes(30)), Window::All];
    let (ex, _) = examples(log, &spec, Labels::Required);
    let (_, user5) = &ex[&(5, t)];
    #[rustfmt::skip]
    assert_features(user5, &[
        ("sessions_1h", 2.0), ("sessions_all", 2.0), ("n_view_30m", 1.0), ("n_view_all", 3.0),
        ("items_viewed_1h", 1.0), ("items_viewed_all", 2.0),
        ("ls_events", 1.0), ("ls_items", 1.0), ("ls_active", 1.0), ("s_since_ls_start", 600.0),
    ], "user 5");
}

#[test]
fn an_add_to_cart_at_the_purchase_instant_is_not_open_in_either_file_order() {
    // Item 1: bought and carted in the same millisecond (cart row first); item 2: the same
    // with the purchase row first; item 3: carted 1 ms after its purchase (open).
    let log = "time,user,event,item,txn\n\
               2020-01-01T10:00:00.000Z,5,addtocart,1,\n\
               2020-01-01T10:00:00.000Z,5,transaction,1,a\n\
               2020-01-01T10:00:00.000Z,5,transaction,2,a\n\
               2020-01-01T10:00:00.000Z,5,addtocart,2,\n\
               2020-01-01T10:00:00.000Z,5,transaction,3,a\n\
               2020-01-01T10:00:00.001Z,5,addtocart,3,\n\
               2020-01-01T13:00:00Z,6,view,1,\n";
    let t = ms("2020-01-01T11:00:00Z");
    let spec = iso_spec(Cutoffs::List(vec![t]));
    let (ex, _) = examples(log, &spec, Labels::Required);
    let (_, user5) = &ex[&(5, t)];
    #[rustfmt::skip]
    assert_features(user5, &[
        ("open_cart_items", 1.0), ("s_since_open_cart", 3_599.999), ("n_purchases_all", 1.0),
        ("items_bought_all", 3.0), ("items_carted_all", 3.0), ("ls_items", 3.0), ("ls_active", 0.0),
    ], "user 5");
}

#[test]
fn every_30m_cutoffs_start_after_the_first_event_and_end_with_the_log() {
    // Events from 06:00:09 to 07:59:59; the log ends at the next cutoff instant, 08:00.
    // Cutoffs 06:30, 07:00, 07:30 (06:00 precedes the first event). With a 1 h horizon only
    // 06:30 and 07:00 are labelled; 07:30 is listed, not cut.
    let log = "time,user,event,item,txn\n\
               2020-01-01T06:00:09Z,1,view,1,\n\
               2020-01-01T07:00:00Z,1,transaction,1,x\n\
               2020-01-01T07:59:59Z,2,view,1,\n";
    let spec = iso_spec(Cutoffs::Every {
        anchor_ms: ms("2020-01-01T06:00:00Z"),
        step: Span::minutes(30),
    });
    let (ex, report) = examples(log, &spec, Labels::Required);
    assert_eq!(report.log_end_ms, ms("2020-01-01T08:00:00Z"));
    let summary: Vec<(i64, bool, usize, usize)> = report
        .cutoffs
        .iter()
        .map(|s| (s.index, s.labelled, s.examples, s.positives))
        .collect();
    // 06:30: user 1, label window [06:30, 07:30) holds its 07:00 purchase. 07:00: the purchase
    // at exactly 07:00 is inside [07:00, 08:00), and not a feature.
    assert_eq!(
        summary,
        vec![(1, true, 1, 1), (2, true, 1, 1), (3, false, 0, 0)]
    );
    let (label, user1) = &ex[&(1, ms("2020-01-01T07:00:00Z"))];
    assert_eq!(*label, Some(true));
    assert_features(
        user1,
        &[("n_trans_all", 0.0), ("s_since_event", 3_591.0)],
        "user 1 at 07:00",
    );

    // Scoring mode cuts 07:30 too, without labels.
    let (ex, report) = examples(log, &spec, Labels::Unknown);
    assert_eq!(report.cutoffs.len(), 3);
    assert_eq!(ex[&(1, ms("2020-01-01T07:30:00Z"))].0, None);
}

#[test]
fn unix_seconds_and_a_value_column() {
    // Value features sum the positive events' values per window (V21).
    let log = "ts;who;what;sku;amount\n\
               1577872800;u1;view;a;\n\
               1577872900.5;u1;buy;a;10.5\n\
               1577876000;u1;buy;b;2\n\
               1577880000;u2;view;a;\n";
    let mut spec = iso_spec(Cutoffs::List(vec![1_577_876_400_000]));
    spec.delimiter = ';';
    spec.time_format = glassbox_events::TimeFormat::Auto;
    spec.user_ids = glassbox_events::UserIds::Text;
    spec.columns.user = "who".into();
    spec.columns.time = "ts".into();
    spec.columns.event = "what".into();
    spec.columns.item = "sku".into();
    spec.columns.value = Some("amount".into());
    spec.columns.transaction = None;
    spec.events.kinds[2].name = "buy".into();
    spec.events.positive = "buy".into();
    spec.events.cart = None;
    spec.events.kinds.remove(1);
    let (ex, report) = examples(log, &spec, Labels::Unknown);
    assert_eq!(report.user_names, vec!["u1".to_string(), "u2".to_string()]);
    // 1577876400 = 2020-01-01 11:00 UTC; u1 (key 0) bought at 10:01:40.5 (10.5) and 10:53:20 (2).
    let (_, u1) = &ex[&(0, 1_577_876_400_000)];
    #[rustfmt::skip]
    assert_features(u1, &[
        ("value_1h", 12.5), ("value_all", 12.5), ("n_trans_1h", 2.0), ("s_since_trans", 400.0),
        ("s_since_first_event", 3_600.0), ("items_bought_all", 2.0), // Item b: V = 0, B = 1; site B/V = 2/1, so (1 + 20·2) / 20 (item a: 41/21).
        ("item_buy_rate_max_24h", 41.0 / 20.0),
    ], "u1");
    assert!(
        !report
            .feature_names
            .iter()
            .any(|n| n.contains("cart") || n == "n_purchases_all")
    );
}

#[test]
fn a_window_longer_than_the_active_window_remembers_a_returning_user() {
    // Count windows 1h, 7d; active window 24h. User 5 views on day 1 (10:00, 11:00), is away,
    // and views again on day 4 at 09:00. At day 4 10:00 the 7 d window [day −3 10:00, day 4
    // 10:00) holds all three views (three sessions: the day-1 views are an hour apart); at day 2
    // 12:00 the user had left (nothing in 24 h).
    let log = "time,user,event,item,txn\n\
               2020-01-01T10:00:00Z,5,view,1,\n\
               2020-01-01T11:00:00Z,5,view,2,\n\
               2020-01-02T11:30:00Z,6,view,1,\n\
               2020-01-04T09:00:00Z,5,view,1,\n\
               2020-01-05T00:00:00Z,6,view,1,\n";
    let (away, back) = (ms("2020-01-02T12:00:00Z"), ms("2020-01-04T10:00:00Z"));
    let mut spec = iso_spec(Cutoffs::List(vec![away, back]));
    spec.count_windows = vec![
        Window::Last(Span::hours(1)),
        Window::Last(Span::days(7)),
        Window::All,
    ];
    let (ex, report) = examples(log, &spec, Labels::Required);
    assert_eq!(
        report.cutoffs[0].examples, 1,
        "only user 6 is active on day 2"
    );
    assert!(!ex.contains_key(&(5, away)));
    let (_, user5) = &ex[&(5, back)];
    #[rustfmt::skip]
    assert_features(user5, &[
        ("n_view_1h", 1.0), ("n_view_168h", 3.0), ("n_view_all", 3.0),
        ("items_viewed_24h", 1.0), ("sessions_24h", 1.0), ("sessions_all", 3.0),
    ], "user 5 back on day 4");
}
