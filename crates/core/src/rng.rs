//! The one random-number generator of glassbox.
//!
//! All randomness (initialisers, shuffles, dropout masks) comes from an explicit, seeded
//! [`Rng`] passed in by the caller. ChaCha8 is used because its whole state — seed, stream
//! and word position — can be written to a checkpoint and restored exactly, and its output
//! is specified independently of the `rand` version.

use rand::SeedableRng;

/// The seeded RNG type used everywhere in glassbox.
pub type Rng = rand_chacha::ChaCha8Rng;

/// Builds the RNG for a user-facing `u64` seed.
pub fn seeded_rng(seed: u64) -> Rng {
    Rng::seed_from_u64(seed)
}
