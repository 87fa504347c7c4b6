//! `glassbox inspect MODEL [--json]`.

use std::path::PathBuf;

use clap::Args;
use serde_json::json;

use super::Global;
use super::common::load_bundle;
use crate::bundle::Bundle;
use crate::exit::{CliError, ResultExt};
use crate::pipeline::recommend::{inspect_json as recommend_json, is_recommender};
use crate::render::bundle::describe_bundle;
use crate::render::recommend::describe_recommender;

const AFTER_HELP: &str = "\
Examples:
  glassbox inspect runs/case-study/default/model.safetensors
  glassbox inspect model.safetensors --json | jq .info.threshold

The human-readable form lists the layers with their parameter counts, the recipe, the
ensemble members, the training data, the schema (kinds, sentinels, log1p), the feature
groups, the validation metrics and the numerical conventions. --json prints the bundle's
metadata (the `glassbox.bundle` and `glassbox.preprocessor` records) plus the tensor
shapes. A recommender file (`glassbox recommend train`) is described by its record: the data,
each mode's blend and validation NDCG@20, and the tensors' sizes.";

/// Arguments of `inspect`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct InspectArgs {
    /// The model file (model.safetensors) written by `train`, `case-study` or `recommend train`.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,

    /// Print JSON instead of text.
    #[arg(long)]
    pub json: bool,
}

/// Runs `inspect`.
pub fn run(args: InspectArgs, _global: &Global) -> Result<(), CliError> {
    if is_recommender(&args.model) {
        let value = recommend_json(&args.model)?;
        if args.json {
            println!("{}", serde_json::to_string_pretty(&value).internal_err()?);
        } else {
            print!("{}", describe_recommender(&value));
        }
        return Ok(());
    }
    let bundle = load_bundle(&args.model)?;
    let path = args.model.display().to_string();
    if args.json {
        let value = inspect_json(&path, &bundle);
        let text = serde_json::to_string_pretty(&value).internal_err()?;
        println!("{text}");
    } else {
        print!("{}", describe_bundle(&path, &bundle));
        // `run` checked --isa and GLASSBOX_ISA first, so asking cannot panic.
        let isa = glassbox_core::gemm::kernel::active_isa();
        println!("This machine: {}", super::isa_description(isa));
    }
    Ok(())
}

/// What `inspect --json` prints (and `serve` answers on `GET /v1/models/{name}`): the
/// bundle's metadata records, the feature names and the tensor shapes.
pub(crate) fn inspect_json(path: &str, bundle: &Bundle) -> serde_json::Value {
    let tensors: Vec<_> = bundle
        .members
        .iter()
        .enumerate()
        .flat_map(|(k, m)| {
            m.tensors().into_iter().map(move |t| {
                json!({"name": format!("members.{k}.{}", t.name), "dtype": "F32", "shape": t.shape})
            })
        })
        .collect();
    json!({
        "file": path,
        "info": bundle.info,
        "preprocessor": bundle.preprocessor,
        "feature_names": bundle.preprocessor.feature_names(),
        "parameters_per_member": bundle.members.first().map(|m| m.num_params()),
        "tensors": tensors,
        "gemm_isa": glassbox_core::gemm::kernel::active_isa().map(|isa| isa.name()),
    })
}
