//! glassbox-train: losses, optimizers, schedules, batching, the trainer, metrics and
//! checkpoints. Every formula cites its equation in `notes/`.

pub mod batching;
pub mod checkpoint;
pub mod clip;
pub mod describe;
pub mod distributed;
pub mod history;
pub mod loss;
pub mod metrics;
pub mod model_file;
pub mod optim;
pub mod privacy;
pub mod schedule;
pub mod store;
pub mod trainer;

pub use batching::{Batch, Split, SplitError, stratified_split};
pub use checkpoint::{
    Checkpoint, CheckpointError, MANIFEST_CHECKSUM_KEY, MANIFEST_KEY, Manifest, load_checkpoint,
    read_manifest,
};
pub use clip::{CLIP_NORM_EPS, clip_grad_norm, clip_mlp_grad_norm, global_norm};
pub use describe::Describe;
pub use history::{EarlyStop, EpochRecord, History};
pub use loss::{
    ClassWeights, KERAS_EPSILON, LossConfig, LossError, LossInput, LossKind, Targets, Weighting,
    bce_keras, bce_with_logits, mse, softmax_cross_entropy,
};
pub use loss::{
    DECILE_POWER_RANGE, HUBER_DELTA, ValueHead, ValuePrediction, ZILN_SIGMA_FLOOR, apply_power_map,
    blend, blend_weight, decile_power_map, huber_log1p, level_scale, listwise_ranking, mse_log1p,
    normal_quantile, pairwise_ranking, ziln,
};
pub use optim::{
    AdamEpsilon, Momentum, NoiseCorrection, OptimError, Optimizer, OptimizerConfig, RmsPropEpsilon,
    WeightDecay,
};
pub use schedule::{Schedule, ScheduleError};
pub use trainer::{
    BatchProgress, DataView, EarlyStopping, EarlyStoppingState, Event, Monitor, NonFiniteKind,
    NonFiniteStep, StepBuffers, StepOutcome, TrainConfig, TrainError, Trainer, train_step,
};
