//! Helpers shared by the audit tests (`mod support;`) and, through `#[path]`, by the app's
//! report tests; the including file also includes crates/data/tests/support/mod.rs as
//! `data_support`, which gives `Scratch` and `dataset`.

#![allow(dead_code)]

use std::fmt::Write as _;

use glassbox_audit::Classifier;
use glassbox_core::init::uniform01;
use glassbox_core::{
    Activation, Float, GradWrite, Init, LayerSpec, Mlp, MlpSpec, Mode, Rng, Upstream, seeded_rng,
};
use glassbox_data::{Preprocessor, ReadOptions, SchemaOverrides, Table, TargetSpec};
use glassbox_train::{Optimizer, OptimizerConfig, Weighting, bce_with_logits};
use ndarray::{Array2, ArrayView1, ArrayView2, Axis, s};

use crate::data_support::{Scratch, dataset};

/// A bundled file read with the shipped schema, and a preprocessor fitted on the bundled
/// training file.
pub fn shoppers(file: &str) -> (Table, Preprocessor) {
    let overrides =
        SchemaOverrides::from_toml_file(dataset("online_shoppers.schema.toml")).unwrap();
    let (train, schema) = Table::read_infer(
        dataset("online_shoppers_train.csv"),
        &ReadOptions::default(),
        &overrides,
    )
    .unwrap();
    let pre = Preprocessor::fit(&train, &schema, &TargetSpec::new("Revenue")).unwrap();
    let table = Table::read(dataset(file), &ReadOptions::default(), pre.schema()).unwrap();
    (table, pre)
}

/// A `D`-`hidden`-1 network: ReLU hidden layer, sigmoid output (the probability; the
/// loss reads the logits).
pub fn classifier<T: Float>(d: usize, hidden: usize, seed: u64) -> Mlp<T> {
    let spec = MlpSpec::new(
        d,
        vec![
            LayerSpec::new(hidden, Activation::Relu),
            LayerSpec::new(1, Activation::Sigmoid),
        ],
    );
    Mlp::new(spec, Init::GlorotUniform, &mut seeded_rng(seed)).unwrap()
}

/// The minimal training loop: `epochs` passes over the rows in order, mini-batches of
/// `batch` rows, BCE from the logits (L5, L6), PyTorch-form Adam with learning rate `lr`.
pub fn train<T: Float>(
    mlp: &mut Mlp<T>,
    x: ArrayView2<T>,
    y: ArrayView1<T>,
    epochs: usize,
    batch: usize,
    lr: f64,
) {
    let mut opt = Optimizer::new(OptimizerConfig::adam_torch(lr), mlp.num_params()).unwrap();
    let mut ws = mlp.workspace(batch);
    let n = x.nrows();
    for _ in 0..epochs {
        for start in (0..n).step_by(batch) {
            let end = (start + batch).min(n);
            let xb = x.slice(s![start..end, ..]);
            let yb = y.slice(s![start..end]).insert_axis(Axis(1));
            let fwd = mlp.forward(xb, Mode::Inference, &mut ws);
            let mut d_z = Array2::<T>::zeros((end - start, 1));
            bce_with_logits(
                fwd.logits(),
                yb,
                &Weighting::NONE,
                None,
                Some(d_z.view_mut()),
            );
            mlp.zero_grads();
            mlp.backward(fwd, Upstream::DZ(d_z.view()), GradWrite::Accumulate);
            let (p, g) = mlp.params_and_grads_mut();
            opt.step(p, g);
        }
    }
}

/// A classifier trained on the bundled training file (79-16-1, 3 epochs of 128-row
/// batches), with the preprocessor and the bundled test table.
pub fn trained_shoppers_model() -> (Mlp<f32>, Preprocessor, Table) {
    let (train_table, pre) = shoppers("online_shoppers_train.csv");
    let (x, y) = pre.transform(&train_table).unwrap();
    let mut mlp = classifier::<f32>(pre.n_features(), 16, 7);
    train(&mut mlp, x.view(), y.view(), 3, 128, 0.01);
    let (test, _) = shoppers("online_shoppers_test.csv");
    (mlp, pre, test)
}

/// A CSV where only `signal` decides the label: three noise numbers, a noise category
/// and a noise boolean beside it.
pub fn synthetic_csv(scratch: &Scratch, rows: usize, seed: u64) -> std::path::PathBuf {
    let mut rng = seeded_rng(seed);
    let mut csv = String::from("noise1,signal,colour,noise2,flag,noise3,label\n");
    let normal = |rng: &mut Rng| (0..12).map(|_| uniform01(rng)).sum::<f64>() - 6.0;
    for _ in 0..rows {
        let signal = normal(&mut rng);
        let label = if signal + 0.25 * normal(&mut rng) > 0.0 {
            "yes"
        } else {
            "no"
        };
        let colour = ["red", "green", "blue"][(uniform01(&mut rng) * 3.0) as usize];
        let flag = uniform01(&mut rng) < 0.5;
        let _ = writeln!(
            csv,
            "{:.4},{signal:.4},{colour},{:.4},{flag},{:.4},{label}",
            normal(&mut rng),
            normal(&mut rng),
            normal(&mut rng)
        );
    }
    scratch.file("synthetic.csv", csv)
}

pub fn synthetic_model(path: &std::path::Path) -> (Classifier, Preprocessor, Table) {
    let (table, schema) =
        Table::read_infer(path, &ReadOptions::default(), &SchemaOverrides::default()).unwrap();
    let pre = Preprocessor::fit(&table, &schema, &TargetSpec::new("label")).unwrap();
    let (x, y) = pre.transform(&table).unwrap();
    let mut mlp = classifier::<f32>(pre.n_features(), 8, 3);
    train(&mut mlp, x.view(), y.view(), 20, 64, 0.01);
    (Classifier::single(&mlp).unwrap(), pre, table)
}
