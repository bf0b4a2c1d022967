//! The audit trail as a hash chain per tenant: append (record and chain head in one
//! transaction, the head row locked on PostgreSQL) and verify.

use sha2::Digest;

use super::{Tx, audit_row, fetch_all, new_id, nonempty, tx_exec, tx_opt, u, write_err};
use crate::model::{AuditRecord, Time};
use crate::scope::{TenantId, TenantScope};
use crate::sql::SqlMetaStore;
use crate::sql::build::Sql;
use crate::store::{AuditChainReport, MetaError, NewAuditRecord};

/// The previous hash of a chain's first record.
pub(crate) const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// Records read per query while verifying.
const VERIFY_BATCH: u64 = 5_000;

/// Problems reported per tenant at most (the count of bad records is exact).
const MAX_PROBLEMS: usize = 20;

/// SHA-256 (hex) over the version tag, the previous hash and every stored field of the record,
/// each length-prefixed so that no two records serialize alike.
#[allow(clippy::too_many_arguments)]
pub(crate) fn chain_hash(
    prev: &str,
    seq: u64,
    tenant: &str,
    at_ms: i64,
    actor: &str,
    action: &str,
    target_kind: &str,
    target_id: &str,
    outcome: &str,
    source_ip: Option<&str>,
    details: &str,
) -> String {
    let mut h = sha2::Sha256::new();
    let seq = seq.to_string();
    let at = at_ms.to_string();
    for part in [
        "vigil-audit-v1",
        prev,
        &seq,
        tenant,
        &at,
        actor,
        action,
        target_kind,
        target_id,
        outcome,
        source_ip.unwrap_or("\u{0}"),
        details,
    ] {
        h.update((part.len() as u64).to_be_bytes());
        h.update(part.as_bytes());
    }
    let mut out = String::with_capacity(64);
    for b in h.finalize() {
        out.push_str(&format!("{b:02x}"));
    }
    out
}

fn at_ms(t: Time) -> i64 {
    t.timestamp_millis()
}

impl SqlMetaStore {
    pub(super) async fn append_audit_chained(
        &self,
        rec: NewAuditRecord,
    ) -> Result<AuditRecord, MetaError> {
        nonempty("action", &rec.action, 200)?;
        let id = new_id();
        let details = rec.details.to_string();
        let at = at_ms(rec.at);
        let mut tx: Tx = self.begin().await?;
        let mut sql = Sql::new("INSERT INTO audit_chain (tenant_id, seq, hash) VALUES (");
        sql.arg(rec.tenant.as_str())
            .push(", 0, ")
            .arg(GENESIS)
            .push(") ON CONFLICT (tenant_id) DO NOTHING");
        tx_exec(&mut tx, &sql, "audit chain").await?;
        let mut sql = Sql::new("SELECT seq, hash FROM audit_chain WHERE tenant_id = ");
        sql.arg(rec.tenant.as_str()).push(self.d().for_update());
        let head = tx_opt(&mut tx, &sql)
            .await?
            .ok_or_else(|| MetaError::Corrupt {
                what: "audit chain",
                detail: format!("no head for tenant {}", rec.tenant),
            })?;
        let prev_seq = u(&head, "seq")?;
        let prev: String = super::get(&head, "hash")?;
        let seq = prev_seq + 1;
        let hash = chain_hash(
            &prev,
            seq,
            rec.tenant.as_str(),
            at,
            &rec.actor,
            &rec.action,
            &rec.target_kind,
            &rec.target_id,
            rec.outcome.as_str(),
            rec.source_ip.as_deref(),
            &details,
        );
        let mut sql = Sql::new(
            "INSERT INTO audit_log (id, tenant_id, at, actor, action, target_kind, target_id, outcome, source_ip, details, seq, prev_hash, hash) VALUES (",
        );
        sql.arg(&id)
            .push(", ")
            .arg(rec.tenant.as_str())
            .push(", ")
            .arg(at)
            .push(", ");
        sql.arg(&rec.actor)
            .push(", ")
            .arg(&rec.action)
            .push(", ")
            .arg(&rec.target_kind);
        sql.push(", ")
            .arg(&rec.target_id)
            .push(", ")
            .arg(rec.outcome.as_str())
            .push(", ");
        sql.arg(rec.source_ip.clone())
            .push(", ")
            .arg(details)
            .push(", ")
            .arg(seq)
            .push(", ")
            .arg(&prev)
            .push(", ")
            .arg(&hash)
            .push(")");
        tx_exec(&mut tx, &sql, "audit record").await?;
        let mut sql = Sql::new("UPDATE audit_chain SET seq = ");
        sql.arg(seq)
            .push(", hash = ")
            .arg(&hash)
            .push(" WHERE tenant_id = ")
            .arg(rec.tenant.as_str());
        tx_exec(&mut tx, &sql, "audit chain").await?;
        tx.commit().await.map_err(write_err("audit record"))?;
        let record = AuditRecord {
            id,
            tenant: rec.tenant,
            at: chrono::DateTime::from_timestamp_millis(at).unwrap_or(rec.at),
            actor: rec.actor,
            action: rec.action,
            target_kind: rec.target_kind,
            target_id: rec.target_id,
            outcome: rec.outcome,
            source_ip: rec.source_ip,
            details: rec.details,
            seq: Some(seq),
            hash: Some(hash),
        };
        if let Some(mirror) = self.audit_mirror.get() {
            mirror(&record);
        }
        Ok(record)
    }

