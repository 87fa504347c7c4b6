//! The model under audit: one network or an ensemble, in `f64`, and the checks that it is a
//! binary classifier reading the preprocessor's features.

use glassbox_core::{Activation, Float, Mlp, MlpSpec, Workspace};
use glassbox_data::Preprocessor;
use glassbox_train::metrics::ensemble::ensemble_probabilities;
use ndarray::ArrayView2;

use crate::AuditError;

/// A binary classifier under audit, in `f64`: one network, or an ensemble whose probability
/// is the mean of its members' `σ(z)` (the model bundle's rule). Every member has D inputs
/// and one output whose activation is sigmoid or identity, so `z`, its last
/// pre-activation, is the member's logit.
#[derive(Debug, Clone, PartialEq)]
pub struct Classifier {
    members: Vec<Mlp<f64>>,
}

impl Classifier {
    /// The members, each cast to `f64` (every parameter widened exactly from `f32`).
    ///
    /// # Errors
    /// [`AuditError::Model`] for no members, a member that is not a one-output classifier
    /// ([`check_binary_output`]), or members with different input counts.
    pub fn new<T: Float>(members: &[Mlp<T>]) -> Result<Self, AuditError> {
        let first = members
            .first()
            .ok_or_else(|| AuditError::Model("the model has no networks".into()))?;
        for (k, m) in members.iter().enumerate() {
            check_binary_output(m.spec())
                .map_err(|e| AuditError::Model(format!("member {k}: {e}")))?;
            if m.spec().inputs != first.spec().inputs {
                return Err(AuditError::Model(format!(
                    "member {k} reads {} features, member 0 reads {}",
                    m.spec().inputs,
                    first.spec().inputs
                )));
            }
        }
        Ok(Classifier {
            members: members.iter().map(Mlp::cast::<f64>).collect(),
        })
    }

    /// One network.
    ///
    /// # Errors
    /// As [`Classifier::new`].
    pub fn single<T: Float>(mlp: &Mlp<T>) -> Result<Self, AuditError> {
        Self::new(std::slice::from_ref(mlp))
    }

    /// The networks, in order.
    pub fn members(&self) -> &[Mlp<f64>] {
        &self.members
    }

    /// K, the probabilities averaged per row (R1): one per network, k per BatchEnsemble
    /// network of k members (N21).
    pub fn probability_count(&self) -> usize {
        self.members.iter().map(|m| m.spec().output_width()).sum()
    }

    /// D, the features every member reads.
    pub fn inputs(&self) -> usize {
        self.members[0].spec().inputs
    }

    /// One workspace per member for batches of up to `rows` rows.
    pub fn workspaces(&self, rows: usize) -> Vec<Workspace<f64>> {
        self.members.iter().map(|m| m.workspace(rows)).collect()
    }

    /// Checks that the model reads the preprocessor's D features.
    ///
    /// # Errors
    /// [`AuditError::Model`] naming both counts.
    pub fn check_fits(&self, pre: &Preprocessor) -> Result<(), AuditError> {
        check_model_fits(&self.members[0], pre)
    }

    /// Checks that X (N, D) has the model's D columns and at least one row.
    ///
    /// # Errors
    /// [`AuditError::Model`] for the wrong width, [`AuditError::InvalidOption`] for no rows.
    pub fn check_batch(&self, x: ArrayView2<f64>) -> Result<(), AuditError> {
        if x.ncols() != self.inputs() {
            return Err(AuditError::Model(format!(
                "X has {} columns but the network has {} inputs",
                x.ncols(),
                self.inputs()
            )));
        }
        if x.nrows() == 0 {
            return Err(AuditError::InvalidOption {
                name: "rows",
                value: "0".into(),
                reason: "no rows to work on".into(),
            });
        }
        Ok(())
    }

    /// The probabilities (N,): the mean over the members, in order, of `σ(z)` (R1, the
    /// bundle's rule, on the f64 networks).
    ///
    /// # Panics
    /// If X does not have D columns or `ws` does not hold one workspace per member.
    pub fn probabilities(&self, x: ArrayView2<f64>, ws: &mut [Workspace<f64>]) -> Vec<f64> {
        assert_eq!(ws.len(), self.members.len(), "one workspace per member");
        ensemble_probabilities(&self.members, x, ws)
    }
}

/// Checks that `mlp` reads the preprocessor's D features.
///
/// # Errors
/// [`AuditError::Model`] naming both counts.
pub fn check_model_fits<T: Float>(mlp: &Mlp<T>, pre: &Preprocessor) -> Result<(), AuditError> {
    let d = pre.n_features();
    if mlp.spec().inputs != d {
        return Err(AuditError::Model(format!(
            "the network reads {} features but the preprocessor produces {d} ({} source columns)",
            mlp.spec().inputs,
            pre.columns().len()
        )));
    }
    Ok(())
}

/// Checks that `spec` is a binary classifier whose probability is `σ` of the last layer's
/// pre-activation: one output, last activation sigmoid (output = probability) or identity
/// (output = logit).
///
/// # Errors
/// [`AuditError::Model`] otherwise.
pub fn check_binary_output(spec: &MlpSpec) -> Result<(), AuditError> {
    let last = spec
        .layers
        .last()
        .ok_or_else(|| AuditError::Model("the network has no layers".into()))?;
    if last.units != 1 {
        return Err(AuditError::Model(format!(
            "a binary classifier has one output, this network has {}",
            last.units
        )));
    }
    match last.activation {
        Activation::Sigmoid | Activation::Identity => Ok(()),
        other => Err(AuditError::Model(format!(
            "the last layer's activation is {other}; a binary classifier's is sigmoid \
             (probability) or identity (logit)"
        ))),
    }
}
