//! `glassbox serve [NAME=]MODEL… [--addr 127.0.0.1:8080]`: the scoring service. The server
//! lives in `glassbox-serve`; this file parses the options, loads the bundles and hands the
//! server a [`Scorer`] per bundle whose numbers are `predict`'s own functions.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use glassbox_core::Workspace;
use glassbox_data::Preprocessor;
use glassbox_serve::{BatchConfig, Loader, ModelEntry, Scorer, Scratch, ServeConfig};
use ndarray::ArrayView2;

use super::Global;
use super::common::load_bundle;
use super::inspect::inspect_json;
use crate::bundle::Bundle;
use crate::exit::{CliError, ResultExt};

const AFTER_HELP: &str = "\
Examples:
  glassbox serve shoppers=runs/case-study/default/model.safetensors
  glassbox serve a=one.safetensors b=two.safetensors --addr 127.0.0.1:9000 --token-file token.txt
  curl -s localhost:8080/v1/models/shoppers/predict -H 'Content-Type: text/csv' --data-binary @rows.csv

Endpoints (notes/serving.md):
  POST /v1/models/{name}/predict   JSON (one row object, an array of them, or {\"rows\": [...]},
                                   keyed by the CSV column names) or text/csv; answers
                                   {\"predictions\": [{\"probability\", \"label\", \"positive\"}]}
  GET  /v1/models                  the models served, with their versions
  GET  /v1/models/{name}           what `glassbox inspect --json` shows, plus \"serving\"
  POST /v1/models/{name}/reload    load the file again (also on SIGHUP); a bad file is refused
  GET  /healthz                    liveness (no token needed)
  GET  /metrics                    Prometheus text

A model is named NAME=FILE, or by its file stem. The server listens on loopback unless --addr
says otherwise; SIGTERM or Ctrl-C stops it after answering the requests in flight. It prints
`listening on http://ADDR` on standard output once it accepts connections.";

/// Arguments of `serve`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct ServeArgs {
    /// The model bundles to serve, each `NAME=FILE` or `FILE` (named by its file stem).
    #[arg(value_name = "MODEL", required = true)]
    pub models: Vec<String>,

    /// Address and port to listen on; port 0 picks a free port.
    #[arg(long, default_value = "127.0.0.1:8080", value_name = "IP:PORT")]
    pub addr: SocketAddr,

    /// A file holding the bearer token every endpoint but /healthz requires.
    #[arg(long, value_name = "FILE")]
    pub token_file: Option<PathBuf>,

    /// The largest request body, in bytes (413 beyond).
    #[arg(long, default_value_t = 16 << 20, value_name = "BYTES")]
    pub max_body_bytes: usize,

    /// The most rows in one request (413 beyond).
    #[arg(long, default_value_t = 10_000, value_name = "ROWS")]
    pub max_rows: usize,

    /// The longest a request may take, reading its body included, in milliseconds (408).
    #[arg(long, default_value_t = 10_000, value_name = "MS")]
    pub timeout_ms: u64,

    /// The longest a batch waits for more requests after its first, in microseconds. 0
    /// (the default): only the requests that queued while the previous pass ran join it —
    /// batching without added latency. The runtime's timer ticks in milliseconds, so any
    /// other value waits at least about 1 ms.
    #[arg(long, default_value_t = 0, value_name = "US")]
    pub batch_wait_us: u64,

    /// A batch takes no more requests beyond this many rows.
    #[arg(long, default_value_t = 8192, value_name = "ROWS")]
    pub max_batch_rows: usize,

    /// Requests waiting per model beyond which new ones are answered 503.
    #[arg(long, default_value_t = 4096, value_name = "REQUESTS")]
    pub queue: usize,
}

/// A bundle as the server scores with it: `Bundle::probabilities` and `Bundle::decide`,
/// the functions `predict` calls.
struct ServedBundle {
    bundle: Bundle,
    description: serde_json::Value,
}

impl Scorer for ServedBundle {
    fn preprocessor(&self) -> &Preprocessor {
        &self.bundle.preprocessor
    }
    /// The forward pass's buffers live in the batcher's `scratch`, kept from batch to batch
    /// (a fresh workspace per batch meant zeroing and page-faulting in megabytes each time,
    /// a quarter of the CPU at 1,000-row requests, notes/serving.md §7) and from version to
    /// version: a reload of the same architecture allocates no buffers (§4).
    fn probabilities(&self, x: ArrayView2<'_, f32>, scratch: &mut Scratch) -> Vec<f64> {
        let Some(first) = self.bundle.members.first() else {
            return self.bundle.probabilities(x);
        };
        let kept = scratch
            .as_mut()
            .and_then(|s| s.downcast_mut::<Workspace<f32>>())
            .filter(|ws| ws.fits(first));
        if let Some(ws) = kept {
            return self.bundle.probabilities_in(x, ws);
        }
        let mut ws = first.workspace(x.nrows());
        let probs = self.bundle.probabilities_in(x, &mut ws);
        *scratch = Some(Box::new(ws));
        probs
    }
    fn decide(&self, p: f64) -> (bool, &str) {
        self.bundle.decide(p)
    }
    fn threshold(&self) -> f64 {
        self.bundle.info.threshold.value
    }
    fn describe(&self) -> serde_json::Value {
        self.description.clone()
    }
}

/// The server's view of a bundle loaded from `path`.
fn served(path: &Path, bundle: Bundle) -> Arc<dyn Scorer> {
    let description = inspect_json(&path.display().to_string(), &bundle);
    Arc::new(ServedBundle {
        bundle,
        description,
    })
}

/// The reload path: the same checks as at start, the error as a message.
fn load_scorer(path: &Path) -> Result<Arc<dyn Scorer>, String> {
    let bundle = Bundle::load(path).map_err(|e| e.to_string())?;
    Ok(served(path, bundle))
}

/// `NAME=FILE` or `FILE` → (name, file).
fn name_and_path(spec: &str) -> Result<(String, PathBuf), CliError> {
    let (name, path) = match spec.split_once('=') {
        Some((n, p)) if !Path::new(spec).exists() => (n.to_string(), PathBuf::from(p)),
        _ => {
            let path = PathBuf::from(spec);
            let stem = path
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_default();
            (stem, path)
        }
    };
    let valid = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !valid {
        return Err(CliError::usage(anyhow::anyhow!(
            "model name \"{name}\" (from \"{spec}\"): use letters, digits, '-', '_' and '.' (NAME=FILE)"
        )));
    }
    Ok((name, path))
}

fn read_token(path: &Path) -> Result<String, CliError> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read the token file {}: {e}", path.display()))
        .usage_err()?;
    let token = text.trim().to_string();
    if token.is_empty() || token.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(CliError::usage(anyhow::anyhow!(
            "the token file {} must hold one token: non-empty, no spaces or control characters",
            path.display()
        )));
    }
    Ok(token)
}

