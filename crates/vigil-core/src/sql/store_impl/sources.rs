//! Source status in SQL: the `sources` totals and the per-minute `source_series`, both written
//! by upserts that add, so flushes from several processes (or a retried flush) add up.

use sqlx::any::AnyRow;

use super::{Tx, be, fetch_all, get, opt_time, time, tx_exec, u};
use crate::model::Time;
use crate::scope::{TenantId, TenantScope};
use crate::sources::{SourceFlush, SourceKind, SourcePoint, SourceRecord, TenantEvents};
use crate::sql::SqlMetaStore;
use crate::sql::build::{Sql, finish_page, page_tail};
use crate::store::{MetaError, Page, Paged, SortDir};

impl SqlMetaStore {
    pub(super) async fn record_sources_impl(&self, flush: &[SourceFlush]) -> Result<(), MetaError> {
        if flush.is_empty() {
            return Ok(());
        }
        let greatest = self.d().greatest();
        let mut tx: Tx = self.begin().await?;
        for f in flush {
            let mut sql = Sql::new(
                "INSERT INTO sources (tenant_id, id, kind, collector, node, host, ip, first_seen_at, last_event_at, events_total, parse_errors_total, drops_total, updated_at) VALUES (",
            );
            sql.arg(f.tenant.as_str())
                .push(", ")
                .arg(&f.id)
                .push(", ")
                .arg(f.kind.as_str())
                .push(", ");
            sql.arg(&f.collector)
                .push(", ")
                .arg(&f.node)
                .push(", ")
                .arg(f.host.clone())
                .push(", ")
                .arg(f.ip.clone())
                .push(", ");
            sql.arg(f.first_seen)
                .push(", ")
                .arg(f.last_event_at)
                .push(", ")
                .arg(f.events)
                .push(", ")
                .arg(f.parse_errors)
                .push(", ")
                .arg(f.drops)
                .push(", ")
                .arg(chrono::Utc::now())
                .push(") ON CONFLICT (tenant_id, id) DO UPDATE SET ");
            sql.push(&format!(
                "node = excluded.node, host = COALESCE(excluded.host, sources.host), \
                 ip = COALESCE(excluded.ip, sources.ip), \
                 last_event_at = CASE WHEN excluded.last_event_at IS NULL THEN sources.last_event_at \
                 WHEN sources.last_event_at IS NULL THEN excluded.last_event_at \
                 ELSE {greatest}(sources.last_event_at, excluded.last_event_at) END, \
                 events_total = sources.events_total + excluded.events_total, \
                 parse_errors_total = sources.parse_errors_total + excluded.parse_errors_total, \
                 drops_total = sources.drops_total + excluded.drops_total, \
                 updated_at = excluded.updated_at"
            ));
            tx_exec(&mut tx, &sql, "source").await?;
            for (minute, e, p, d) in &f.minutes {
                let mut sql = Sql::new(
                    "INSERT INTO source_series (tenant_id, source_id, minute, events, parse_errors, drops) VALUES (",
                );
                sql.arg(f.tenant.as_str())
                    .push(", ")
                    .arg(&f.id)
                    .push(", ")
                    .arg(*minute)
                    .push(", ")
                    .arg(*e)
                    .push(", ")
                    .arg(*p)
                    .push(", ")
                    .arg(*d)
                    .push(
                        ") ON CONFLICT (tenant_id, source_id, minute) DO UPDATE SET \
                         events = source_series.events + excluded.events, \
                         parse_errors = source_series.parse_errors + excluded.parse_errors, \
                         drops = source_series.drops + excluded.drops",
                    );
                tx_exec(&mut tx, &sql, "source series").await?;
            }
        }
        tx.commit().await.map_err(be)
    }

