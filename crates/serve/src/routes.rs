//! The HTTP endpoints, and the layers around them: auth, the request time limit, metrics.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{DefaultBodyLimit, MatchedPath, Path, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::ServeConfig;
use crate::answer::answer_json;
use crate::batch::{BatchError, Batcher};
use crate::metrics::Metrics;
use crate::model::{Loaded, Loader, ReloadOutcome, Slot};
use crate::request::{BodyFormat, RequestError, read_features};

/// Bodies up to this size are parsed on the runtime thread (a few microseconds); larger ones
/// on the blocking pool, so that a 10,000-row body never holds up other connections.
const INLINE_BODY_BYTES: usize = 16 * 1024;

/// A served name: its slot and its batcher.
pub(crate) struct Entry {
    pub slot: Arc<Slot>,
    pub batcher: Batcher,
}

/// What every handler shares.
pub(crate) struct AppState {
    pub models: BTreeMap<String, Entry>,
    pub loader: Loader,
    pub metrics: Arc<Metrics>,
    pub config: ServeConfig,
}

impl AppState {
    /// Reloads `name`, records the outcome and logs it on stderr.
    pub(crate) async fn reload(&self, name: &str, entry: &Entry) -> ReloadOutcome {
        let outcome = entry.slot.reload(&self.loader).await;
        match &outcome {
            ReloadOutcome::Swapped { version } => {
                self.metrics.model_version(name, *version, Some(true));
                eprintln!(
                    "reloaded \"{name}\" from {}: version {version}",
                    entry.slot.path.display()
                );
            }
            ReloadOutcome::Refused { version, message } => {
                self.metrics.model_version(name, *version, Some(false));
                eprintln!(
                    "reload of \"{name}\" refused, version {version} keeps serving: {message}"
                );
            }
        }
        outcome
    }
}

type Shared = State<Arc<AppState>>;

/// The router with its layers.
pub(crate) fn router(state: Arc<AppState>) -> Router {
    let protected = Router::new()
        .route("/v1/models", get(list_models))
        .route("/v1/models/{name}", get(describe_model))
        .route("/v1/models/{name}/predict", post(predict))
        .route("/v1/models/{name}/reload", post(reload))
        .route("/metrics", get(metrics))
        .route_layer(middleware::from_fn_with_state(
            Arc::clone(&state),
            authorise,
        ));
    Router::new()
        .route("/healthz", get(healthz))
        .merge(protected)
        .route_layer(middleware::from_fn_with_state(Arc::clone(&state), observe))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(state.config.max_body_bytes))
        .with_state(state)
}

/// A JSON error answer: `{"error": message}`.
pub(crate) fn error(status: u16, message: impl Into<String>) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(json!({"error": message.into()}))).into_response()
}

/// Times every routed request, answers 408 past the time limit, counts the outcome.
async fn observe(State(app): Shared, req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |p| p.as_str().to_string());
    let start = Instant::now();
    app.metrics.started();
    let response = match tokio::time::timeout(app.config.timeout, next.run(req)).await {
        Ok(r) => r,
        Err(_) => error(
            408,
            format!(
                "the request took longer than {} ms, the limit (--timeout-ms)",
                app.config.timeout.as_millis()
            ),
        ),
    };
    app.metrics
        .finished(&route, response.status().as_u16(), start.elapsed());
    response
}

/// With a token configured, every route but /healthz needs `Authorization: Bearer TOKEN`.
async fn authorise(State(app): Shared, req: Request, next: Next) -> Response {
    if let Some(token) = &app.config.token {
        let given = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.as_bytes().strip_prefix(b"Bearer "))
            .unwrap_or_default();
        if !constant_time_eq(given, token.as_bytes()) {
            let mut r = error(
                401,
                "a valid bearer token is required (Authorization: Bearer …)",
            );
            r.headers_mut()
                .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
            return r;
        }
    }
    next.run(req).await
}

/// Whether `given` equals `secret`, in a time that depends on the secret's length only, not
/// on where the first difference is (so the token cannot be guessed byte by byte).
pub(crate) fn constant_time_eq(given: &[u8], secret: &[u8]) -> bool {
    let mut diff = u8::from(given.len() != secret.len());
    for (i, &s) in secret.iter().enumerate() {
        diff |= s ^ given.get(i).copied().unwrap_or(!s);
    }
    std::hint::black_box(diff) == 0
}

async fn not_found() -> Response {
    error(
        404,
        "no such endpoint; see GET /v1/models, POST /v1/models/{name}/predict, GET /healthz, GET /metrics",
    )
}

async fn healthz(State(app): Shared) -> Response {
    axum::Json(json!({"status": "ok", "models": app.models.len()})).into_response()
}

