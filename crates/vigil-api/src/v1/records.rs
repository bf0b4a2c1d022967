//! What the alert and incident handlers share. Both are records an analyst works: listed a
//! page at a time, read under one permission and changed under another, with comments and a
//! history or timeline under them that exist only while the record is in the caller's scope.
//! [`Record`] holds those shapes, so each handler names its record and keeps only what is its
//! own (its query, its store call, its response body).

use std::str::FromStr;
use std::sync::Arc;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use vigil_core::{Action, Comment, CommentTarget, TenantScope};

use super::Core;
use super::common::*;
use crate::ApiState;

/// An alert or an incident.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Record {
    /// An alert (`alerts.read`, `alerts.write`).
    Alert,
    /// An incident (`incidents.read`, `incidents.write`).
    Incident,
}

impl Record {
    fn read_action(self) -> Action {
        match self {
            Record::Alert => Action::AlertsRead,
            Record::Incident => Action::IncidentsRead,
        }
    }

    fn write_action(self) -> Action {
        match self {
            Record::Alert => Action::AlertsWrite,
            Record::Incident => Action::IncidentsWrite,
        }
    }

    fn comment_target(self, id: String) -> CommentTarget {
        match self {
            Record::Alert => CommentTarget::Alert(id),
            Record::Incident => CommentTarget::Incident(id),
        }
    }

    /// The core and the scope of a listing: the tenants the `tenant` parameter names
    /// (comma-separated; none: every tenant the caller may read these records in).
    pub fn lister<'s>(
        self,
        st: &'s ApiState,
        caller: &Caller,
        tenant: &Option<String>,
    ) -> ApiResult<(&'s Arc<Core>, TenantScope)> {
        let core = st.core()?;
        Ok((core, caller.scope(self.read_action(), &tenants(tenant)?)?))
    }

    /// The core and the caller's read scope.
    pub fn reader<'s>(
        self,
        st: &'s ApiState,
        caller: &Caller,
    ) -> ApiResult<(&'s Arc<Core>, TenantScope)> {
        let core = st.core()?;
        Ok((core, caller.scope(self.read_action(), &[])?))
    }

    /// The core and the caller's write scope.
    pub fn writer<'s>(
        self,
        st: &'s ApiState,
        caller: &Caller,
    ) -> ApiResult<(&'s Arc<Core>, TenantScope)> {
        let core = st.core()?;
        Ok((core, caller.scope(self.write_action(), &[])?))
    }

    /// As [`Record::reader`], for something under record `id`: 404 when `id` is no record of
    /// the scope, so nothing under another tenant's record answers.
    pub async fn reader_of<'s>(
        self,
        st: &'s ApiState,
        caller: &Caller,
        id: &str,
    ) -> ApiResult<(&'s Arc<Core>, TenantScope)> {
        let (core, scope) = self.reader(st, caller)?;
        match self {
            Record::Alert => core.store.get_alert(&scope, id).await.map(drop)?,
            Record::Incident => core.store.get_incident(&scope, id).await.map(drop)?,
        }
        Ok((core, scope))
    }

    /// The record's comments, oldest first.
    pub async fn list_comments(
        self,
        st: &ApiState,
        caller: &Caller,
        id: String,
    ) -> ApiResult<Json<Vec<Comment>>> {
        let (core, scope) = self.reader_of(st, caller, &id).await?;
        let target = self.comment_target(id);
        Ok(Json(core.store.list_comments(&scope, &target).await?))
    }

    /// Adds a comment (1 byte to 64 KiB) to the record: 201 with the comment.
    pub async fn add_comment(
        self,
        st: &ApiState,
        caller: &Caller,
        id: String,
        body: &str,
    ) -> ApiResult<Response> {
        let (core, scope) = self.writer(st, caller)?;
        if body.trim().is_empty() || body.len() > 65_536 {
            return Err(ApiError::invalid("body: 1 byte to 64 KiB"));
        }
        let target = self.comment_target(id);
        let c = core
            .store
            .add_comment(&scope, &target, &caller.actor(), body)
            .await?;
        Ok((StatusCode::CREATED, Json(c)).into_response())
    }
}

/// A comma-separated list parameter (`status=new,assigned`) of values of `T`; blanks are
/// skipped, an unknown value is a 400 naming `field`.
pub fn csv_param<T: FromStr>(field: &str, value: &Option<String>) -> ApiResult<Vec<T>> {
    let Some(s) = value else {
        return Ok(Vec::new());
    };
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(|x| {
            x.parse::<T>()
                .map_err(|_| ApiError::invalid(format!("{field}: unknown value {x:?}")))
        })
        .collect()
}
