//! One streamed pass over a transaction log → one row per customer of the cohort, with the
//! raw features of notes/value.md §2 (C10–C20) and the holdout target (C21).
//!
//! Memory is per customer and per invoice, never per line: the log is read record by record
//! (plain or gzip, through `glassbox_data::open_input`). Nothing depends on the order of the
//! lines, so an unsorted log gives the same table.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use glassbox_events::{DAY_MS, TimeFormat};
use serde::{Deserialize, Serialize};

use crate::error::ValueError;
use crate::features::{ALL_FEATURES, PERIODS, TREND_MONTHS};
use crate::spec::{Amount, Clock, Columns, format_ms};

/// Counts of one pass, for reports (every line is in exactly one of the line counts).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LogStats {
    /// Data lines read.
    pub lines: u64,
    /// Lines without a customer id (skipped).
    pub lines_without_customer: u64,
    /// Customer lines before the calibration start (ignored).
    pub lines_before_start: u64,
    /// Customer lines in the calibration period.
    pub lines_calibration: u64,
    /// Customer lines in the holdout.
    pub lines_holdout: u64,
    /// Customer lines after the holdout (ignored).
    pub lines_after_holdout: u64,
    /// Distinct customer ids with a line in the log.
    pub customers_seen: usize,
    /// Customers in the cohort (a purchase line in the calibration period, C22).
    pub customers: usize,
    /// Customers whose lines in [start, holdout end) are all in the holdout: new customers,
    /// out of the cohort (no history to predict from).
    pub customers_only_in_holdout: usize,
    /// Cohort customers with y > 0.
    pub customers_buying_in_holdout: usize,
    /// Cohort customers whose holdout net spend is negative (floored to 0, C21).
    pub customers_with_negative_holdout: usize,
    /// Σ y over the cohort.
    pub holdout_revenue: f64,
    /// First and last customer line, Unix ms.
    pub first_ms: i64,
    /// See `first_ms`.
    pub last_ms: i64,
    /// The calibration start used (given, or the first customer line).
    pub start_ms: i64,
    /// The cutoff: calibration is `[start_ms, cutoff_ms)`.
    pub cutoff_ms: i64,
}

/// The cohort's customers, one row each, sorted by id (numerically when every id is a number).
#[derive(Debug, Clone, PartialEq)]
pub struct CustomerTable {
    /// The customer id as written (trimmed).
    pub ids: Vec<String>,
    /// The id as an integer when it is one (`17850` or `17850.0`).
    pub numeric_ids: Vec<Option<u64>>,
    /// Raw features (C10–C19, C38, then C44–C46), one row per customer, in the order of
    /// [`ALL_FEATURES`].
    pub features: Vec<Vec<f64>>,
    /// The most frequent value of each categorical column (C20).
    pub categories: Vec<Vec<String>>,
    /// y = max(0, holdout net spend) (C21); all 0 when the log ends at the cutoff.
    pub target: Vec<f64>,
    /// Counts of the pass.
    pub stats: LogStats,
}

/// One purchase invoice of a customer.
#[derive(Debug, Default)]
struct Invoice {
    /// Its earliest line, Unix ms.
    time: i64,
    gross: f64,
    lines: u32,
    quantity: f64,
}

/// A customer's running state over the pass.
#[derive(Debug, Default)]
struct Customer {
    /// Purchase invoices of the calibration period, by id.
    invoices: HashMap<Box<str>, Invoice>,
    /// Cancellation invoices of the calibration period.
    cancelled: HashSet<Box<str>>,
    /// Distinct days (Unix ms / day) with a purchase line.
    purchase_days: HashSet<i64>,
    first_purchase: Option<i64>,
    last_purchase: Option<i64>,
    /// Lines in the calibration period and in the holdout (any kind).
    lines_calibration: u64,
    lines_holdout: u64,
    gross: f64,
    /// Gross value of purchase lines on service codes (C38).
    service_gross: f64,
    net: f64,
    /// Net value per horizon-length period back from the cutoff (C19).
    period_net: [f64; PERIODS],
    net_last_30d: f64,
    /// Net value per 30-day month back from the cutoff, and whether the month holds a
    /// purchase line (C46).
    month_net: [f64; TREND_MONTHS],
    month_purchase: [bool; TREND_MONTHS],
    holdout_net: f64,
    /// Per categorical column: value → (count, order of first appearance).
    categories: Vec<HashMap<Box<str>, (u64, u64)>>,
}