async fn metrics(State(app): Shared) -> Response {
    (
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4")],
        app.metrics.render(),
    )
        .into_response()
}

fn unknown_model(app: &AppState, name: &str) -> Response {
    let served: Vec<&str> = app.models.keys().map(String::as_str).collect();
    error(
        404,
        format!("no model \"{name}\"; served: {}", served.join(", ")),
    )
}

fn summary(name: &str, slot: &Slot, loaded: &Loaded) -> serde_json::Value {
    json!({
        "name": name,
        "version": loaded.version,
        "file": slot.path.display().to_string(),
        "loaded_at": loaded.loaded_at,
        "threshold": loaded.scorer.threshold(),
        "features": loaded.scorer.preprocessor().n_features(),
    })
}

async fn list_models(State(app): Shared) -> Response {
    let models: Vec<_> = app
        .models
        .iter()
        .map(|(name, e)| summary(name, &e.slot, &e.slot.current()))
        .collect();
    axum::Json(json!({ "models": models })).into_response()
}

async fn describe_model(State(app): Shared, Path(name): Path<String>) -> Response {
    let Some(entry) = app.models.get(&name) else {
        return unknown_model(&app, &name);
    };
    let loaded = entry.slot.current();
    let mut value = loaded.scorer.describe();
    if let Some(object) = value.as_object_mut() {
        object.insert("serving".into(), summary(&name, &entry.slot, &loaded));
    }
    axum::Json(value).into_response()
}

async fn reload(State(app): Shared, Path(name): Path<String>) -> Response {
    let Some(entry) = app.models.get(&name) else {
        return unknown_model(&app, &name);
    };
    match app.reload(&name, entry).await {
        ReloadOutcome::Swapped { version } => {
            axum::Json(json!({"model": name, "version": version, "reloaded": true})).into_response()
        }
        ReloadOutcome::Refused { version, message } => {
            let body = json!({
                "error": format!("the new file was refused; version {version} keeps serving: {message}"),
                "model": name,
                "version": version,
                "reloaded": false,
            });
            (StatusCode::UNPROCESSABLE_ENTITY, axum::Json(body)).into_response()
        }
    }
}

/// The body format from `Content-Type` (JSON when absent).
fn body_format(headers: &HeaderMap) -> Result<BodyFormat, RequestError> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Ok(BodyFormat::Json);
    };
    let mime = value
        .to_str()
        .unwrap_or_default()
        .split(';')
        .next()
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(BodyFormat::Json),
        "text/csv" => Ok(BodyFormat::Csv),
        other => Err(RequestError {
            status: 415,
            message: format!(
                "Content-Type \"{other}\" is not read; send application/json or text/csv"
            ),
        }),
    }
}

async fn predict(
    State(app): Shared,
    Path(name): Path<String>,
    headers: HeaderMap,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let Some(entry) = app.models.get(&name) else {
        return unknown_model(&app, &name);
    };
    let body = match body {
        Ok(b) => b,
        Err(rejection) if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return error(
                413,
                format!(
                    "the body is larger than {} bytes, the limit (--max-body-bytes)",
                    app.config.max_body_bytes
                ),
            );
        }
        Err(rejection) => return error(rejection.status().as_u16(), rejection.body_text()),
    };
    let format = match body_format(&headers) {
        Ok(f) => f,
        Err(e) => return error(e.status, e.message),
    };
    // The version answering now scores this request, whatever reloads happen meanwhile.
    let model = entry.slot.current();
    let max_rows = app.config.max_rows;
    let features = if body.len() <= INLINE_BODY_BYTES {
        read_features(
            &body,
            format,
            &model.schema,
            model.scorer.preprocessor(),
            max_rows,
        )
    } else {
        let m = Arc::clone(&model);
        tokio::task::spawn_blocking(move || {
            read_features(&body, format, &m.schema, m.scorer.preprocessor(), max_rows)
        })
        .await
        .unwrap_or_else(|_| Err(RequestError::internal()))
    };
    let x = match features {
        Ok(x) => x,
        Err(e) => return error(e.status, e.message),
    };
    let probs = match entry.batcher.score(Arc::clone(&model), x).await {
        Ok(p) => p,
        Err(BatchError::Busy) => {
            return error(
                503,
                "too many requests are waiting for this model (--queue); retry shortly",
            );
        }
        Err(BatchError::Failed) => return error(500, "scoring failed (an internal error)"),
    };
    let body = answer_json(
        &name,
        model.version,
        model.scorer.threshold(),
        &probs,
        |p| model.scorer.decide(p),
    );
    ([(header::CONTENT_TYPE, "application/json")], body).into_response()
}
