//! glassbox-recommend: top-N recommendation from implicit feedback (notes/recommend.md).
//!
//! - [`protocol`]: a log of (user, item, time, basket) → the temporal split, id maps over
//!   training, the truth of the test window, the two modes (K1–K4);
//! - [`retrieval`]: exact, deterministic top-K over the whole catalogue (K5);
//! - [`metrics`]: Recall, NDCG, HR, MAP at K, coverage and popularity of the lists (K6–K11).
//!
//! No file I/O in the maths: `read` turns a CSV into [`protocol::Interaction`]s.

pub mod bpr;
pub mod compare;
pub mod default_model;
pub mod dnn;
pub mod ease;
pub mod embedding;
pub mod knn;
pub mod metrics;
pub mod mf;
pub mod model;
pub mod phases;
pub mod pooling;
pub mod protocol;
pub mod read;
pub mod repeat;
pub mod retrieval;
pub mod sampled;
pub mod select;
pub mod softmax;

pub use metrics::{Summary, UserMetrics, summarize, user_metrics};
pub use protocol::{EvaluatedUser, Interaction, Mode, Owned, Split, SplitCounts, Truth};
pub use retrieval::{Ranked, Scorer, top_k, top_k_of, top_k_of_naive};
