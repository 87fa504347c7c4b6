//! glassbox-train: losses, optimizers, schedules, batching, the trainer, metrics and
//! checkpoints. Every formula cites its equation in `notes/`.

pub mod metrics;
