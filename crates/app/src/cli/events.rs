//! `glassbox events featurize | train | predict`: a raw event log (user, time, event, item)
//! to examples, to a model bundle that holds its featurizer, to the scores of every active
//! user at an instant. The featurizer is `glassbox-events` (notes/events.md); the table
//! pipeline does the rest ([`crate::pipeline::events`]).

use std::collections::HashSet;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use clap::{Args, Subcommand};
use glassbox_events::{
    Columns, CsvLayout, Cutoffs, EventKind, EventKinds, EventSpec, EventsError, FeatureMatrix,
    FeaturizeReport, Labels, Protocol, ProtocolSink, Span, TimeFormat, UserIds, feature_names,
    featurize_file, featurize_to_matrix,
};

use super::Global;
use super::common::{RecipeArgs, load_bundle};
use crate::exit::{CliError, ResultExt};
use crate::output::write_atomic_with;
use crate::pipeline::events::{EventFeaturizer, event_recipe, score_matrix, training_set};
use crate::pipeline::{ValidationPart, csv_field, thread_count, train_bundle};
use crate::progress::Progress;
use crate::render::metrics::metrics_table;

const AFTER_HELP: &str = "\
Examples (the bundled RetailRocket log: will this visitor buy in the next hour?):
  glassbox events train datasets/retailrocket_events.csv --user visitorid --time timestamp \\
      --event event --item itemid --transaction transactionid --view-event view \\
      --cart-event addtocart --target-event transaction --horizon 1h --every 30m \\
      --negative-sample 10 --out runs/next-hour.safetensors
  glassbox events predict runs/next-hour.safetensors datasets/retailrocket_events.csv \\
      --at 2015-06-04T18:00:00Z --out scored.csv
  glassbox events featurize datasets/retailrocket_events.csv … --out examples.csv
  glassbox evaluate runs/next-hour.safetensors examples.csv

Examples are (user, cutoff t) for every user with an event in [t − window, t); the label is
whether the target event follows in [t, t + horizon); features use only events before t
(notes/events.md V1–V22). Timestamps: Unix seconds or milliseconds, or ISO-8601.";

/// Arguments of `events`.
#[derive(Debug, Args)]
#[command(after_help = AFTER_HELP)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: EventsCommand,
}

/// The `events` subcommands.
#[derive(Debug, Subcommand)]
#[allow(clippy::large_enum_variant)]
pub enum EventsCommand {
    /// Write the labelled examples of a log as CSV (user, cutoff_ms, features, label), the
    /// file `glassbox evaluate` and `glassbox train` read.
    Featurize(FeaturizeArgs),
    /// Train a model bundle (featurizer spec + preprocessor + networks) on a log.
    Train(TrainArgs),
    /// Score every user active at an instant, from the events strictly before it.
    Predict(PredictArgs),
}

/// Which column plays which role, and the task.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// The event log (CSV with a header).
    #[arg(value_name = "LOG.csv")]
    pub log: PathBuf,
    /// The user column.
    #[arg(long, value_name = "COL")]
    pub user: String,
    /// The time column (Unix s or ms, or ISO-8601).
    #[arg(long, value_name = "COL")]
    pub time: String,
    /// The event-type column.
    #[arg(long, value_name = "COL")]
    pub event: String,
    /// The item column.
    #[arg(long, value_name = "COL")]
    pub item: String,
    /// An amount column, summed over target events (optional).
    #[arg(long, value_name = "COL")]
    pub value: Option<String>,
    /// A transaction-id column (optional): distinct ids of target events are counted.
    #[arg(long, value_name = "COL")]
    pub transaction: Option<String>,
    /// The event the label predicts.
    #[arg(long, value_name = "NAME")]
    pub target_event: String,
    /// The browsing event (item popularity).
    #[arg(long, value_name = "NAME", default_value = "view")]
    pub view_event: String,
    /// The add-to-cart event, if the log has one (open-cart features).
    #[arg(long, value_name = "NAME")]
    pub cart_event: Option<String>,
    /// Label window after each cutoff.
    #[arg(long, value_name = "SPAN", default_value = "1h")]
    pub horizon: String,
    /// Cutoff spacing (on the UTC grid: 1h cuts on the hour).
    #[arg(long, value_name = "SPAN", default_value = "1h")]
    pub every: String,
    /// History window: users active in it are examples; distinct items, sessions and item
    /// statistics look back this far.
    #[arg(long, value_name = "SPAN", default_value = "24h")]
    pub window: String,
    /// Keep every positive and one negative in M (per user, every M-th cutoff; V24);
    /// scores are corrected for it (V25).
    #[arg(long, value_name = "M", default_value_t = 1)]
    pub negative_sample: u64,
}

