//! Dashboards: named lists of widgets, each a query in the search language drawn as a chart,
//! kept in the metadata store per user (private) or per tenant (shared).
//!
//! # Shape
//! A dashboard is one row; its widgets are a JSON list in that row, because they are only
//! ever read and written together (the console saves the whole layout on every move). A
//! widget's *position* is its place in the list: the console's grid fills twelve columns row
//! by row, a widget taking `width` columns and `height` rows. That keeps a layout valid by
//! construction (no overlaps to repair) and makes "move" a swap in the list.
//!
//! # Who may change what
//! The store keeps dashboards; the API decides who may touch them (`docs/api.md`,
//! "Dashboards"): `search` reads one's own and the tenant's shared dashboards,
//! `dashboards.write` creates and changes one's own, `dashboards.share` (tenant administrator
//! and above) shares, changes and deletes the tenant's shared ones.
//!
//! # The default
//! [`soc_overview`] is the built-in SOC dashboard the console shows a user who has none; it
//! is not stored until the user saves a change to it.

use std::fmt::Write as _;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};

use crate::scope::TenantId;
use crate::store::MetaError;

/// Most widgets on one dashboard.
pub const MAX_WIDGETS: usize = 48;
/// Longest widget query, in bytes.
pub const MAX_QUERY_BYTES: usize = 8 * 1024;
/// Columns of the dashboard grid.
pub const GRID_COLUMNS: u8 = 12;
/// Most rows one widget may take.
pub const MAX_HEIGHT: u8 = 4;

/// How a widget draws its query's result.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ChartKind {
    /// Big numbers: the columns of the first row (`| stats count(), dc(host.name)`).
    Stats,
    /// A line over time (`| timechart span={span} count()`).
    Line,
    /// Stacked bars over time, one series per value of the `by` field
    /// (`| timechart span={span} count() by event.outcome`).
    Stacked,
    /// Horizontal bars (`| top 10 source.ip`, `| count by f`).
    Bar,
    /// A donut (`| count by f`).
    Pie,
    /// The result as a table.
    Table,
    /// Open alerts by severity and status (from the alert queue; no query).
    Alerts,
    /// Source health: events, errors and drops per connector (no query).
    Health,
}

impl ChartKind {
    /// Whether the widget runs a search (the alert and health widgets read other APIs).
    pub fn needs_query(self) -> bool {
        !matches!(self, ChartKind::Alerts | ChartKind::Health)
    }
}

/// One widget: a query, how to draw it, and its size.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Widget {
    /// Id within the dashboard: 1–64 of `A-Z a-z 0-9 _ -`.
    pub id: String,
    /// Title (1–200 bytes).
    pub title: String,
    /// A query in the search language (at most 8 KiB); `{span}` stands for the time bucket
    /// the console picks for the dashboard's range. Empty for `alerts` and `health`.
    #[serde(default)]
    pub query: String,
    /// How the result is drawn.
    pub chart: ChartKind,
    /// Columns taken, 1–12.
    pub width: u8,
    /// Rows taken, 1–4 (a row is about 110 px of chart).
    #[serde(default = "default_height")]
    pub height: u8,
    /// The field a click on a bar or slice pivots on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Names of a `stats` widget's numbers, in column order.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub labels: Vec<String>,
    /// What an empty result means, when "no data" would mislead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty: Option<String>,
    /// Counts per bucket are shown as events per second.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub eps: bool,
}

fn default_height() -> u8 {
    2
}

/// A stored dashboard.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Dashboard {
    /// ULID.
    pub id: String,
    /// Tenant.
    pub tenant: TenantId,
    /// The user who created it.
    pub owner: String,
    /// Name (unique per owner and tenant).
    pub name: String,
    /// Whether every user of the tenant sees it (only tenant administrators change it then).
    pub shared: bool,
    /// The widgets, in grid order.
    pub widgets: Vec<Widget>,
    /// When it was created.
    pub created_at: DateTime<Utc>,
    /// When it last changed.
    pub updated_at: DateTime<Utc>,
}

