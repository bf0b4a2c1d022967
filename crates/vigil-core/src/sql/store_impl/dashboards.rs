//! Dashboards in SQL: one row each, the widgets a JSON list (`crate::dashboards`).

use sqlx::any::AnyRow;

use super::{fetch_all, fetch_opt, flag, get, new_id, not_found, now, tenant, time, write_err};
use crate::dashboards::{Dashboard, DashboardSpec, Widget, check};
use crate::scope::TenantScope;
use crate::sql::SqlMetaStore;
use crate::sql::build::Sql;
use crate::store::MetaError;

const COLUMNS: &str = "SELECT id, tenant_id, owner, name, shared, widgets, created_at, updated_at FROM dashboards WHERE ";

fn dashboard_row(r: &AnyRow) -> Result<Dashboard, MetaError> {
    let widgets: String = get(r, "widgets")?;
    Ok(Dashboard {
        id: get(r, "id")?,
        tenant: tenant(r)?,
        owner: get(r, "owner")?,
        name: get(r, "name")?,
        shared: flag(r, "shared")?,
        widgets: serde_json::from_str::<Vec<Widget>>(&widgets).map_err(|e| MetaError::Corrupt {
            what: "dashboard widgets",
            detail: e.to_string(),
        })?,
        created_at: time(r, "created_at")?,
        updated_at: time(r, "updated_at")?,
    })
}

fn widgets_json(w: &[Widget]) -> Result<String, MetaError> {
    serde_json::to_string(w).map_err(|e| MetaError::Invalid {
        field: "widgets".into(),
        reason: e.to_string(),
    })
}

impl SqlMetaStore {
    pub(super) async fn create_dashboard_impl(
        &self,
        scope: &TenantScope,
        spec: DashboardSpec,
    ) -> Result<Dashboard, MetaError> {
        scope.check(&spec.tenant)?;
        check(&spec.name, &spec.widgets)?;
        let id = new_id();
        let at = now();
        let name = spec.name.trim().to_owned();
        let mut sql = Sql::new(
            "INSERT INTO dashboards (id, tenant_id, owner, name, shared, widgets, created_at, updated_at) VALUES (",
        );
        sql.arg(&id)
            .push(", ")
            .arg(spec.tenant.as_str())
            .push(", ")
            .arg(&spec.owner)
            .push(", ");
        sql.arg(&name)
            .push(", ")
            .arg(spec.shared)
            .push(", ")
            .arg(widgets_json(&spec.widgets)?)
            .push(", ");
        sql.arg(at).push(", ").arg(at).push(")");
        sql.query()
            .execute(&self.w)
            .await
            .map_err(write_err("dashboard"))?;
        Ok(Dashboard {
            id,
            tenant: spec.tenant,
            owner: spec.owner,
            name,
            shared: spec.shared,
            widgets: spec.widgets,
            created_at: at,
            updated_at: at,
        })
    }

    pub(super) async fn get_dashboard_impl(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<Dashboard, MetaError> {
        let mut sql = Sql::new(COLUMNS);
        sql.push("id = ")
            .arg(id)
            .push(" AND ")
            .scope("tenant_id", scope);
        match fetch_opt(&self.r, &sql).await? {
            Some(r) => dashboard_row(&r),
            None => Err(not_found("dashboard", id)),
        }
    }

    pub(super) async fn list_dashboards_impl(
        &self,
        scope: &TenantScope,
        owner: &str,
    ) -> Result<Vec<Dashboard>, MetaError> {
        let mut sql = Sql::new(COLUMNS);
        sql.scope("tenant_id", scope)
            .push(" AND (owner = ")
            .arg(owner)
            .push(" OR shared = 1) ORDER BY name, id");
        fetch_all(&self.r, &sql)
            .await?
            .iter()
            .map(dashboard_row)
            .collect()
    }

    pub(super) async fn update_dashboard_impl(
        &self,
        scope: &TenantScope,
        id: &str,
        spec: DashboardSpec,
    ) -> Result<Dashboard, MetaError> {
        scope.check(&spec.tenant)?;
        check(&spec.name, &spec.widgets)?;
        let mut sql = Sql::new("UPDATE dashboards SET name = ");
        sql.arg(spec.name.trim())
            .push(", shared = ")
            .arg(spec.shared)
            .push(", widgets = ")
            .arg(widgets_json(&spec.widgets)?);
        sql.push(", updated_at = ")
            .arg(now())
            .push(" WHERE id = ")
            .arg(id)
            .push(" AND tenant_id = ")
            .arg(spec.tenant.as_str());
        sql.push(" AND owner = ").arg(&spec.owner);
        let n = sql
            .query()
            .execute(&self.w)
            .await
            .map_err(write_err("dashboard"))?;
        if n.rows_affected() == 0 {
            return Err(not_found("dashboard", id));
        }
        self.get_dashboard_impl(scope, id).await
    }

    pub(super) async fn delete_dashboard_impl(
        &self,
        scope: &TenantScope,
        id: &str,
    ) -> Result<(), MetaError> {
        self.delete_scoped("dashboards", "dashboard", scope, id)
            .await
    }
}