    pub(super) async fn list_sources_impl(
        &self,
        scope: &TenantScope,
        kind: Option<SourceKind>,
        since: Time,
        page: &Page,
    ) -> Result<Paged<SourceRecord>, MetaError> {
        let limit = page.effective_limit();
        let mut sql = Sql::new(
            "SELECT s.tenant_id, s.tenant_id AS sort_key, s.id, s.kind, s.collector, s.node, s.host, s.ip, \
             s.first_seen_at, s.last_event_at, s.events_total, s.parse_errors_total, s.drops_total, \
             COALESCE(w.e, 0) AS events_window, COALESCE(w.p, 0) AS parse_window, COALESCE(w.d, 0) AS drops_window \
             FROM sources s LEFT JOIN (SELECT tenant_id, source_id, CAST(SUM(events) AS BIGINT) AS e, \
             CAST(SUM(parse_errors) AS BIGINT) AS p, CAST(SUM(drops) AS BIGINT) AS d FROM source_series WHERE minute >= ",
        );
        sql.arg(since).push(" AND ");
        sql.scope("tenant_id", scope)
            .push(" GROUP BY tenant_id, source_id) w ON w.tenant_id = s.tenant_id AND w.source_id = s.id WHERE ");
        sql.scope("s.tenant_id", scope);
        if let Some(k) = kind {
            sql.push(" AND s.kind = ").arg(k.as_str());
        }
        page_tail(
            &mut sql,
            "s.tenant_id",
            "s.id",
            SortDir::Asc,
            page.cursor.as_deref(),
            limit,
        )?;
        let rows = fetch_all(&self.r, &sql).await?;
        let (items, next_cursor) = finish_page(rows, limit, true, |r| {
            let rec = source_row(r)?;
            let id = rec.id.clone();
            Ok((rec, id))
        })?;
        Ok(Paged { items, next_cursor })
    }

    pub(super) async fn source_series_impl(
        &self,
        scope: &TenantScope,
        tenant: &TenantId,
        id: &str,
        since: Time,
    ) -> Result<Vec<SourcePoint>, MetaError> {
        scope.check(tenant)?;
        let mut sql = Sql::new(
            "SELECT minute, events, parse_errors, drops FROM source_series WHERE tenant_id = ",
        );
        sql.arg(tenant.as_str())
            .push(" AND source_id = ")
            .arg(id)
            .push(" AND minute >= ")
            .arg(since)
            .push(" AND ");
        sql.scope("tenant_id", scope).push(" ORDER BY minute");
        fetch_all(&self.r, &sql)
            .await?
            .iter()
            .map(|r| {
                Ok(SourcePoint {
                    minute: time(r, "minute")?,
                    events: u(r, "events")?,
                    parse_errors: u(r, "parse_errors")?,
                    drops: u(r, "drops")?,
                })
            })
            .collect()
    }

    pub(super) async fn tenant_events_impl(
        &self,
        scope: &TenantScope,
        since: Time,
    ) -> Result<Vec<TenantEvents>, MetaError> {
        // every event passes exactly one collector: the collector sources' sums are the
        // tenant's, with no host counted twice
        let mut sql = Sql::new(
            "SELECT t.id AS tenant_id, COALESCE(w.e, 0) AS events FROM tenants t LEFT JOIN \
             (SELECT ss.tenant_id, CAST(SUM(ss.events) AS BIGINT) AS e FROM source_series ss \
             JOIN sources s ON s.tenant_id = ss.tenant_id AND s.id = ss.source_id \
             WHERE s.kind = 'collector' AND ss.minute >= ",
        );
        sql.arg(since)
            .push(" GROUP BY ss.tenant_id) w ON w.tenant_id = t.id WHERE ");
        sql.scope("t.id", scope).push(" ORDER BY t.id");
        fetch_all(&self.r, &sql)
            .await?
            .iter()
            .map(|r| {
                Ok(TenantEvents {
                    tenant: TenantId::new(&get::<String>(r, "tenant_id")?)?,
                    events: u(r, "events")?,
                })
            })
            .collect()
    }

    pub(super) async fn purge_source_series_impl(&self, before: Time) -> Result<u64, MetaError> {
        let mut sql = Sql::new("DELETE FROM source_series WHERE minute < ");
        sql.arg(before);
        sql.query()
            .execute(&self.w)
            .await
            .map(|r| r.rows_affected())
            .map_err(be)
    }
}

fn source_row(r: &AnyRow) -> Result<SourceRecord, MetaError> {
    let kind: String = get(r, "kind")?;
    Ok(SourceRecord {
        tenant: TenantId::new(&get::<String>(r, "tenant_id")?)?,
        id: get(r, "id")?,
        kind: SourceKind::parse(&kind).ok_or_else(|| MetaError::Corrupt {
            what: "source kind",
            detail: kind.clone(),
        })?,
        collector: get(r, "collector")?,
        node: get(r, "node")?,
        host: get(r, "host")?,
        ip: get(r, "ip")?,
        first_seen: time(r, "first_seen_at")?,
        last_event_at: opt_time(r, "last_event_at")?,
        events_total: u(r, "events_total")?,
        parse_errors_total: u(r, "parse_errors_total")?,
        drops_total: u(r, "drops_total")?,
        events_window: u(r, "events_window")?,
        parse_errors_window: u(r, "parse_window")?,
        drops_window: u(r, "drops_window")?,
    })
}
