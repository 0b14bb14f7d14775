//! Kubernetes strings shared by every ferrolb component: the LoadBalancer class, annotations,
//! labels and finalizer. Condition types and field managers are in `ferrolb_core::names`.

/// `spec.loadBalancerClass` of Services ferrolb owns (also owned when unset and the controller
/// runs as the cluster's default class).
pub const LOAD_BALANCER_CLASS: &str = "ferrolb.io/lb";

/// Service annotation: requested IPs, comma separated, at most one per family.
pub const ANN_LOAD_BALANCER_IPS: &str = "ferrolb.io/load-balancer-ips";
/// Service annotation: the name of the `VIPPool` to allocate from.
pub const ANN_IP_POOL: &str = "ferrolb.io/ip-pool";
/// Service annotation: Services in one namespace with the same key may share an IP.
pub const ANN_SHARING_KEY: &str = "ferrolb.io/sharing-key";
/// MetalLB's Service annotation for requested IPs, honoured like [`ANN_LOAD_BALANCER_IPS`] when
/// the controller runs with `--metallb-annotations`.
pub const METALLB_ANN_LOAD_BALANCER_IPS: &str = "metallb.io/loadBalancerIPs";
/// MetalLB's older spelling of [`METALLB_ANN_LOAD_BALANCER_IPS`].
pub const METALLB_ANN_LOAD_BALANCER_IPS_OLD: &str = "metallb.universe.tf/loadBalancerIPs";
/// MetalLB's Service annotation naming the pool, honoured like [`ANN_IP_POOL`].
pub const METALLB_ANN_ADDRESS_POOL: &str = "metallb.io/address-pool";
/// MetalLB's older spelling of [`METALLB_ANN_ADDRESS_POOL`].
pub const METALLB_ANN_ADDRESS_POOL_OLD: &str = "metallb.universe.tf/address-pool";
/// MetalLB's Service annotation for sharing an IP, honoured like [`ANN_SHARING_KEY`].
pub const METALLB_ANN_ALLOW_SHARED_IP: &str = "metallb.io/allow-shared-ip";
/// MetalLB's older spelling of [`METALLB_ANN_ALLOW_SHARED_IP`].
pub const METALLB_ANN_ALLOW_SHARED_IP_OLD: &str = "metallb.universe.tf/allow-shared-ip";
/// Service annotation written by the controller: the pool the Service's IPs came from.
/// Speakers announce a status IP only when it lies in this pool.
pub const ANN_ALLOCATED_FROM: &str = "ferrolb.io/allocated-from";
/// Service annotation written by the controller: its signature over the Service's allocation
/// (UID, addresses, pools, sharing key and ports), which speakers and the edge verify before
/// serving an address (`ferrolb_adapter::proof`).
pub const ANN_ALLOCATION_PROOF: &str = "ferrolb.io/allocation-proof";
/// Service annotation written by the controller: its signature over the Service's UID and the
/// `spec.externalIPs` it allowed; speakers announce an externalIP only when it verifies.
pub const ANN_EXTERNAL_IPS_PROOF: &str = "ferrolb.io/external-ips-proof";
/// ConfigMap in ferrolb's namespace, written by the controller only: the public keys that
/// verify [`ANN_ALLOCATION_PROOF`], `<key id>: <base64 Ed25519 public key>`.
pub const ALLOCATION_KEYS_CONFIGMAP: &str = "ferrolb-allocation-keys";
/// ferrolb's namespace when none is given.
pub const DEFAULT_NAMESPACE: &str = "ferrolb-system";
/// Service annotation and `VIPPool` label: `edge` selects the cloud-style edge load balancer.
pub const ANN_MODE: &str = "ferrolb.io/mode";
/// `VIPPool` label marking pools for the edge (never announced by L2 speakers).
pub const LABEL_MODE: &str = "ferrolb.io/mode";
/// Value of [`ANN_MODE`]/[`LABEL_MODE`] for the edge.
pub const MODE_EDGE: &str = "edge";
/// `VIPPool` annotation that allows shrinking or deleting a pool below addresses in use.
pub const ANN_FORCE: &str = "ferrolb.io/force";
/// Service annotation of the controller's reachability probe (a dry-run create): the webhook
/// refuses any Service carrying it, which proves the apiserver reached the webhook.
pub const ANN_WEBHOOK_PROBE: &str = "ferrolb.io/webhook-probe";

/// The finalizer the controller keeps on every LoadBalancer Service it owns, as the upstream
/// service controller does (`k8s.io/cloud-provider`'s `servicehelper.LoadBalancerCleanupFinalizer`):
/// a deleted Service stays until the controller has released its addresses, and a Service
/// changed to another type loses it once released.
pub const LOAD_BALANCER_CLEANUP_FINALIZER: &str = "service.kubernetes.io/load-balancer-cleanup";

/// Well-known Node label: nodes carrying it never announce or receive external load-balancer traffic.
pub const LABEL_EXCLUDE_FROM_LB: &str = "node.kubernetes.io/exclude-from-external-load-balancers";

/// Label on objects ferrolb creates, naming the component that manages them.
pub const LABEL_MANAGED_BY: &str = "app.kubernetes.io/managed-by";

/// ServiceAccount in ferrolb's namespace whose tokens `kubectl ferrolb` mints: bound to
/// ClusterRole [`DIAGNOSTICS_ROLE`].
pub const DIAGNOSTICS_SERVICE_ACCOUNT: &str = "ferrolb-diagnostics";
/// ClusterRole granting `get` on the speakers' diagnostic endpoints.
pub const DIAGNOSTICS_ROLE: &str = "ferrolb-diagnostics";