/// Runs `serve`.
pub fn run(args: ServeArgs, global: &Global) -> Result<(), CliError> {
    let mut names = BTreeSet::new();
    let mut models = Vec::new();
    for spec in &args.models {
        let (name, path) = name_and_path(spec)?;
        if !names.insert(name.clone()) {
            return Err(CliError::usage(anyhow::anyhow!(
                "two models are named \"{name}\"; name them with NAME=FILE"
            )));
        }
        let scorer = served(&path, load_bundle(&path)?);
        models.push(ModelEntry { name, path, scorer });
    }
    for (limit, value) in [
        ("--max-body-bytes", args.max_body_bytes),
        ("--max-rows", args.max_rows),
        ("--max-batch-rows", args.max_batch_rows),
        ("--queue", args.queue),
    ] {
        if value == 0 {
            return Err(CliError::usage(anyhow::anyhow!(
                "{limit} must be at least 1"
            )));
        }
    }
    let token = args.token_file.as_deref().map(read_token).transpose()?;
    if !args.addr.ip().is_loopback() && token.is_none() && !global.quiet {
        eprintln!(
            "note: listening on {} without --token-file: anyone who can reach it can score and reload",
            args.addr
        );
    }
    let config = ServeConfig {
        addr: args.addr,
        token,
        max_body_bytes: args.max_body_bytes,
        max_rows: args.max_rows,
        timeout: Duration::from_millis(args.timeout_ms.max(1)),
        batch: BatchConfig {
            max_wait: Duration::from_micros(args.batch_wait_us),
            max_batch_rows: args.max_batch_rows,
            queue: args.queue,
        },
    };
    let loader: Loader = Arc::new(load_scorer);
    let names: Vec<String> = models.iter().map(|m| m.name.clone()).collect();
    let quiet = global.quiet;
    glassbox_serve::run_until_signalled(config, models, loader, |addr| {
        use std::io::Write as _;
        println!("listening on http://{addr}");
        let _ = std::io::stdout().flush();
        if !quiet {
            eprintln!(
                "serving {} (POST /v1/models/NAME/predict)",
                names.join(", ")
            );
        }
    })
    .map_err(|e| anyhow::anyhow!("cannot serve on {}: {e}", args.addr))
    .usage_err()
}
