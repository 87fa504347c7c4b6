//! Learning-rate schedules (notes/optimizers.md, equations O15–O18).
//!
//! `step` counts the optimizer steps already taken: `lr_at(base, 0)` is the rate of the
//! first update, as PyTorch's scheduler `last_epoch` after `step` calls of
//! `scheduler.step()`.

use serde::{Deserialize, Serialize};

/// A learning-rate schedule, as written into a run's manifest.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum Schedule {
    /// `lr = base` (O15).
    Constant,
    /// PyTorch `StepLR(step_size=every, gamma)`: `lr = base·γ^⌊step/every⌋` (O16).
    Step {
        /// Steps between decays (> 0).
        every: usize,
        /// Factor per decay.
        gamma: f64,
    },
    /// PyTorch `CosineAnnealingLR(T_max=total_steps, eta_min=min_lr)`, closed form (O17):
    /// `lr = min + (base − min)·(1 + cos(π·step/T))/2` for `step ≤ T`, then held at
    /// `min_lr` (PyTorch's closed form would rise again after `T_max`).
    Cosine {
        /// T (> 0): steps from `base` down to `min_lr`.
        total_steps: usize,
        /// The floor.
        min_lr: f64,
    },
    /// Linear warm-up (O18): `lr = base·(step + 1)/steps` for `step < steps` (from
    /// `base/steps` up to `base`), then `then` counted from the end of the warm-up:
    /// `then.lr_at(base, step − steps)`. PyTorch: `SequentialLR([LinearLR(start_factor =
    /// 1/steps, total_iters = steps − 1), then], milestones=[steps])`.
    Warmup {
        /// Warm-up length (> 0).
        steps: usize,
        /// The schedule after it.
        then: Box<Schedule>,
    },
}

/// An invalid schedule.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("schedule: {0}")]
pub struct ScheduleError(pub String);

impl Schedule {
    /// The learning rate of update number `step + 1` (`step` updates already taken).
    ///
    /// # Panics
    /// If `every`, `total_steps` or the warm-up `steps` is 0 ([`Schedule::validate`]).
    pub fn lr_at(&self, base_lr: f64, step: usize) -> f64 {
        match self {
            Schedule::Constant => base_lr, // O15
            Schedule::Step { every, gamma } => {
                assert!(*every > 0, "Schedule::Step with every = 0");
                base_lr * gamma.powf((step / every) as f64) // O16
            }
            Schedule::Cosine {
                total_steps,
                min_lr,
            } => {
                assert!(*total_steps > 0, "Schedule::Cosine with total_steps = 0");
                if step >= *total_steps {
                    return *min_lr;
                }
                let phase = std::f64::consts::PI * step as f64 / *total_steps as f64;
                min_lr + (base_lr - min_lr) * (1.0 + phase.cos()) / 2.0 // O17
            }
            Schedule::Warmup { steps, then } => {
                assert!(*steps > 0, "Schedule::Warmup with steps = 0");
                if step < *steps {
                    base_lr * (step + 1) as f64 / *steps as f64 // O18
                } else {
                    then.lr_at(base_lr, step - steps)
                }
            }
        }
    }

    /// Checks lengths (> 0) and factors (γ > 0, `min_lr ≥ 0`, finite).
    ///
    /// # Errors
    /// [`ScheduleError`] describing the first problem.
    pub fn validate(&self) -> Result<(), ScheduleError> {
        match self {
            Schedule::Constant => Ok(()),
            Schedule::Step { every, gamma } => {
                if *every == 0 {
                    Err(ScheduleError("Step.every must be > 0".into()))
                } else if !(gamma.is_finite() && *gamma > 0.0) {
                    Err(ScheduleError(format!(
                        "Step.gamma must be positive and finite, got {gamma}"
                    )))
                } else {
                    Ok(())
                }
            }
            Schedule::Cosine {
                total_steps,
                min_lr,
            } => {
                if *total_steps == 0 {
                    Err(ScheduleError("Cosine.total_steps must be > 0".into()))
                } else if !(min_lr.is_finite() && *min_lr >= 0.0) {
                    Err(ScheduleError(format!(
                        "Cosine.min_lr must be ≥ 0 and finite, got {min_lr}"
                    )))
                } else {
                    Ok(())
                }
            }
            Schedule::Warmup { steps, then } => {
                if *steps == 0 {
                    Err(ScheduleError("Warmup.steps must be > 0".into()))
                } else {
                    then.validate()
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() <= 1e-15 * b.abs().max(1.0)
    }

    #[test]
    fn step_decay_literal() {
        // StepLR(step_size=3, gamma=0.5) from 0.1: 0.1 ×3, 0.05 ×3, 0.025 …
        let s = Schedule::Step {
            every: 3,
            gamma: 0.5,
        };
        let lrs: Vec<f64> = (0..7).map(|t| s.lr_at(0.1, t)).collect();
        assert_eq!(lrs, [0.1, 0.1, 0.1, 0.05, 0.05, 0.05, 0.025]);
    }

    #[test]
    fn cosine_literal() {
        // T = 4, base 1, min 0: (1 + cos(πt/4))/2 = 1, 0.8535…, 0.5, 0.1464…, 0, then 0.
        let s = Schedule::Cosine {
            total_steps: 4,
            min_lr: 0.0,
        };
        let h = std::f64::consts::FRAC_1_SQRT_2 / 2.0;
        let want = [1.0, 0.5 + h, 0.5, 0.5 - h, 0.0, 0.0, 0.0];
        for (t, w) in want.iter().enumerate() {
            assert!(
                close(s.lr_at(1.0, t), *w),
                "t={t}: {} vs {w}",
                s.lr_at(1.0, t)
            );
        }
        let s = Schedule::Cosine {
            total_steps: 2,
            min_lr: 0.1,
        };
        assert!(close(s.lr_at(0.5, 1), 0.3));
    }

    #[test]
    fn warmup_then_step() {
        let s = Schedule::Warmup {
            steps: 4,
            then: Box::new(Schedule::Step {
                every: 2,
                gamma: 0.1,
            }),
        };
        let lrs: Vec<f64> = (0..8).map(|t| s.lr_at(1.0, t)).collect();
        let want = [0.25, 0.5, 0.75, 1.0, 1.0, 1.0, 0.1, 0.1];
        for (a, b) in lrs.iter().zip(want) {
            assert!(close(*a, b), "{lrs:?}");
        }
    }

    #[test]
    fn validation_and_serde() {
        assert!(
            Schedule::Step {
                every: 0,
                gamma: 0.5
            }
            .validate()
            .is_err()
        );
        let bad = Schedule::Warmup {
            steps: 2,
            then: Box::new(Schedule::Cosine {
                total_steps: 0,
                min_lr: 0.0,
            }),
        };
        assert!(bad.validate().is_err());
        let s = Schedule::Warmup {
            steps: 2,
            then: Box::new(Schedule::Cosine {
                total_steps: 10,
                min_lr: 1e-4,
            }),
        };
        s.validate().unwrap();
        let json = serde_json::to_string(&s).unwrap();
        assert_eq!(
            json,
            r#"{"Warmup":{"steps":2,"then":{"Cosine":{"total_steps":10,"min_lr":0.0001}}}}"#
        );
        assert_eq!(serde_json::from_str::<Schedule>(&json).unwrap(), s);
        assert_eq!(
            serde_json::to_string(&Schedule::Constant).unwrap(),
            r#""Constant""#
        );
    }
}