/// Column indices of the roles in the header.
struct Roles {
    customer: usize,
    time: usize,
    amount: usize,
    price: Option<usize>,
    invoice: Option<usize>,
    product: Option<usize>,
    categorical: Vec<usize>,
}

fn find(
    header: &csv::StringRecord,
    name: &str,
    role: &'static str,
    file: &str,
) -> Result<usize, ValueError> {
    header.iter().position(|h| h.trim() == name).ok_or_else(|| {
        let names: Vec<String> = header.iter().map(|h| format!("\"{}\"", h.trim())).collect();
        ValueError::UnknownColumn {
            file: file.to_string(),
            role,
            name: name.to_string(),
            available: names.join(", "),
        }
    })
}

/// Reads `path` (plain or gzip CSV) and builds the customer table at `clock`.
/// `need_holdout`: training and evaluation need lines after the cutoff and a customer with a
/// holdout purchase; prediction at a date does not.
///
/// # Errors
/// I/O, CSV, unknown columns, a bad cell (line and column named: an unparseable time or
/// number, a negative price), a cutoff outside the log, no holdout purchase.
pub fn featurize(
    path: &Path,
    columns: &Columns,
    clock: &Clock,
    need_holdout: bool,
) -> Result<CustomerTable, ValueError> {
    let file = path.display().to_string();
    let input = glassbox_data::open_input(path).map_err(|source| ValueError::Io {
        file: file.clone(),
        source,
    })?;
    let mut reader = csv::ReaderBuilder::new().from_reader(input);
    let csv_error = |e: csv::Error, file: &str| ValueError::Csv {
        file: file.to_string(),
        line: e.position().map_or(0, csv::Position::line),
        message: e.to_string(),
    };
    let header = reader.headers().map_err(|e| csv_error(e, &file))?.clone();
    let (amount, price) = match &columns.amount {
        Amount::Column(name) => (find(&header, name, "amount", &file)?, None),
        Amount::QuantityTimesPrice { quantity, price } => (
            find(&header, quantity, "quantity", &file)?,
            Some(find(&header, price, "price", &file)?),
        ),
    };
    let roles = Roles {
        customer: find(&header, &columns.customer, "customer", &file)?,
        time: find(&header, &columns.time, "time", &file)?,
        amount,
        price,
        invoice: match &columns.invoice {
            Some(name) => Some(find(&header, name, "invoice", &file)?),
            None => None,
        },
        product: match &columns.product {
            Some(name) => Some(find(&header, name, "product", &file)?),
            None => None,
        },
        categorical: columns
            .categorical
            .iter()
            .map(|name| find(&header, name, "categorical", &file))
            .collect::<Result<_, _>>()?,
    };
    let name_of = |j: usize| header.get(j).unwrap_or("").trim().to_string();
    let bad = |line: u64, j: usize, problem: &'static str, text: &str| ValueError::BadCell {
        file: file.clone(),
        line,
        column: j + 1,
        name: name_of(j),
        problem,
        text: text.to_string(),
    };

    let start = clock.start_ms.unwrap_or(i64::MIN);
    let (cutoff, end) = (clock.cutoff_ms, clock.holdout_end());
    let mut customers: HashMap<Box<str>, Customer> = HashMap::new();
    let mut stats = LogStats {
        first_ms: i64::MAX,
        last_ms: i64::MIN,
        ..LogStats::default()
    };
    let mut format = TimeFormat::Auto;
    let mut order = 0u64;
    let mut record = csv::StringRecord::new();
    while reader
        .read_record(&mut record)
        .map_err(|e| csv_error(e, &file))?
    {
        stats.lines += 1;
        let line = record.position().map_or(0, csv::Position::line);
        let cell = |j: usize| record.get(j).unwrap_or("").trim();
        let id = cell(roles.customer);
        if id.is_empty() {
            stats.lines_without_customer += 1;
            continue;
        }
        let time_text = cell(roles.time);
        if format == TimeFormat::Auto {
            format = TimeFormat::Auto.detect(time_text.as_bytes());
        }
        let t = format.parse_ms(time_text.as_bytes()).ok_or_else(|| {
            bad(
                line,
                roles.time,
                "not a date-time in the format of the first line",
                time_text,
            )
        })?;
        let number = |j: usize| -> Result<f64, ValueError> {
            let text = cell(j);
            text.parse::<f64>()
                .ok()
                .filter(|v| v.is_finite())
                .ok_or_else(|| bad(line, j, "not a finite number", text))
        };
        let first = number(roles.amount)?;
        let (value, quantity) = match roles.price {
            Some(p) => {
                let price = number(p)?;
                if price < 0.0 {
                    return Err(bad(line, p, "a negative price", cell(p)));
                }
                (first * price, first)
            }
            None => (first, 1.0),
        };
        stats.first_ms = stats.first_ms.min(t);
        stats.last_ms = stats.last_ms.max(t);
        let customer = customers.entry(id.into()).or_default();
        if t < start {
            stats.lines_before_start += 1;
            continue;
        }
        if t >= end {
            stats.lines_after_holdout += 1;
            continue;
        }
        let invoice_id = roles.invoice.map(&cell);
        // C15: a return line is a negative value or a line of a cancellation invoice.
        let is_return = value < 0.0 || invoice_id.is_some_and(|i| i.starts_with(['C', 'c']));
        if t >= cutoff {
            stats.lines_holdout += 1;
            customer.lines_holdout += 1;
            customer.holdout_net += value; // C21
            continue;
        }
        stats.lines_calibration += 1;
        customer.lines_calibration += 1;
        customer.net += value;
        let age = cutoff - t; // > 0
        let period = (age - 1) / clock.horizon_ms;
        if let Ok(k) = usize::try_from(period)
            && k < PERIODS
        {
            customer.period_net[k] += value; // C19
        }
        if age <= 30 * DAY_MS {
            customer.net_last_30d += value;
        }
        let month = usize::try_from((age - 1) / (30 * DAY_MS)).ok();
        let month = month.filter(|&k| k < TREND_MONTHS);
        if let Some(k) = month {
            customer.month_net[k] += value; // C46
            customer.month_purchase[k] |= !is_return;
        }
        let key: Box<str> = match invoice_id {
            Some(i) => i.into(),
            None => t.to_string().into(),
        };
        if is_return {
            customer.cancelled.insert(key);
        } else {
            customer.gross += value;
            if roles.product.is_some_and(|j| is_service_code(cell(j))) {
                customer.service_gross += value; // C38
            }
            customer.first_purchase = Some(customer.first_purchase.map_or(t, |f| f.min(t)));
            customer.last_purchase = Some(customer.last_purchase.map_or(t, |l| l.max(t)));
            customer.purchase_days.insert(t.div_euclid(DAY_MS));
            let invoice = customer.invoices.entry(key).or_insert(Invoice {
                time: t,
                ..Invoice::default()
            });
            invoice.time = invoice.time.min(t);
            invoice.gross += value;
            invoice.lines += 1;
            invoice.quantity += quantity;
        }
        if customer.categories.is_empty() {
            customer.categories = vec![HashMap::new(); roles.categorical.len()];
        }
        for (c, &j) in roles.categorical.iter().enumerate() {
            order += 1;
            let entry = customer.categories[c]
                .entry(cell(j).into())
                .or_insert((0, order));
            entry.0 += 1;
        }
    }
    if stats.first_ms == i64::MAX {
        return Err(ValueError::NoCustomers { file });
    }
    stats.start_ms = clock.start_ms.unwrap_or(stats.first_ms);
    stats.cutoff_ms = cutoff;
    stats.customers_seen = customers.len();
    let outside =
        cutoff <= stats.first_ms.max(stats.start_ms) || (need_holdout && cutoff > stats.last_ms);
    if outside {
        return Err(ValueError::CutoffOutsideLog {
            file,
            cutoff: format_ms(cutoff),
            first: format_ms(stats.first_ms),
            last: format_ms(stats.last_ms),
        });
    }
    let table = finish(customers, clock, stats, roles.categorical.len());
    if need_holdout && table.stats.customers_buying_in_holdout == 0 {
        return Err(ValueError::NoHoldoutPurchases {
            file,
            customers: table.stats.customers,
            from: format_ms(cutoff),
            to: format_ms(end),
        });
    }
    Ok(table)
}

