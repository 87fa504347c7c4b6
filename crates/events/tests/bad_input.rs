//! Bad input is a clear error that names the file, line and column where they apply.

mod common;

use std::path::PathBuf;

use common::{iso_spec, message_of, ms, try_examples};
use glassbox_events::{
    Cutoffs, EventSpec, EventsError, FeatureMatrix, Labels, LogOrder, Protocol, ProtocolSink,
    SortedLog, Span, Window, featurize, featurize_protocol,
};

const HEADER: &str = "timestamp,visitorid,event,itemid,transactionid\n";

/// The error of featurizing `body` (after the RetailRocket header) with `spec`.
fn error_of(body: &str, spec: &EventSpec, labels: Labels) -> (EventsError, String) {
    match try_examples(&format!("{HEADER}{body}"), spec, labels) {
        Ok(_) => panic!("expected an error for {body:?}"),
        Err(e) => {
            let message = e.to_string();
            (e, message)
        }
    }
}

fn rr() -> EventSpec {
    EventSpec::retailrocket_next_hour()
}

fn scoring_at(t: i64) -> EventSpec {
    let mut spec = rr();
    spec.cutoffs = Cutoffs::List(vec![t]);
    spec
}

#[test]
fn unknown_column_names_the_role_and_lists_the_header() {
    let mut spec = rr();
    spec.columns.item = "item_id".into();
    let (e, message) = error_of("1,2,view,3,\n", &spec, Labels::Required);
    assert!(
        matches!(e, EventsError::UnknownColumn { role: "item", .. }),
        "{e:?}"
    );
    assert_eq!(
        message,
        "test.csv: no column named \"item_id\" (the item column); the header has \"timestamp\", \
         \"visitorid\", \"event\", \"itemid\", \"transactionid\""
    );
}

#[test]
fn unparseable_timestamps_name_line_and_column() {
    // Line 1 is the header, line 3 is blank, so the bad row is line 4.
    let (e, message) = error_of(
        "1433138409198,1,view,3,\n\n2015-06-01,1,view,3,\n",
        &rr(),
        Labels::Required,
    );
    assert!(matches!(e, EventsError::BadTimestamp { .. }), "{e:?}");
    assert_eq!(
        message,
        "test.csv: line 4, column 1 (\"timestamp\"): cannot read timestamp \"2015-06-01\" as Unix milliseconds"
    );
    // Auto detection fixes the format on the first row.
    let mut spec = iso_spec(Cutoffs::List(vec![0]));
    spec.time_format = glassbox_events::TimeFormat::Auto;
    let text =
        "time,user,event,item,txn\n2015-06-01T06:00:00Z,1,view,3,\n1433138409198,1,view,3,\n";
    let message = message_of(text, &spec, Labels::Unknown);
    assert_eq!(
        message,
        "test.csv: line 3, column 1 (\"time\"): cannot read timestamp \"1433138409198\" as an ISO-8601 date-time"
    );
}

#[test]
fn bad_cells_name_line_and_column() {
    let cases = [
        (
            "1,x,view,3,\n",
            "test.csv: line 2, column 2 (\"visitorid\"): \"x\" is not an unsigned integer user id",
        ),
        (
            "1,-4,view,3,\n",
            "test.csv: line 2, column 2 (\"visitorid\"): \"-4\" is not an unsigned integer user id",
        ),
        (
            "1,4,view,,\n",
            "test.csv: line 2, column 4 (\"itemid\"): \"\" is empty; every event needs an item",
        ),
        (
            "1,4,click,3,\n",
            "test.csv: line 2, column 3 (\"event\"): unknown event \"click\"; the spec lists \"view\", \
             \"addtocart\", \"transaction\"",
        ),
        (
            "1,4,view,3\n",
            "test.csv: line 2 has 4 fields, the header has 5",
        ),
        (
            "1,4,\"view,3,\n",
            "test.csv: line 2: a quoted field is not closed on its line (event logs must hold one row per line)",
        ),
    ];
    for (body, expected) in cases {
        let (_, message) = error_of(body, &rr(), Labels::Required);
        assert!(
            message.starts_with(expected),
            "{message}\n  expected {expected}"
        );
    }
    let mut spec = iso_spec(Cutoffs::List(vec![0]));
    spec.columns.value = Some("price".into());
    let text = "time,user,event,item,txn,price\n2015-06-01T06:00:00Z,1,view,3,,12,5\n";
    let message = message_of(text, &spec, Labels::Unknown);
    assert_eq!(message, "test.csv: line 2 has 7 fields, the header has 6");
    let text = "time,user,event,item,txn,price\n2015-06-01T06:00:00Z,1,view,3,,inf\n";
    let message = message_of(text, &spec, Labels::Unknown);
    assert_eq!(
        message,
        "test.csv: line 2, column 6 (\"price\"): \"inf\" is not a finite number (the value column)"
    );
}