/// A dashboard to create, or the new state of one (its owner and tenant never change).
#[derive(Debug, Clone, PartialEq)]
pub struct DashboardSpec {
    /// Tenant (in scope).
    pub tenant: TenantId,
    /// Owner.
    pub owner: String,
    /// Name.
    pub name: String,
    /// Shared with the tenant.
    pub shared: bool,
    /// Widgets.
    pub widgets: Vec<Widget>,
}

/// A dashboard that is not stored: the built-in default.
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DashboardTemplate {
    /// Name.
    pub name: String,
    /// Widgets.
    pub widgets: Vec<Widget>,
}

/// Every problem of a dashboard, each with its path (`widgets[2].width: ...`).
pub fn problems(name: &str, widgets: &[Widget]) -> Vec<String> {
    let mut out = Vec::new();
    if name.trim().is_empty() || name.len() > 200 {
        out.push("name: must be 1 to 200 bytes and not blank".to_owned());
    }
    if widgets.len() > MAX_WIDGETS {
        out.push(format!(
            "widgets: {} widgets, at most {MAX_WIDGETS}",
            widgets.len()
        ));
    }
    let mut ids = std::collections::HashSet::new();
    for (i, w) in widgets.iter().enumerate() {
        let p = format!("widgets[{i}]");
        let id_ok = !w.id.is_empty()
            && w.id.len() <= 64
            && w.id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
        if !id_ok {
            out.push(format!("{p}.id: 1 to 64 of A-Z a-z 0-9 _ -"));
        } else if !ids.insert(w.id.as_str()) {
            out.push(format!("{p}.id: duplicate widget id {:?}", w.id));
        }
        if w.title.trim().is_empty() || w.title.len() > 200 {
            out.push(format!("{p}.title: must be 1 to 200 bytes and not blank"));
        }
        if w.chart.needs_query() && w.query.trim().is_empty() {
            out.push(format!(
                "{p}.query: a {} widget needs a query",
                serde_json::to_value(w.chart)
                    .ok()
                    .and_then(|v| v.as_str().map(str::to_owned))
                    .unwrap_or_default()
            ));
        }
        if w.query.len() > MAX_QUERY_BYTES {
            out.push(format!(
                "{p}.query: {} bytes, at most {MAX_QUERY_BYTES}",
                w.query.len()
            ));
        }
        if !(1..=GRID_COLUMNS).contains(&w.width) {
            out.push(format!("{p}.width: 1 to {GRID_COLUMNS} columns"));
        }
        if !(1..=MAX_HEIGHT).contains(&w.height) {
            out.push(format!("{p}.height: 1 to {MAX_HEIGHT} rows"));
        }
        if w.field
            .as_ref()
            .is_some_and(|f| f.is_empty() || f.len() > 256)
        {
            out.push(format!("{p}.field: 1 to 256 bytes"));
        }
        if w.labels.len() > 16 || w.labels.iter().any(|l| l.len() > 200) {
            out.push(format!("{p}.labels: at most 16 of at most 200 bytes"));
        }
        if w.empty.as_ref().is_some_and(|e| e.len() > 1000) {
            out.push(format!("{p}.empty: at most 1000 bytes"));
        }
    }
    out
}

/// [`problems`] as one [`MetaError::Invalid`].
pub fn check(name: &str, widgets: &[Widget]) -> Result<(), MetaError> {
    let p = problems(name, widgets);
    if p.is_empty() {
        return Ok(());
    }
    let mut reason = String::new();
    for (i, s) in p.iter().enumerate() {
        if i > 0 {
            reason.push_str("; ");
        }
        let _ = write!(reason, "{s}");
    }
    Err(MetaError::Invalid {
        field: "dashboard".into(),
        reason,
    })
}

fn w(id: &str, title: &str, query: &str, chart: ChartKind, width: u8) -> Widget {
    Widget {
        id: id.into(),
        title: title.into(),
        query: query.into(),
        chart,
        width,
        height: if chart == ChartKind::Stats { 1 } else { 2 },
        field: None,
        labels: Vec::new(),
        empty: None,
        eps: false,
    }
}

