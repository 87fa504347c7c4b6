//! Every feature of every example of the bundled log, pinned bit for bit: a hash of all
//! 2,164,654 rows (keys, labels and the `f64` features as the sink receives them, in order).
//! The speed work on the row loop (notes/events.md §7) must change no bit; the golden hash
//! was taken from the code before it.

use std::path::PathBuf;

use glassbox_events::{
    EventSpec, EventsError, ExampleKey, ExampleSink, Labels, SortedLog, featurize,
};

/// FNV-1a over the 64-bit words of every example, in sink order.
struct Hasher {
    hash: u64,
    rows: usize,
}

impl Hasher {
    fn word(&mut self, w: u64) {
        for byte in w.to_le_bytes() {
            self.hash ^= u64::from(byte);
            self.hash = self.hash.wrapping_mul(0x0100_0000_01b3);
        }
    }
}

impl ExampleSink for Hasher {
    fn accept(&mut self, key: &ExampleKey, features: &[f64]) -> Result<(), EventsError> {
        self.word(key.user);
        self.word(key.cutoff_ms as u64);
        self.word(u64::from(key.label == Some(true)));
        for v in features {
            self.word(v.to_bits());
        }
        self.rows += 1;
        Ok(())
    }
}

#[test]
fn every_row_of_the_bundled_log_keeps_its_bits() {
    let path =
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../datasets/retailrocket_events.csv");
    let spec = EventSpec::retailrocket_next_hour();
    let mut log = SortedLog::open(&path, &spec).expect("the bundled log");
    let mut hasher = Hasher {
        hash: 0xcbf2_9ce4_8422_2325,
        rows: 0,
    };
    featurize(&mut log, &spec, Labels::Required, &mut hasher).expect("featurize");
    assert_eq!(hasher.rows, 2_164_654);
    assert_eq!(
        hasher.hash, 0xce63_0a64_f5b8_3e9c,
        "hash {:#018x}",
        hasher.hash
    );
}