#[test]
fn empty_files_and_header_only() {
    let spec = rr();
    let empty = SortedLog::from_text("e.csv", std::io::Cursor::new(String::from("\n\n")), &spec);
    assert_eq!(
        empty.err().map(|e| e.to_string()).as_deref(),
        Some("e.csv: the file is empty (expected a header line naming the columns)")
    );
    let (e, _) = error_of("", &spec, Labels::Required);
    assert!(matches!(e, EventsError::NoEvents { .. }), "{e:?}");
    let missing = glassbox_events::featurize_to_matrix(
        &PathBuf::from("/nonexistent/log.csv"),
        &spec,
        Labels::Required,
    );
    let message = missing.err().map(|e| e.to_string()).unwrap_or_default();
    assert!(
        message.starts_with("/nonexistent/log.csv: cannot open the event log:"),
        "{message}"
    );
}

#[test]
fn empty_windows_are_refused() {
    for (text, message) in [
        (
            "0h",
            "the history window is empty (0 ms); it must be longer than zero",
        ),
        (
            "-1h",
            "cannot read duration \"-1h\": expected a whole number followed by a unit: ms, s, m, h or d (e.g. 30m)",
        ),
        (
            "30",
            "cannot read duration \"30\": the unit is missing: ms, s, m, h or d (e.g. 30m)",
        ),
        (
            "3w",
            "cannot read duration \"3w\": unknown unit; use ms, s, m, h or d",
        ),
    ] {
        assert_eq!(
            Window::parse(text).map(|_| ()).unwrap_err().to_string(),
            message
        );
    }
    assert_eq!(Window::parse("all").ok(), Some(Window::All));
    assert_eq!(
        Span::parse("90s", "step").map(|s| s.ms()).ok(),
        Some(90_000)
    );
    // A spec read from a bundle with an empty session gap is refused when read.
    let mut json = serde_json::to_value(rr()).expect("serialise");
    json["session_gap"] = "0m".into();
    let err = serde_json::from_value::<EventSpec>(json)
        .map(|_| ())
        .unwrap_err()
        .to_string();
    assert!(err.contains("is empty (0 ms)"), "{err}");
    // A scoring instant before the first event leaves no cutoff: an empty window of examples.
    let (e, message) = error_of(
        "1433138409198,1,view,3,\n",
        &scoring_at(1_433_138_000_000),
        Labels::Unknown,
    );
    assert!(matches!(e, EventsError::NoCutoffs { .. }), "{e:?}");
    assert_eq!(
        message,
        "no cutoff falls inside the log (first event at 1433138409198 ms, end at 1433138409199 ms)"
    );
}

#[test]
fn a_horizon_longer_than_the_log_is_refused() {
    // Events from 06:00:09.198 to 07:50; the log ends at 08:00 (the next cutoff instant), 7,190,802 ms
    // after the first event; horizon 1 day.
    let body = "1433138409198,1,view,3,\n1433145000000,2,transaction,3,1\n";
    let mut spec = rr();
    spec.horizon = Span::hours(24);
    let (e, message) = error_of(body, &spec, Labels::Required);
    assert!(
        matches!(e, EventsError::HorizonLongerThanLog { .. }),
        "{e:?}"
    );
    assert_eq!(
        message,
        "the horizon (86400000 ms) is not shorter than the log (7190802 ms from the first event to the log's end); \
         no cutoff could be labelled"
    );
}