fn pivot(mut x: Widget, field: &str) -> Widget {
    x.field = Some(field.into());
    x
}

/// The built-in SOC dashboard: activity, failures, EPS, events by source, authentication
/// outcomes, top programs, source IPs, users, hosts and source countries, open alerts and
/// source health. Every query runs on any event store; on the demo data every widget but
/// the countries fills (the demo events carry no GeoIP fields).
pub fn soc_overview() -> DashboardTemplate {
    use ChartKind::*;
    let mut total = w(
        "total",
        "Activity",
        "| stats count() as events, dc(host.name) as hosts, dc(source.ip) as ips, dc(user.name) as users",
        Stats,
        8,
    );
    total.labels = ["Events", "Reporting hosts", "Source IPs", "Users"]
        .map(String::from)
        .to_vec();
    let mut failures = w(
        "failures",
        "Failures",
        "event.outcome:failure | stats count() as failures, dc(source.ip) as ips",
        Stats,
        4,
    );
    failures.labels = ["Failed outcomes", "From source IPs"]
        .map(String::from)
        .to_vec();
    let mut eps = w(
        "eps",
        "Events per second",
        "| timechart span={span} count()",
        Line,
        8,
    );
    eps.eps = true;
    let mut countries = pivot(
        w(
            "countries",
            "Source countries",
            "| top 10 source.geo.country_iso_code",
            Bar,
            4,
        ),
        "source.geo.country_iso_code",
    );
    countries.empty = Some(
        "No source country in this range: the events carry no source.geo fields (GeoIP enrichment)."
            .into(),
    );
    DashboardTemplate {
        name: "SOC overview".into(),
        widgets: vec![
            total,
            failures,
            eps,
            pivot(
                w(
                    "sources",
                    "Events by source",
                    "| count by vigil.source | sort -count | head 10",
                    Pie,
                    4,
                ),
                "vigil.source",
            ),
            w(
                "outcomes",
                "Authentication outcomes",
                "event.category:authentication | timechart span={span} count() by event.outcome",
                Stacked,
                6,
            ),
            pivot(
                w(
                    "programs",
                    "Events by program",
                    "| top 10 process.name",
                    Bar,
                    6,
                ),
                "process.name",
            ),
            pivot(
                w("srcip", "Top source IPs", "| top 10 source.ip", Bar, 4),
                "source.ip",
            ),
            pivot(
                w("users", "Top users", "| top 10 user.name", Bar, 4),
                "user.name",
            ),
            pivot(
                w("tophosts", "Top hosts", "| top 10 host.name", Bar, 4),
                "host.name",
            ),
            countries,
            w(
                "alerts",
                "Open alerts by severity and status",
                "",
                Alerts,
                8,
            ),
            w("health", "Source health", "", Health, 12),
        ],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_dashboard_is_valid() {
        let d = soc_overview();
        assert_eq!(problems(&d.name, &d.widgets), Vec::<String>::new());
    }

    #[test]
    fn every_problem_is_reported_with_its_path() {
        let mut d = soc_overview().widgets;
        d[0].width = 13;
        d[1].id = d[0].id.clone();
        d[2].query = String::new();
        d[3].height = 0;
        let p = problems(" ", &d);
        assert_eq!(
            p,
            [
                "name: must be 1 to 200 bytes and not blank",
                "widgets[0].width: 1 to 12 columns",
                "widgets[1].id: duplicate widget id \"total\"",
                "widgets[2].query: a line widget needs a query",
                "widgets[3].height: 1 to 4 rows",
            ]
        );
        assert!(check("x", &d).is_err());
    }

    #[test]
    fn widgets_without_a_height_get_two_rows() {
        let w: Widget = serde_json::from_str(
            r#"{"id":"a","title":"A","query":"| top 5 host.name","chart":"bar","width":6}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(w.height, 2);
        assert!(
            serde_json::from_str::<Widget>(
                r#"{"id":"a","title":"A","chart":"bar","width":6,"colour":1}"#
            )
            .is_err()
        );
    }
}
