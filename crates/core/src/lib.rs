//! glassbox-core: the hand-written maths of the glassbox engine.
//!
//! Shape legend used throughout (notes/backprop.md §0): `N` rows in a batch, `D` inputs,
//! `H` units of a layer, `O` outputs. Gradients are named `d_<symbol>`.

pub mod activation;
pub mod batch_ensemble;
pub mod dense;
pub mod dropout;
pub mod float;
pub mod gemm;
pub mod gradcheck;
pub mod init;
pub mod layer;
pub mod mlp;
pub mod rng;
pub mod shards;
pub mod special;
pub mod tabular;
pub mod threads;
pub mod turns;
pub mod wide;

pub use activation::{Activation, ActivationError, SoftmaxRow, sigmoid};
pub use batch_ensemble::{
    BatchEnsemble, BatchEnsembleCache, BatchEnsembleGrads, BatchEnsembleSpec,
};
pub use dense::{
    Dense, DenseCache, DenseGrads, dense_add_example_sq_norms, dense_backward_input,
    dense_backward_input_naive, dense_backward_params, dense_backward_params_naive, dense_forward,
    dense_forward_naive, dense_gemm_scratch, scale_example_rows, sum_of_squares,
};
pub use dropout::{
    dropout_backward, dropout_forward, dropout_sample_mask, dropout_sample_mask_reference,
};
pub use float::Float;
pub use gemm::{gemm, gemm_naive, gemm_serial};
pub use init::{Init, InitError};
pub use layer::GradWrite;
pub use mlp::{
    Backward, ClipRule, Deltas, Forward, InputLayerSpec, LayerBudget, LayerSpec, Mlp, MlpError,
    MlpSpec, Mode, Segment, TensorInfo, Upstream, Workspace, automatic_clip_factor, clip_factor,
    layer_clip_norm, square_sum,
};
pub use rng::{Rng, seeded_rng};
pub use shards::{ShardPlan, units_of_rank};
pub use tabular::{
    Plr, PlrCache, PlrGrads, PlrSpec, feature_scale_backward, feature_scale_forward,
};
pub use threads::{build_pool, enable_flush_to_zero, init_global_pool};
pub use wide::{
    WideTerm, wide_add_example_sq_norms, wide_backward_input_add, wide_backward_params,
    wide_forward_add, wide_forward_add_naive,
};
