//! `GLASSBOX_ISA` / `--isa` rule the private step's hand-written vector paths as they rule
//! the GEMM kernel (`glassbox_core::gemm::kernel::avx2_paths`): forced to `scalar`, the
//! per-example norms (P19, P44), the noise's key stream and block (P22, P23, P27) and the
//! optimizer's loops take their portable code, and a private training gives the bits of
//! every vector instruction set this CPU runs. In a file of its own: the forced instruction
//! set is the process's.

mod support;

use glassbox_core::Init;
use glassbox_core::gemm::kernel::{Isa, avx2_paths, avx512_paths, force_isa};
use glassbox_train::privacy::{DpMethod, DpRequest, NoiseChoice, plan_dp_sgd};
use glassbox_train::{DataView, OptimizerConfig, TrainConfig, Trainer};
use support::{binary_data, binary_spec, bits};

/// The parameters' bits after 2 private epochs of a 6-48-48-1 network (2,737 parameters:
/// two whole noise blocks and a partial one) on 200 rows, on `isa`.
fn train_on(isa: Isa, optimizer: OptimizerConfig, seed: u64) -> Vec<u64> {
    force_isa(Some(isa)).expect("an instruction set this CPU runs");
    let rows = 200;
    let request = DpRequest {
        noise: NoiseChoice::NoiseMultiplier(1.1),
        delta: 1e-3,
        clip_norm: 1.0,
        method: DpMethod::default(),
    };
    let dp = plan_dp_sgd(&request, rows, 16, 2, 1)
        .expect("a valid plan")
        .0;
    let mut config = TrainConfig::keras_recipe(2, seed);
    config.batch_size = 16;
    config.optimizer = optimizer;
    config.threads = Some(2);
    config.privacy = Some(dp);
    let (x, y) = binary_data::<f32>(rows, 6, 1);
    let mut trainer =
        Trainer::<f32>::new(binary_spec(6, &[48, 48], 0.0), Init::TorchDefault, config)
            .expect("valid");
    trainer
        .fit(&DataView::new(x.view(), y.view()), None, &mut |_| {})
        .expect("trains");
    let out = bits(trainer.mlp().params());
    force_isa(None).expect("back to the default");
    out
}

#[test]
fn forced_scalar_runs_no_vector_path_and_trains_the_bits_of_every_vector_isa() {
    force_isa(Some(Isa::Scalar)).expect("scalar runs everywhere");
    assert!(
        !avx2_paths() && !avx512_paths(),
        "scalar forced, a vector path allowed"
    );
    if Isa::Avx2.is_available() {
        force_isa(Some(Isa::Avx2)).expect("available");
        assert!(avx2_paths() && !avx512_paths(), "avx2 forced");
    }
    if Isa::Avx512.is_available() {
        force_isa(Some(Isa::Avx512)).expect("available");
        assert!(avx2_paths() && avx512_paths(), "avx512 forced");
    }
    force_isa(None).expect("back to the default");

    for optimizer in [OptimizerConfig::sgd(0.5), OptimizerConfig::adam_torch(0.01)] {
        let scalar = train_on(Isa::Scalar, optimizer, 5);
        for isa in [Isa::Avx2, Isa::Avx512] {
            if isa.is_available() {
                assert_eq!(scalar, train_on(isa, optimizer, 5), "{isa} vs scalar");
            } else {
                eprintln!("SKIPPED on {isa}: this CPU cannot run it");
            }
        }
        // The comparison can fail: another seed, other bits.
        assert_ne!(scalar, train_on(Isa::Scalar, optimizer, 6), "another seed");
    }
}