impl LogArgs {
    /// The featurizer spec: these roles, the event kinds found in the log, these windows.
    fn spec(&self) -> Result<EventSpec, CliError> {
        let span = |text: &str, what: &'static str| Span::parse(text, what).usage_err();
        let horizon = span(&self.horizon, "horizon")?;
        let every = span(&self.every, "cutoff spacing (--every)")?;
        let window = span(&self.window, "history window (--window)")?;
        let columns = Columns {
            user: self.user.clone(),
            time: self.time.clone(),
            event: self.event.clone(),
            item: self.item.clone(),
            value: self.value.clone(),
            transaction: self.transaction.clone(),
        };
        let (names, numeric_users) = scan_log(&self.log, &columns.event, &columns.user)?;
        let mut used: HashSet<String> = HashSet::new();
        let kinds = names
            .iter()
            .map(|name| {
                let role = if *name == self.view_event {
                    "view".to_string()
                } else if Some(name) == self.cart_event.as_ref() {
                    "cart".to_string()
                } else {
                    short_name(name)
                };
                let mut short = role.clone();
                let mut n = 2;
                while !used.insert(short.clone()) {
                    short = format!("{role}{n}");
                    n += 1;
                }
                EventKind {
                    name: name.clone(),
                    short,
                }
            })
            .collect();
        let spec = EventSpec {
            columns,
            delimiter: ',',
            time_format: TimeFormat::Auto,
            user_ids: if numeric_users {
                UserIds::Numeric
            } else {
                UserIds::Text
            },
            events: EventKinds {
                kinds,
                view: self.view_event.clone(),
                cart: self.cart_event.clone(),
                positive: self.target_event.clone(),
            },
            horizon,
            cutoffs: Cutoffs::Every {
                anchor_ms: 0,
                step: every,
            },
            log_end_ms: None,
            active_window: window,
            recent_window: window,
            // Count windows, session gap, recency cap, item-rate prior and site window as in
            // the reference features (notes/events.md §3).
            ..EventSpec::retailrocket_next_hour()
        };
        for (role, name) in [
            ("target", Some(&self.target_event)),
            ("view", Some(&self.view_event)),
            ("cart", self.cart_event.as_ref()),
        ] {
            if let Some(name) = name
                && !names.contains(name)
            {
                return Err(CliError::data(anyhow::anyhow!(
                    "{}: no \"{name}\" event (the --{role}-event) in column \"{}\"; the log has {}",
                    self.log.display(),
                    self.event,
                    quoted(&names)
                )));
            }
        }
        spec.validate().usage_err()?;
        Ok(spec)
    }

    /// The labelled examples of the log: all, or the sample of `--negative-sample`.
    fn examples(&self, spec: &EventSpec) -> Result<(FeatureMatrix, FeaturizeReport), CliError> {
        if self.negative_sample == 0 {
            return Err(CliError::usage(anyhow::anyhow!(
                "--negative-sample must be at least 1 (1 keeps every example)"
            )));
        }
        // A protocol whose test and validation start after every event: all training.
        let protocol = Protocol {
            test_start_ms: i64::MAX,
            validation_start_ms: i64::MAX,
            horizon_ms: spec.horizon.ms(),
            negative_keep_one_in: self.negative_sample,
        };
        let mut sink = ProtocolSink::new(protocol, self.negative_sample > 1, feature_names(spec));
        let report = featurize_file(&self.log, spec, Labels::Required, &mut sink).data_err()?;
        Ok((sink.train, report))
    }
}

/// A word for feature names: letters, digits and `_` of `name`, lower-case.
fn short_name(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect();
    if s.is_empty() { "kind".into() } else { s }
}

fn quoted(names: &[String]) -> String {
    let q: Vec<String> = names.iter().map(|n| format!("\"{n}\"")).collect();
    q.join(", ")
}

