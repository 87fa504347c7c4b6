//! glassbox-train: losses, optimizers, schedules, batching, the trainer, metrics and
//! checkpoints. Every formula cites its equation in `notes/`.

pub mod clip;
pub mod loss;
pub mod optim;
pub mod schedule;

pub use clip::{CLIP_NORM_EPS, clip_grad_norm, global_norm};
pub use loss::{
    ClassWeights, KERAS_EPSILON, LossConfig, LossError, LossInput, LossKind, Targets, Weighting,
    bce_keras, bce_with_logits, mse, softmax_cross_entropy,
};
pub use optim::{
    AdamEpsilon, Momentum, OptimError, Optimizer, OptimizerConfig, RmsPropEpsilon, WeightDecay,
};
pub use schedule::{Schedule, ScheduleError};
