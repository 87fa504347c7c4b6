//! The fuzz targets of `examples/fuzz_loaders.rs` in `cargo test`: two thousand mutated
//! inputs per loader (the long runs of millions are recorded in notes/reliability.md), and
//! every input in tests/fuzz/regressions/ replayed. Any panic fails the test; a clean
//! error is fine.

mod fuzz;

use fuzz::{SplitMix, Target};
use proptest::prelude::*;

fn mutated(target: Target, seed: u64, reseal: bool) -> Vec<u8> {
    let seeds = fuzz::seeds(target);
    let mut rng = SplitMix(seed);
    let base = &seeds[rng.below(seeds.len())];
    let other = &seeds[rng.below(seeds.len())];
    let input = fuzz::mutate(base, other, target, &mut rng, 1 << 16);
    let resealed = match (target, reseal) {
        (Target::Bundle, true) => glassbox_app::bundle::Bundle::reseal(&input),
        (Target::Checkpoint, true) => fuzz::reseal_checkpoint(&input),
        _ => None,
    };
    resealed.unwrap_or(input)
}

#[test]
fn every_seed_loads() {
    let data = fuzz::schema_data();
    for target in Target::ALL {
        for (i, seed) in fuzz::seeds(target).iter().enumerate() {
            for variant in 0..4 {
                assert!(
                    fuzz::run(target, seed, variant, &data) || target == Target::Csv && variant > 0,
                    "{} seed {i} (variant {variant}) is refused",
                    target.name()
                );
            }
        }
    }
}

#[test]
fn regressions_do_not_panic() {
    let data = fuzz::schema_data();
    let dir = fuzz::root().join("tests/fuzz/regressions");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        let Some(target) = Target::ALL.into_iter().find(|t| name.starts_with(t.name())) else {
            continue;
        };
        let bytes = std::fs::read(&path).unwrap();
        for variant in 0..4 {
            fuzz::run(target, &bytes, variant, &data);
        }
        n += 1;
    }
    assert!(n > 0, "no regression inputs in {}", dir.display());
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2_000))]

    #[test]
    fn csv_loader_never_panics(seed in any::<u64>(), variant in 0u64..4) {
        fuzz::load_csv(&mutated(Target::Csv, seed, false), variant);
    }

    #[test]
    fn schema_loader_never_panics(seed in any::<u64>()) {
        let data = fuzz::schema_data();
        fuzz::load_schema(&mutated(Target::Schema, seed, false), &data);
    }

    #[test]
    fn bundle_loader_never_panics(seed in any::<u64>(), reseal in any::<bool>()) {
        fuzz::load_bundle(&mutated(Target::Bundle, seed, reseal));
    }

    #[test]
    fn checkpoint_loader_never_panics(seed in any::<u64>(), reseal in any::<bool>()) {
        fuzz::load_checkpoint(&mutated(Target::Checkpoint, seed, reseal));
    }
}