/// The distinct values of the event column, in order of first appearance, and whether every
/// user id is an unsigned integer (a first pass over two columns; the featurizer then
/// refuses any event name the spec does not list).
fn scan_log(log: &Path, column: &str, user: &str) -> Result<(Vec<String>, bool), CliError> {
    let file = log.display().to_string();
    let input = glassbox_data::open_input(log)
        .map_err(|e| anyhow::anyhow!("{file}: cannot read the log: {e}"))
        .data_err()?;
    let mut reader = csv::ReaderBuilder::new().flexible(true).from_reader(input);
    let header = reader
        .headers()
        .map_err(|e| anyhow::anyhow!("{file}: cannot read the header: {e}"))
        .data_err()?
        .clone();
    let j = header
        .iter()
        .position(|h| h.trim() == column)
        .ok_or_else(|| {
            CliError::data(EventsError::UnknownColumn {
                file: file.clone(),
                role: "event",
                name: column.to_string(),
                available: quoted(&header.iter().map(String::from).collect::<Vec<_>>()),
            })
        })?;
    let u = header.iter().position(|h| h.trim() == user);
    let mut numeric_users = true;
    let mut names: Vec<String> = Vec::new();
    let mut record = csv::StringRecord::new();
    loop {
        match reader.read_record(&mut record) {
            Ok(true) => {
                numeric_users &= u
                    .and_then(|u| record.get(u))
                    .is_some_and(|v| v.trim().parse::<u64>().is_ok());
                if let Some(v) = record.get(j)
                    && !names.iter().any(|n| n == v)
                {
                    names.push(v.to_string());
                    if names.len() > 16 {
                        return Err(CliError::data(anyhow::anyhow!(
                            "{file}: column \"{column}\" has more than 16 distinct events ({}, …); is it the event column?",
                            quoted(&names[..5])
                        )));
                    }
                }
            }
            Ok(false) => break,
            Err(e) => return Err(CliError::data(anyhow::anyhow!("{file}: {e}"))),
        }
    }
    if names.is_empty() {
        return Err(CliError::data(EventsError::NoEvents { file, line: 1 }));
    }
    Ok((names, numeric_users))
}

/// Arguments of `events featurize`.
#[derive(Debug, Args)]
pub struct FeaturizeArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// The examples CSV to write.
    #[arg(long, short, value_name = "FILE.csv")]
    pub out: PathBuf,
}

/// Arguments of `events train`.
#[derive(Debug, Args)]
pub struct TrainArgs {
    #[command(flatten)]
    pub log: LogArgs,
    /// The model bundle to write.
    #[arg(long, short, value_name = "MODEL", default_value = "model.safetensors")]
    pub out: PathBuf,
    #[command(flatten)]
    pub recipe: RecipeArgs,
}

/// Arguments of `events predict`.
#[derive(Debug, Args)]
pub struct PredictArgs {
    /// A bundle written by `glassbox events train`.
    #[arg(value_name = "MODEL")]
    pub model: PathBuf,
    /// The event log (the columns the model was trained with).
    #[arg(value_name = "LOG.csv")]
    pub log: PathBuf,
    /// The instant to score at: Unix seconds or milliseconds, or ISO-8601.
    #[arg(long, value_name = "T")]
    pub at: String,
    /// The scores CSV (user, cutoff_ms, probability, label); printed if omitted.
    #[arg(long, short, value_name = "FILE.csv")]
    pub out: Option<PathBuf>,
}

/// Runs `events`.
pub fn run(args: EventsArgs, global: &Global) -> Result<(), CliError> {
    match args.command {
        EventsCommand::Featurize(a) => featurize(a),
        EventsCommand::Train(a) => train(a, global),
        EventsCommand::Predict(a) => predict(a),
    }
}

fn featurize(args: FeaturizeArgs) -> Result<(), CliError> {
    let spec = args.log.spec()?;
    let (matrix, report) = args.log.examples(&spec)?;
    let file = args.out.display().to_string();
    write_atomic_with(&args.out, |w| {
        matrix.write_csv(w, &file, &CsvLayout::default())?;
        Ok(())
    })
    .usage_err()?;
    println!(
        "{} examples ({} positive) at {} cutoffs, {} features → {}",
        matrix.rows(),
        matrix.positives(),
        report.cutoffs.iter().filter(|c| c.labelled).count(),
        matrix.cols(),
        args.out.display()
    );
    Ok(())
}

