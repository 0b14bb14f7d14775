//! The certificate Secret, the webhook configurations (owned by a ClusterRole), and the
//! reachability check.

use std::collections::BTreeMap;

use ferrolb_core::names::MANAGER_CONTROLLER;
use k8s_openapi::ByteString;
use k8s_openapi::api::admissionregistration::v1::{
    MutatingWebhookConfiguration, ValidatingWebhookConfiguration,
};
use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::rbac::v1::ClusterRole;
use kube::api::{Patch, PatchParams, PostParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use time::OffsetDateTime;
use tracing::info;

use super::cert::{self, Material};
use super::configuration::{self, Owner, WebhookConfig};
use crate::admission_stamp::StampKey;

const ANN_NOT_AFTER: &str = "ferrolb.io/not-after";
const ANN_NAMES: &str = "ferrolb.io/names";

/// The Secret's content.
pub struct Loaded {
    /// The certificate to serve.
    pub current: Material,
    /// The CA bundle to trust (current CA first, then the previous one while rotating).
    pub bundle: String,
    /// The key of admission stamps.
    pub stamp_key: Option<StampKey>,
}

fn to_secret(cfg: &WebhookConfig, m: &Material, bundle: &str, stamp_key: &StampKey) -> Secret {
    let data = BTreeMap::from([
        (
            "stamp.key".to_string(),
            ByteString(stamp_key.as_bytes().to_vec()),
        ),
        (
            "tls.crt".to_string(),
            ByteString(m.cert_pem.clone().into_bytes()),
        ),
        (
            "tls.key".to_string(),
            ByteString(m.key_pem.clone().into_bytes()),
        ),
        ("ca.crt".to_string(), ByteString(bundle.as_bytes().to_vec())),
    ]);
    let mut s = Secret {
        data: Some(data),
        type_: Some("kubernetes.io/tls".into()),
        ..Secret::default()
    };
    s.metadata.name = Some(cfg.secret.clone());
    s.metadata.namespace = Some(cfg.namespace.clone());
    s.metadata.annotations = Some(BTreeMap::from([
        (ANN_NOT_AFTER.to_string(), m.not_after.to_string()),
        (ANN_NAMES.to_string(), m.names.join(",")),
    ]));
    s
}

fn from_secret(s: &Secret) -> Option<Loaded> {
    let data = s.data.as_ref()?;
    let text = |k: &str| String::from_utf8(data.get(k)?.0.clone()).ok();
    let bundle = text("ca.crt")?;
    let current = Material {
        ca_pem: first_pem(&bundle),
        cert_pem: text("tls.crt")?,
        key_pem: text("tls.key")?,
        not_after: s.annotations().get(ANN_NOT_AFTER)?.parse().ok()?,
        names: s
            .annotations()
            .get(ANN_NAMES)?
            .split(',')
            .map(String::from)
            .collect(),
    };
    Some(Loaded {
        current,
        bundle,
        stamp_key: data
            .get("stamp.key")
            .and_then(|k| StampKey::from_bytes(k.0.clone())),
    })
}

fn first_pem(bundle: &str) -> String {
    const END: &str = "-----END CERTIFICATE-----";
    bundle.find(END).map_or_else(
        || bundle.to_string(),
        |i| format!("{}\n", &bundle[..i + END.len()]),
    )
}

/// Reads the Secret, creating it when missing; the leader also renews it when due.
pub async fn ensure(client: &Client, cfg: &WebhookConfig, leader: bool) -> Result<Loaded, String> {
    let api: Api<Secret> = Api::namespaced(client.clone(), &cfg.namespace);
    let names = cert::service_names(&cfg.service, &cfg.namespace);
    let now = OffsetDateTime::now_utc();
    let existing = api
        .get_opt(&cfg.secret)
        .await
        .map_err(|e| format!("reading Secret {}/{}: {e}", cfg.namespace, cfg.secret))?;
    let Some(existing) = existing else {
        let m = cert::issue(&names, now).map_err(|e| format!("issuing a certificate: {e}"))?;
        let key = StampKey::generate().ok_or("no random numbers for a stamp key")?;
        let s = to_secret(cfg, &m, &m.ca_pem, &key);
        return match api.create(&PostParams::default(), &s).await {
            Ok(_) => {
                info!(secret = %cfg.secret, "created the webhook certificate");
                Ok(Loaded {
                    bundle: m.ca_pem.clone(),
                    current: m,
                    stamp_key: Some(key),
                })
            }
            // Another replica was first: use its certificate.
            Err(kube::Error::Api(e)) if e.code == 409 => {
                let s = api.get(&cfg.secret).await.map_err(|e| e.to_string())?;
                from_secret(&s).ok_or_else(|| "the webhook Secret is incomplete".into())
            }
            Err(e) => Err(format!(
                "creating Secret {}/{}: {e}",
                cfg.namespace, cfg.secret
            )),
        };
    };
    let loaded = from_secret(&existing);
    let reason = match &loaded {
        None => Some("the Secret is incomplete".to_string()),
        Some(l) if l.stamp_key.is_none() => Some("the Secret has no stamp key".to_string()),
        Some(l) => cert::renewal_reason(&l.current, &names, now),
    };
    match (reason, leader, loaded) {
        (Some(why), true, old) => {
            let m = cert::issue(&names, now).map_err(|e| format!("issuing a certificate: {e}"))?;
            let bundle = match &old {
                Some(o) => format!("{}{}", m.ca_pem, o.current.ca_pem),
                None => m.ca_pem.clone(),
            };
            let key = match old.as_ref().and_then(|o| o.stamp_key.clone()) {
                Some(k) => k,
                None => StampKey::generate().ok_or("no random numbers for a stamp key")?,
            };
            let mut s = to_secret(cfg, &m, &bundle, &key);
            s.metadata.resource_version = existing.metadata.resource_version.clone();
            api.replace(&cfg.secret, &PostParams::default(), &s)
                .await
                .map_err(|e| format!("renewing Secret {}/{}: {e}", cfg.namespace, cfg.secret))?;
            info!(secret = %cfg.secret, reason = %why, "renewed the webhook certificate");
            Ok(Loaded {
                current: m,
                bundle,
                stamp_key: Some(key),
            })
        }
        (_, _, Some(l)) => Ok(l),
        (Some(why), false, None) => Err(format!("{why}; waiting for the leader to renew it")),
        (None, _, None) => Err("the webhook Secret is incomplete".into()),
    }
}

/// Why the configurations were not applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    /// The owner ClusterRole is gone or going: ferrolb is being uninstalled, and a
    /// configuration applied now would outlive it.
    #[error(
        "ClusterRole {0} (--webhook-owner) is gone or being deleted: not applying the webhook configurations (uninstalling?)"
    )]
    OwnerGone(String),
    /// The API refused or failed.
    #[error(transparent)]
    Api(#[from] kube::Error),
}