/// (C38) A service line's code does not start with a digit: on Online Retail every product
/// code is five digits (and a letter suffix), while postage, fees, manual adjustments,
/// samples and vouchers are `POST`, `DOT`, `M`, `C2`, `BANK CHARGES`, `gift_0001_10`, …
fn is_service_code(code: &str) -> bool {
    !code.starts_with(|c: char| c.is_ascii_digit())
}

/// The integer a customer id stands for (`17850`, `17850.0`), if any.
fn numeric_id(id: &str) -> Option<u64> {
    let v: f64 = id.parse().ok()?;
    (v >= 0.0 && v.fract() == 0.0 && v < 9.0e15).then_some(v as u64)
}

/// The cohort's rows from the per-customer states (C10–C22).
fn finish(
    customers: HashMap<Box<str>, Customer>,
    clock: &Clock,
    mut stats: LogStats,
    n_categorical: usize,
) -> CustomerTable {
    let cutoff = clock.cutoff_ms;
    let mut rows: Vec<(Box<str>, Customer)> = customers.into_iter().collect();
    rows.sort_by(|a, b| (numeric_id(&a.0), &a.0).cmp(&(numeric_id(&b.0), &b.0)));
    let mut table = CustomerTable {
        ids: Vec::new(),
        numeric_ids: Vec::new(),
        features: Vec::new(),
        categories: Vec::new(),
        target: Vec::new(),
        stats: LogStats::default(),
    };
    for (id, c) in rows {
        let (Some(first), Some(last)) = (c.first_purchase, c.last_purchase) else {
            if c.lines_calibration == 0 && c.lines_holdout > 0 {
                stats.customers_only_in_holdout += 1;
            }
            continue; // C22: no purchase line in calibration
        };
        // C21: rounded to 1e-6 first — decimal prices summed in binary leave noise of ~1e-12
        // where purchases and returns cancel exactly, and that must read as 0, not a buyer.
        let net = (c.holdout_net * 1e6).round() / 1e6;
        let y = net.max(0.0);
        stats.customers += 1;
        stats.customers_buying_in_holdout += usize::from(y > 0.0);
        stats.customers_with_negative_holdout += usize::from(net < 0.0);
        stats.holdout_revenue += y;
        table.features.push(row_features(&c, cutoff, first, last));
        table.categories.push(
            (0..n_categorical)
                .map(|k| most_frequent(&c.categories[k]))
                .collect(),
        );
        table.numeric_ids.push(numeric_id(&id));
        table.ids.push(id.into());
        table.target.push(y);
    }
    table.stats = stats;
    table
}

