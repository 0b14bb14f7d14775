//! `kubectl ferrolb import-metallb`: the I/O around [`crate::metallb::import`]. Reads MetalLB's
//! objects and the Services from the cluster (default) or from files, prints the ferrolb
//! objects as YAML or applies them (server-side apply, field manager
//! [`crate::FIELD_MANAGER`]); warnings and notes go to stderr.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Args;
use ferrolb_api::{L2AnnouncementPolicy, VIPPool};
use k8s_openapi::api::core::v1::Service;
use kube::api::{DynamicObject, ListParams, Patch, PatchParams};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::core::{ApiResource, GroupVersionKind};
use kube::{Api, Client, Config};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::metallb::{self, Imported};

/// MetalLB's kinds read from the cluster: group version, kind, plural.
const KINDS: [(&str, &str, &str); 6] = [
    ("v1beta1", "IPAddressPool", "ipaddresspools"),
    ("v1beta1", "L2Advertisement", "l2advertisements"),
    ("v1beta1", "BGPAdvertisement", "bgpadvertisements"),
    ("v1beta2", "BGPPeer", "bgppeers"),
    ("v1beta1", "BFDProfile", "bfdprofiles"),
    ("v1beta1", "Community", "communities"),
];

/// `import-metallb`'s flags.
#[derive(Args, Debug)]
pub struct ImportArgs {
    /// Read from the cluster (the default when no -f is given).
    #[arg(long, conflicts_with = "filename")]
    pub from_cluster: bool,

    /// Read from this file instead (YAML, several documents and Lists allowed; `-` for stdin).
    /// Repeatable. Services in the files give adoption records like the cluster's.
    #[arg(short = 'f', long = "filename")]
    pub filename: Vec<PathBuf>,

    /// Apply the objects (server-side apply, field manager kubectl-ferrolb) instead of
    /// printing them.
    #[arg(long)]
    pub apply: bool,
}

/// Runs the import.
pub async fn run(kubeconfig: Option<&Path>, args: &ImportArgs) -> Result<()> {
    let mut client = None;
    let objects = if args.filename.is_empty() {
        let c = connect(kubeconfig).await?;
        let objects = from_cluster(&c).await?;
        client = Some(c);
        objects
    } else {
        from_files(&args.filename)?
    };
    let imported = metallb::import(&objects);
    let mut stderr = std::io::stderr().lock();
    for w in &imported.warnings {
        writeln!(stderr, "warning: {w}")?;
    }
    for n in &imported.notes {
        writeln!(stderr, "note: {n}")?;
    }
    if args.apply {
        let client = match client {
            Some(c) => c,
            None => connect(kubeconfig).await?,
        };
        apply(&client, &imported).await
    } else {
        print!("{}", render(&imported)?);
        Ok(())
    }
}

/// The objects as multi-document YAML: pools, then policies.
pub fn render(imported: &Imported) -> Result<String> {
    let mut out = String::new();
    for pool in &imported.pools {
        out.push_str(&document(pool)?);
    }
    for policy in &imported.policies {
        out.push_str(&document(policy)?);
    }
    Ok(out)
}

fn document<T: Serialize>(obj: &T) -> Result<String> {
    let mut value = serde_json::to_value(obj)?;
    if let Some(map) = value.as_object_mut() {
        map.remove("status");
    }
    Ok(format!("---\n{}", serde_norway::to_string(&value)?))
}

pub(crate) async fn connect(kubeconfig: Option<&Path>) -> Result<Client> {
    let config = match kubeconfig {
        Some(path) => {
            let kc = Kubeconfig::read_from(path)
                .with_context(|| format!("reading kubeconfig {}", path.display()))?;
            Config::from_custom_kubeconfig(kc, &KubeConfigOptions::default()).await?
        }
        None => Config::infer().await?,
    };
    Ok(Client::try_from(config)?)
}

/// Every MetalLB object and every Service of the cluster, as JSON values.
async fn from_cluster(client: &Client) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    let mut found = false;
    for (version, kind, plural) in KINDS {
        let gvk = GroupVersionKind::gvk(metallb::GROUP, version, kind);
        let api: Api<DynamicObject> = Api::all_with(
            client.clone(),
            &ApiResource::from_gvk_with_plural(&gvk, plural),
        );
        match api.list(&ListParams::default()).await {
            Ok(list) => {
                found |= kind == "IPAddressPool";
                for mut obj in list.items {
                    obj.types = Some(kube::core::TypeMeta {
                        api_version: format!("{}/{version}", metallb::GROUP),
                        kind: kind.to_string(),
                    });
                    out.push(serde_json::to_value(obj)?);
                }
            }
            Err(kube::Error::Api(e)) if e.code == 404 => {}
            Err(e) => return Err(e).with_context(|| format!("listing {plural}.metallb.io")),
        }
    }
    if !found {
        anyhow::bail!(
            "the cluster serves no ipaddresspools.metallb.io: is MetalLB (v0.13 or later) installed?"
        );
    }
    let services: Api<Service> = Api::all(client.clone());
    for svc in services.list(&ListParams::default()).await? {
        let mut v = serde_json::to_value(svc)?;
        v["apiVersion"] = "v1".into();
        v["kind"] = "Service".into();
        out.push(v);
    }
    Ok(out)
}

/// Every document of `paths` (`-`: stdin).
pub fn from_files(paths: &[PathBuf]) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for path in paths {
        let text = if path == Path::new("-") {
            std::io::read_to_string(std::io::stdin())?
        } else {
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?
        };
        out.extend(documents(&text).with_context(|| format!("parsing {}", path.display()))?);
    }
    Ok(out)
}

/// The non-empty YAML documents of `text`.
pub fn documents(text: &str) -> Result<Vec<Value>> {
    let mut out = Vec::new();
    for doc in serde_norway::Deserializer::from_str(text) {
        let v = Value::deserialize(doc)?;
        if !v.is_null() {
            out.push(v);
        }
    }
    Ok(out)
}

async fn apply(client: &Client, imported: &Imported) -> Result<()> {
    let params = PatchParams::apply(crate::FIELD_MANAGER);
    let pools: Api<VIPPool> = Api::all(client.clone());
    for pool in &imported.pools {
        let name = pool.metadata.name.clone().unwrap_or_default();
        pools
            .patch(&name, &params, &Patch::Apply(pool))
            .await
            .with_context(|| format!("applying VIPPool {name}"))?;
        println!("vippool.ferrolb.io/{name} serverside-applied");
    }
    let policies: Api<L2AnnouncementPolicy> = Api::all(client.clone());
    for policy in &imported.policies {
        let name = policy.metadata.name.clone().unwrap_or_default();
        policies
            .patch(&name, &params, &Patch::Apply(policy))
            .await
            .with_context(|| format!("applying L2AnnouncementPolicy {name}"))?;
        println!("l2announcementpolicy.ferrolb.io/{name} serverside-applied");
    }
    Ok(())
}
