//! The controller's leader, as its Lease says (shared by `why` and `status`). Pure.

use k8s_openapi::api::coordination::v1::Lease;

/// The controller's Lease at `now`: `Ok(evidence)` when a holder renewed it within its
/// duration, `Err(problem)` otherwise (no Lease, no holder, never renewed, stale).
pub fn fresh(lease: Option<&Lease>, now: jiff::Timestamp) -> Result<String, String> {
    let Some(lease) = lease else {
        return Err("no controller Lease: no controller leader".into());
    };
    let spec = lease.spec.clone().unwrap_or_default();
    let holder = spec.holder_identity.filter(|h| !h.is_empty());
    let Some(holder) = holder else {
        return Err("controller Lease has no holder: no controller leader".into());
    };
    let duration = i64::from(spec.lease_duration_seconds.unwrap_or(15));
    let Some(renewed) = spec.renew_time.map(|t| t.0) else {
        return Err(format!(
            "controller leader {holder} never renewed its Lease"
        ));
    };
    let age = now.as_second() - renewed.as_second();
    if age <= duration {
        Ok(format!(
            "controller leader {holder} (Lease renewed {age}s ago, duration {duration}s)"
        ))
    } else {
        Err(format!(
            "controller leader {holder} is stale (Lease renewed {age}s ago, duration {duration}s)"
        ))
    }
}