/// C20: the value with the largest count; ties go to the one seen first.
fn most_frequent(counts: &HashMap<Box<str>, (u64, u64)>) -> String {
    counts
        .iter()
        .max_by(|a, b| a.1.0.cmp(&b.1.0).then(b.1.1.cmp(&a.1.1)))
        .map_or_else(String::new, |(v, _)| v.to_string())
}

/// One customer's raw features, in the order of [`ALL_FEATURES`] (C10–C19, C38, C44–C46).
fn row_features(c: &Customer, cutoff: i64, first: i64, last: i64) -> Vec<f64> {
    let day = DAY_MS as f64;
    let n_invoices = c.invoices.len() as f64; // ≥ 1: a purchase line makes an invoice
    let returned = c.gross - c.net; // C15
    let (mut max_invoice, mut lines, mut quantity) = (0.0f64, 0.0f64, 0.0f64);
    let mut first_invoice: Option<(&Box<str>, &Invoice)> = None;
    let mut invoices_90 = 0.0;
    for (key, inv) in &c.invoices {
        max_invoice = max_invoice.max(inv.gross);
        lines += f64::from(inv.lines);
        quantity += inv.quantity;
        if cutoff - inv.time <= 90 * DAY_MS {
            invoices_90 += 1.0;
        }
        // C17: the earliest invoice; equal times → the smallest id.
        if first_invoice.is_none_or(|(k, f)| (inv.time, key) < (f.time, k)) {
            first_invoice = Some((key, inv));
        }
    }
    let days = c.purchase_days.len() as f64;
    let (first_day, last_day) = (first.div_euclid(DAY_MS), last.div_euclid(DAY_MS));
    let mean_gap = if days > 1.0 {
        (last_day - first_day) as f64 / (days - 1.0) // C18
    } else {
        0.0
    };
    let return_rate = if c.gross > 0.0 {
        (returned / c.gross).clamp(0.0, 1.0) // C16
    } else {
        0.0
    };
    let mut row = vec![
        (cutoff - last) as f64 / day,  // C10 recency
        (cutoff - first) as f64 / day, // C11 tenure
        n_invoices,                    // C12
        days,                          // C13
        c.cancelled.len() as f64,      // C14
        c.gross,                       // C15
        returned,
        c.net,
        return_rate,
        c.gross / n_invoices, // C17
        max_invoice,
        first_invoice.map_or(0.0, |(_, f)| f.gross),
        lines / n_invoices,
        quantity / n_invoices,
        mean_gap, // C18
        f64::from(u8::from(days <= 1.0)),
        c.net_last_30d, // C19
        invoices_90,
    ];
    row.push(if c.gross > 0.0 {
        (c.service_gross / c.gross).clamp(0.0, 1.0) // C38
    } else {
        0.0
    });
    row.extend(c.period_net);
    row.extend(history_features(c, cutoff, first, last));
    debug_assert_eq!(row.len(), ALL_FEATURES.len());
    row
}

