//! glassbox-serve: the scoring service behind `glassbox serve` (notes/serving.md).
//!
//! ```text
//! POST /v1/models/{name}/predict   JSON rows or CSV → probabilities and labels
//!   request::read_features         body → Table (data layer) → features (the preprocessor)
//!   batch::Batcher                 requests arriving together → one forward pass on the
//!                                  engine's thread pool (rayon), never on the async runtime
//!   Scorer::probabilities/decide   the model's own functions (for a bundle: predict's)
//! GET  /v1/models, /v1/models/{name}, /healthz, /metrics
//! POST /v1/models/{name}/reload    (and SIGHUP): atomic swap, a bad file is refused
//! ```
//!
//! The crate holds no maths and knows nothing of bundle files: the command line hands it a
//! [`Loader`] and the [`Scorer`]s it loaded. Limits, auth, batching and reload are described
//! with their defaults in notes/serving.md.

pub mod answer;
mod batch;
mod metrics;
mod model;
pub mod request;
mod routes;

use std::collections::BTreeMap;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

pub use batch::BatchConfig;
pub use model::{Loaded, Loader, ReloadOutcome, Scorer, Scratch, Slot, use_one_heap};

use crate::batch::Batcher;
use crate::metrics::Metrics;
use crate::routes::{AppState, Entry};

/// How the server runs.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    /// Where to listen (loopback unless the operator says otherwise).
    pub addr: SocketAddr,
    /// The bearer token every route but /healthz needs, if any.
    pub token: Option<String>,
    /// The largest request body, bytes (413 beyond).
    pub max_body_bytes: usize,
    /// The most rows in one request (413 beyond).
    pub max_rows: usize,
    /// The longest a request may take, body included (408 beyond).
    pub timeout: Duration,
    pub batch: BatchConfig,
}

/// A model to serve: its name in URLs, its file and the model loaded from it.
pub struct ModelEntry {
    pub name: String,
    pub path: std::path::PathBuf,
    pub scorer: Arc<dyn Scorer>,
}

/// A bound server, not yet answering.
pub struct Server {
    listener: tokio::net::TcpListener,
    state: Arc<AppState>,
}

impl Server {
    /// Binds `config.addr` and starts one batcher per model (on the current runtime).
    ///
    /// # Errors
    /// The address cannot be bound.
    pub async fn bind(
        config: ServeConfig,
        models: Vec<ModelEntry>,
        loader: Loader,
    ) -> std::io::Result<Server> {
        let listener = tokio::net::TcpListener::bind(config.addr).await?;
        let metrics = Arc::new(Metrics::new());
        let mut entries = BTreeMap::new();
        for m in models {
            metrics.model_version(&m.name, 1, None);
            let batcher = Batcher::start(m.name.clone(), config.batch, Arc::clone(&metrics));
            let slot = Arc::new(Slot::new(m.name.clone(), m.path, m.scorer));
            entries.insert(m.name, Entry { slot, batcher });
        }
        let state = Arc::new(AppState {
            models: entries,
            loader,
            metrics,
            config,
        });
        Ok(Server { listener, state })
    }

    /// The address bound (the port chosen, for port 0).
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Reloads every model (what SIGHUP does).
    pub fn reload_all(&self) -> impl Future<Output = ()> + Send + 'static {
        let state = Arc::clone(&self.state);
        async move {
            for (name, entry) in &state.models {
                state.reload(name, entry).await;
            }
        }
    }

    /// Answers until `shutdown` completes, then stops accepting and waits for the requests
    /// in flight to be answered.
    ///
    /// # Errors
    /// The listener fails.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        use axum::serve::ListenerExt;
        let listener = self.listener.tap_io(|tcp| {
            // Small answers go out at once instead of waiting for an ACK (Nagle).
            let _ = tcp.set_nodelay(true);
        });
        axum::serve(listener, routes::router(self.state))
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Runs a server on a new runtime until SIGTERM or SIGINT (graceful: in-flight requests are
/// answered), reloading every model on SIGHUP. `listening` is called with the bound address
/// once the server accepts connections.
///
/// # Errors
/// The runtime cannot start, the address cannot be bound, or the listener fails.
pub fn run_until_signalled(
    config: ServeConfig,
    models: Vec<ModelEntry>,
    loader: Loader,
    listening: impl FnOnce(SocketAddr),
) -> std::io::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let result = runtime.block_on(async move {
        let server = Server::bind(config, models, loader).await?;
        let mut hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())?;
        let mut terminate =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let addr = server.local_addr()?;
        let state = Arc::clone(&server.state);
        tokio::spawn(async move {
            while hangup.recv().await.is_some() {
                for (name, entry) in &state.models {
                    state.reload(name, entry).await;
                }
            }
        });
        listening(addr);
        server
            .run(async move {
                tokio::select! {
                    _ = terminate.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
                eprintln!("shutting down: answering the requests in flight");
            })
            .await
    });
    runtime.shutdown_timeout(Duration::from_secs(1));
    result
}