fn train(args: TrainArgs, global: &Global) -> Result<(), CliError> {
    let progress = Progress::new(global.quiet);
    let mut recipe = event_recipe(args.recipe.recipe);
    recipe
        .apply(&args.recipe.changes())
        .map_err(|e| CliError::usage(anyhow::anyhow!(e)))?;
    let spec = args.log.spec()?;
    let (matrix, _) = args.log.examples(&spec)?;
    if matrix.positives() == 0 {
        return Err(CliError::data(EventsError::NoPositives {
            part: format!(
                "log {} (no \"{}\" event in the horizon after any cutoff)",
                args.log.log.display(),
                args.log.target_event
            ),
            examples: matrix.rows(),
        }));
    }
    let file = args.log.log.display().to_string();
    let validation = ValidationPart::Stratified {
        fraction: recipe.val_fraction,
        seed: recipe.seed,
    };
    let set = training_set(&file, &matrix, &recipe, validation)?;
    let mut trained = train_bundle(
        &set,
        &recipe,
        &recipe.base.clone(),
        thread_count(global.threads),
        &progress,
    )?;
    trained.bundle.events = Some(EventFeaturizer {
        spec,
        negative_keep_one_in: args.log.negative_sample,
    });
    trained.bundle.save(&args.out).usage_err()?;
    println!(
        "trained {} on {} examples of {} ({} positive; {} for validation), {} features → {}",
        recipe.label(),
        matrix.rows(),
        file,
        matrix.positives(),
        set.val_rows.len(),
        matrix.cols(),
        args.out.display()
    );
    if let Some(v) = &trained.validation {
        print!("{}", metrics_table(&[("validation", v)]));
    }
    Ok(())
}

/// `--at`: Unix seconds or milliseconds, or ISO-8601, as the featurizer reads timestamps.
fn parse_instant(text: &str) -> Result<i64, CliError> {
    let bytes = text.trim().as_bytes();
    TimeFormat::Auto.detect(bytes).parse_ms(bytes).ok_or_else(|| {
        CliError::usage(anyhow::anyhow!(
            "--at {text:?}: not a time (Unix seconds or milliseconds, or ISO-8601 like 2015-06-04T18:00:00Z)"
        ))
    })
}

fn predict(args: PredictArgs) -> Result<(), CliError> {
    let at = parse_instant(&args.at)?;
    let bundle = load_bundle(&args.model)?;
    let featurizer = bundle.events.clone().ok_or_else(|| {
        CliError::usage(anyhow::anyhow!(
            "{}: a model of a table, not of an event log (train one with `glassbox events train`; use `glassbox predict` for tables)",
            args.model.display()
        ))
    })?;
    let mut spec = featurizer.spec.clone();
    spec.cutoffs = Cutoffs::List(vec![at]);
    spec.log_end_ms = None;
    let (matrix, report) = featurize_to_matrix(&args.log, &spec, Labels::Unknown).data_err()?;
    let probs = score_matrix(&bundle, &matrix)?;
    let threshold = bundle.info.threshold.value;
    let mut rows: Vec<(String, String)> = matrix
        .keys
        .iter()
        .zip(&probs)
        .map(|(&(user, cutoff), &p)| {
            let name = match spec.user_ids {
                UserIds::Text => report
                    .user_names
                    .get(user as usize)
                    .cloned()
                    .unwrap_or_else(|| user.to_string()),
                UserIds::Numeric => user.to_string(),
            };
            let population = featurizer.population_probability(p, bundle.info.recipe.pos_weight);
            let line = format!(
                "{},{cutoff},{population:.6},{}\n",
                csv_field(&name),
                u8::from(p >= threshold)
            );
            (name, line)
        })
        .collect();
    // Text ids are keyed by first appearance in the file; the names fix the order.
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    let mut text = String::from("user,cutoff_ms,probability,label\n");
    for (_, line) in &rows {
        text.push_str(line);
    }
    match &args.out {
        Some(path) => {
            write_atomic_with(path, |w| Ok(w.write_all(text.as_bytes())?)).usage_err()?;
            let mut s = String::new();
            let _ = write!(
                s,
                "scored {} active user(s) at {at} ms from the events before it → {}",
                rows.len(),
                path.display()
            );
            eprintln!("{s}");
        }
        None => print!("{text}"),
    }
    Ok(())
}