/// The history features of one customer, in the order of `HISTORY_FEATURES`: purchase
/// invoices in the last 30, 180 and 365 days (C44); the sd of the gaps between purchase days,
/// the last gap and recency over the mean gap (C45); the trend of monthly net spend and the
/// share of active months (C46).
fn history_features(c: &Customer, cutoff: i64, first: i64, last: i64) -> [f64; 8] {
    let mut windows = [0.0f64; 3];
    for inv in c.invoices.values() {
        for (count, days) in windows.iter_mut().zip([30, 180, 365]) {
            if cutoff - inv.time <= days * DAY_MS {
                *count += 1.0; // C44
            }
        }
    }
    let mut days: Vec<i64> = c.purchase_days.iter().copied().collect();
    days.sort_unstable();
    let gaps: Vec<f64> = days.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
    let (gap_sd, last_gap, overdue) = gap_statistics(&gaps, (cutoff - last) as f64 / DAY_MS as f64);
    let tenure_days = (cutoff - first) as f64 / DAY_MS as f64;
    let (trend, active) = monthly_trend(&c.month_net, &c.month_purchase, tenure_days);
    [
        windows[0], windows[1], windows[2], gap_sd, last_gap, overdue, trend, active,
    ]
}

/// (C45) From the gaps (days) between consecutive distinct purchase days, in time order:
/// their population sd, the last gap, and `recency / mean gap`; all 0 without a gap (a
/// one-day customer).
fn gap_statistics(gaps: &[f64], recency_days: f64) -> (f64, f64, f64) {
    let Some(&last_gap) = gaps.last() else {
        return (0.0, 0.0, 0.0);
    };
    let n = gaps.len() as f64;
    let mean = gaps.iter().sum::<f64>() / n;
    let var = gaps.iter().map(|g| (g - mean) * (g - mean)).sum::<f64>() / n;
    // mean ≥ 1: distinct days are at least one day apart.
    (var.sqrt(), last_gap, recency_days / mean)
}

/// (C46) The trend of monthly net spend and the share of active months over the customer's
/// own months: `M = clamp(⌈tenure/30⌉, 2, 12)` 30-day months back from the cutoff, month k
/// (1 = the latest) holding `u_k = sign(x_k)·ln(1 + |x_k|)` of its net spend `x_k`; the trend
/// is the least-squares slope of `u_k` on `t_k = −k` (positive: spend rising towards the
/// cutoff), the active share the fraction of the M months with a purchase line.
fn monthly_trend(
    month_net: &[f64; TREND_MONTHS],
    month_purchase: &[bool; TREND_MONTHS],
    tenure_days: f64,
) -> (f64, f64) {
    let m = ((tenure_days / 30.0).ceil() as usize).clamp(2, TREND_MONTHS);
    let u: Vec<f64> = month_net[..m]
        .iter()
        .map(|x| x.signum() * x.abs().ln_1p())
        .collect();
    let n = m as f64;
    let t_mean = -(n + 1.0) / 2.0;
    let u_mean = u.iter().sum::<f64>() / n;
    let (mut num, mut den) = (0.0, 0.0);
    for (k, uk) in u.iter().enumerate() {
        let dt = -((k + 1) as f64) - t_mean;
        num += dt * (uk - u_mean);
        den += dt * dt;
    }
    let active = month_purchase[..m].iter().filter(|&&a| a).count() as f64 / n;
    (num / den, active)
}