#[test]
fn no_positive_in_the_training_period_is_refused() {
    // Views only in days 1-3, one purchase on day 4 (test).
    let protocol = Protocol::retailrocket();
    let spec = rr();
    let day: i64 = 86_400_000;
    let t0: i64 = 1_433_138_400_000;
    let mut text = String::from(HEADER);
    for h in 0..(4 * 24) {
        text.push_str(&format!("{},{},view,3,\n", t0 + h * 3_600_000 + 1, h % 7));
    }
    text.push_str(&format!("{},1,transaction,3,9\n", t0 + 3 * day + 7_200_000));
    let mut log =
        SortedLog::from_text("days.csv", std::io::Cursor::new(text.clone()), &spec).expect("log");
    let mut sink = ProtocolSink::new(
        protocol.clone(),
        true,
        glassbox_events::feature_names(&spec),
    );
    featurize(&mut log, &spec, Labels::Required, &mut sink).expect("featurize");
    assert_eq!(
        sink.test.positives(),
        2,
        "the purchase labels the two cutoffs before it"
    );
    let message = sink.check().unwrap_err().to_string();
    assert_eq!(
        message,
        format!(
            "the training period holds {} examples and no positive label; nothing to learn from",
            sink.train.rows()
        )
    );
    // The same through the file entry point.
    let path = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("events_no_positive.csv");
    std::fs::write(&path, text).expect("write");
    let err = featurize_protocol(&path, &spec, &protocol, true)
        .map(|_| ())
        .unwrap_err();
    assert!(matches!(err, EventsError::NoPositives { .. }), "{err:?}");
}

#[test]
fn an_unsorted_log_declared_sorted_is_refused_at_its_first_late_row() {
    let body = "1433138409198,1,view,3,\n1433138409300,2,view,3,\n1433138409299,3,view,3,\n";
    let mut spec = rr();
    spec.order = LogOrder::Sorted;
    let (e, message) = error_of(body, &spec, Labels::Required);
    assert!(matches!(e, EventsError::Unsorted { line: 4, .. }), "{e:?}");
    assert!(
        message.starts_with(
            "test.csv: line 4: timestamp 1433138409299 ms is earlier than 1433138409300 ms"
        ),
        "{message}"
    );
    spec.order = LogOrder::SortInMemory { max_events: 2 };
    let (_, message) = error_of(body, &spec, Labels::Required);
    assert!(
        message.starts_with("test.csv: more than 2 events to sort in memory"),
        "{message}"
    );
}

#[test]
fn inconsistent_specs_are_refused_before_reading() {
    let mut spec = rr();
    spec.columns.transaction = Some("itemid".into());
    let (_, message) = error_of("1,2,view,3,\n", &spec, Labels::Required);
    assert_eq!(
        message,
        "invalid featurizer spec: column \"itemid\" is given both the item and the transaction role"
    );
    let mut spec = rr();
    spec.events.positive = "purchase".into();
    let (_, message) = error_of("1,2,view,3,\n", &spec, Labels::Required);
    assert_eq!(
        message,
        "invalid featurizer spec: the positive event \"purchase\" is not among the listed kinds"
    );
    let mut spec = rr();
    spec.cutoffs = Cutoffs::List(vec![5, 5]);
    let (_, message) = error_of("1,2,view,3,\n", &spec, Labels::Required);
    assert_eq!(
        message,
        "invalid featurizer spec: cutoffs must be strictly increasing"
    );
    let mut spec = iso_spec(Cutoffs::List(vec![ms("2020-01-01T01:00:00Z")]));
    spec.log_end_ms = Some(ms("2020-01-01T02:00:00Z"));
    let text = "time,user,event,item,txn\n2020-01-01T00:00:00Z,1,view,3,\n2020-01-01T02:00:00Z,1,view,3,\n";
    let message = message_of(text, &spec, Labels::Required);
    assert_eq!(
        message,
        "invalid featurizer spec: the log has an event at 1577844000000 ms, at or after the declared log end \
         1577844000000 ms"
    );
}

#[test]
fn a_failed_csv_write_leaves_no_file() {
    let matrix = FeatureMatrix::new(vec!["a".into()]);
    let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("events_no_such_dir");
    let path = dir.join("out.csv");
    let err = matrix
        .write_csv_file(&path, &Default::default())
        .unwrap_err()
        .to_string();
    assert!(err.contains("cannot create the output file"), "{err}");
    assert!(!dir.exists());
}

/// Found by fuzzing: one timestamp with extra digits put the log's end millennia away, and
/// the pass would have cut every 30 minutes until then. It is refused.
#[test]
fn a_log_spanning_too_many_cutoffs_is_refused() {
    let body = "1433221332117,1,view,10,\n143322133224324329,2,view,11,\n";
    let (e, message) = error_of(body, &rr(), Labels::Unknown);
    assert!(
        matches!(e, EventsError::TooManyCutoffs { limit: 200_000, .. }),
        "{e:?}"
    );
    assert!(message.contains("more than 200000 cutoffs"), "{message}");
}