    pub(super) async fn verify_audit_impl(
        &self,
        scope: &TenantScope,
    ) -> Result<Vec<AuditChainReport>, MetaError> {
        let mut out = Vec::new();
        for tenant in scope.iter() {
            out.push(self.verify_tenant(tenant).await?);
        }
        Ok(out)
    }

    async fn verify_tenant(&self, tenant: &TenantId) -> Result<AuditChainReport, MetaError> {
        let mut report = AuditChainReport {
            tenant: tenant.clone(),
            records: 0,
            unchained: 0,
            head_seq: 0,
            bad: 0,
            ok: true,
            problems: Vec::new(),
        };
        let problem = |r: &mut AuditChainReport, p: String| {
            r.ok = false;
            r.bad += 1;
            if r.problems.len() < MAX_PROBLEMS {
                r.problems.push(p);
            }
        };
        let mut sql =
            Sql::new("SELECT COUNT(*) AS n FROM audit_log WHERE seq IS NULL AND tenant_id = ");
        sql.arg(tenant.as_str());
        if let Some(r) = fetch_all(&self.r, &sql).await?.first() {
            report.unchained = u(r, "n")?;
        }
        let mut expect_seq = 1u64;
        let mut prev = GENESIS.to_owned();
        loop {
            let mut sql = Sql::new(
                "SELECT id, tenant_id, at, actor, action, target_kind, target_id, outcome, source_ip, details, seq, prev_hash, hash FROM audit_log WHERE tenant_id = ",
            );
            sql.arg(tenant.as_str())
                .push(" AND seq >= ")
                .arg(expect_seq)
                .push(&format!(" ORDER BY seq LIMIT {VERIFY_BATCH}"));
            let rows = fetch_all(&self.r, &sql).await?;
            let n = rows.len() as u64;
            for row in &rows {
                let rec = audit_row(row)?;
                let seq = rec.seq.unwrap_or(0);
                let stored_prev: Option<String> = super::get(row, "prev_hash")?;
                let details: String = super::get(row, "details")?;
                report.records += 1;
                if seq != expect_seq {
                    problem(
                        &mut report,
                        format!("records {expect_seq} to {} are missing", seq - 1),
                    );
                }
                if stored_prev.as_deref() != Some(prev.as_str()) {
                    problem(
                        &mut report,
                        format!(
                            "record {seq} ({}) does not follow the record before it",
                            rec.id
                        ),
                    );
                }
                let want = chain_hash(
                    stored_prev.as_deref().unwrap_or(""),
                    seq,
                    tenant.as_str(),
                    at_ms(rec.at),
                    &rec.actor,
                    &rec.action,
                    &rec.target_kind,
                    &rec.target_id,
                    rec.outcome.as_str(),
                    rec.source_ip.as_deref(),
                    &details,
                );
                let stored = rec.hash.clone().unwrap_or_default();
                if want != stored {
                    problem(
                        &mut report,
                        format!(
                            "record {seq} ({}) was altered: its hash does not match its fields",
                            rec.id
                        ),
                    );
                }
                prev = stored;
                expect_seq = seq + 1;
            }
            if n < VERIFY_BATCH {
                break;
            }
        }
        let mut sql = Sql::new("SELECT seq, hash FROM audit_chain WHERE tenant_id = ");
        sql.arg(tenant.as_str());
        let head = fetch_all(&self.r, &sql).await?;
        let (head_seq, head_hash) = match head.first() {
            Some(h) => (u(h, "seq")?, super::get::<String>(h, "hash")?),
            None => (0, GENESIS.to_owned()),
        };
        report.head_seq = head_seq;
        if head_seq != expect_seq - 1 || head_hash != prev {
            problem(
                &mut report,
                format!(
                    "the chain ends at record {} but its head says {head_seq}: records at the end were removed or the head was altered",
                    expect_seq - 1
                ),
            );
        }
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_covers_every_field_and_the_link() {
        let base = chain_hash(
            GENESIS,
            1,
            "main",
            5,
            "u1",
            "user.login",
            "user",
            "u1",
            "success",
            None,
            "{}",
        );
        let variants = [
            chain_hash(
                "1",
                1,
                "main",
                5,
                "u1",
                "user.login",
                "user",
                "u1",
                "success",
                None,
                "{}",
            ),
            chain_hash(
                GENESIS,
                2,
                "main",
                5,
                "u1",
                "user.login",
                "user",
                "u1",
                "success",
                None,
                "{}",
            ),
            chain_hash(
                GENESIS,
                1,
                "acme",
                5,
                "u1",
                "user.login",
                "user",
                "u1",
                "success",
                None,
                "{}",
            ),
            chain_hash(
                GENESIS,
                1,
                "main",
                6,
                "u1",
                "user.login",
                "user",
                "u1",
                "success",
                None,
                "{}",
            ),
            chain_hash(
                GENESIS,
                1,
                "main",
                5,
                "u2",
                "user.login",
                "user",
                "u1",
                "success",
                None,
                "{}",
            ),
            chain_hash(
                GENESIS,
                1,
                "main",
                5,
                "u1",
                "user.logout",
                "user",
                "u1",
                "success",
                None,
                "{}",
            ),
            chain_hash(
                GENESIS,
                1,
                "main",
                5,
                "u1",
                "user.login",
                "users",
                "u1",
                "success",
                None,
                "{}",
            ),
            chain_hash(
                GENESIS,
                1,
                "main",
                5,
                "u1",
                "user.login",
                "user",
                "u2",
                "success",
                None,
                "{}",
            ),
            chain_hash(
                GENESIS,
                1,
                "main",
                5,
                "u1",
                "user.login",
                "user",
                "u1",
                "failure",
                None,
                "{}",
            ),
            chain_hash(
                GENESIS,
                1,
                "main",
                5,
                "u1",
                "user.login",
                "user",
                "u1",
                "success",
                Some(""),
                "{}",
            ),
            chain_hash(
                GENESIS,
                1,
                "main",
                5,
                "u1",
                "user.login",
                "user",
                "u1",
                "success",
                None,
                "{ }",
            ),
            // moving a byte between fields changes the hash too (length prefixes)
            chain_hash(
                GENESIS,
                1,
                "main",
                5,
                "u1u",
                "ser.login",
                "user",
                "u1",
                "success",
                None,
                "{}",
            ),
        ];
        for (i, v) in variants.iter().enumerate() {
            assert_ne!(&base, v, "variant {i}");
        }
        assert_eq!(base.len(), 64);
    }
}