/// The owner ClusterRole, `None` when it is missing, being deleted, or no longer readable (403:
/// its binding went first; a 401 is the ServiceAccount gone).
async fn owner(client: &Client, name: &str) -> Result<Option<Owner>, kube::Error> {
    let api: Api<ClusterRole> = Api::all(client.clone());
    match api.get_opt(name).await {
        Ok(Some(role)) if role.metadata.deletion_timestamp.is_none() => {
            Ok(role.metadata.uid.map(|uid| Owner {
                name: name.to_string(),
                uid,
            }))
        }
        Ok(_) => Ok(None),
        Err(kube::Error::Api(e)) if e.code == 401 || e.code == 403 => Ok(None),
        Err(e) => Err(e),
    }
}

/// Applies the Validating- and MutatingWebhookConfiguration trusting `bundle`, owned by the
/// `--webhook-owner` ClusterRole; never while that ClusterRole is gone.
pub async fn apply_configuration(
    client: &Client,
    cfg: &WebhookConfig,
    bundle: &str,
) -> Result<(), ApplyError> {
    let owner = owner(client, &cfg.owner)
        .await?
        .ok_or_else(|| ApplyError::OwnerGone(cfg.owner.clone()))?;
    let params = PatchParams::apply(MANAGER_CONTROLLER).force();
    let api: Api<ValidatingWebhookConfiguration> = Api::all(client.clone());
    let body = configuration::body(cfg, &owner, bundle);
    api.patch(&cfg.configuration, &params, &Patch::Apply(body))
        .await?;
    let api: Api<MutatingWebhookConfiguration> = Api::all(client.clone());
    let body = configuration::mutating_body(cfg, &owner, bundle);
    api.patch(&cfg.configuration, &params, &Patch::Apply(body))
        .await?;
    Ok(())
}

/// Asks the apiserver for a dry-run create that the webhook must refuse: a Service with an
/// externalIP (so the webhook's match condition selects it; a documentation address, valid for
/// the apiserver's own validation, which runs before validating webhooks) and the probe
/// annotation. The webhook's refusal proves the apiserver reaches it.
pub async fn reachability(client: &Client) -> Result<(), String> {
    let api: Api<Service> = Api::namespaced(client.clone(), "default");
    let probe: Service = serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "ferrolb-webhook-probe",
            "annotations": {ferrolb_api::names::ANN_WEBHOOK_PROBE: "true"}},
        "spec": {"ports": [{"port": 1}], "externalIPs": ["192.0.2.1"]},
    }))
    .map_err(|e| e.to_string())?;
    match api.create(&PostParams { dry_run: true, ..PostParams::default() }, &probe).await {
        Err(kube::Error::Api(e)) if e.message.contains(super::admission::PROBE_ANSWER) => Ok(()),
        Err(e) => Err(format!("the apiserver could not get an answer from the webhook: {e}")),
        Ok(_) => Err("the apiserver admitted the probe: the webhook was not consulted (failurePolicy Ignore and unreachable?)".into()),
    }
}
