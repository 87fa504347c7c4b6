//! The protocol on the real file reproduces every count of the data README
//! (datasets/README.md, ../shared/datasets/README.md "online_retail_interactions").

use std::path::PathBuf;

use glassbox_recommend::read::{Columns, parse_time, read_interactions};
use glassbox_recommend::{Mode, Split};

fn log() -> Vec<glassbox_recommend::Interaction> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../datasets/online_retail_interactions.csv.gz");
    let columns = Columns::online_retail();
    read_interactions(&path, &columns).expect("reads")
}

#[test]
fn the_protocol_counts_of_the_data_readme() {
    let log = log();
    assert_eq!(log.len(), 396_374);
    let test = Split::new(&log, parse_time("2011-10-01").unwrap(), None);
    let c = &test.counts;
    assert_eq!(c.training_events, 265_451);
    assert_eq!(c.test_events, 130_923);
    assert_eq!(c.training_users, 3_613);
    assert_eq!(c.candidate_items, 3_503);
    assert_eq!(c.training_pairs, 188_407);
    assert_eq!(c.warm_test_users, 1_838);
    assert_eq!(c.cold_test_users, 722);
    assert_eq!(c.test_pairs, 78_316);
    assert_eq!(c.test_repeat_pairs, 25_970);
    assert_eq!(c.test_unknown_item_pairs, 4_663);
    assert_eq!(test.evaluated(Mode::All).len(), 1_838);
    assert_eq!(test.evaluated(Mode::New).len(), 1_768);

    let val = Split::new(
        &log,
        parse_time("2011-09-01").unwrap(),
        Some(parse_time("2011-10-01").unwrap()),
    );
    assert_eq!(val.counts.training_events, 225_580);
    assert_eq!(val.counts.training_users, 3_314);
    assert_eq!(val.counts.candidate_items, 3_389);
    assert_eq!(val.counts.training_pairs, 162_432);
    assert_eq!(val.counts.warm_test_users, 960);
    assert_eq!(val.counts.cold_test_users, 299);
    assert_eq!(val.counts.test_pairs, 29_073);
    assert_eq!(val.evaluated(Mode::New).len(), 887);
}
