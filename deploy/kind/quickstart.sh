#!/usr/bin/env bash
# ferrolb on kind: a cluster (1 control plane + 2 workers), ferrolb's images loaded from
# `cargo xtask image`, crds/ and deploy/ applied, a VIPPool taken from the kind Docker network,
# the `hostnames` example behind a LoadBalancer Service on port 80, and curl from this host.
#
#   deploy/kind/quickstart.sh [--name NAME] [--dual-stack] [--skip-build]
#   deploy/kind/quickstart.sh --print-range FILE   # ranges from `docker network inspect` JSON
#   deploy/kind/quickstart.sh --print-pool FILE    # the VIPPool it would apply
#
# FILE may be `-` for standard input. See deploy/kind/README.md.
set -euo pipefail
shopt -s inherit_errexit

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
name="ferrolb"
dual_stack=false
skip_build=false
network="${KIND_EXPERIMENTAL_DOCKER_NETWORK:-kind}"
rollout_timeout="180s"
tmp_files=()
trap 'rm -f "${tmp_files[@]}"' EXIT

say() { printf '\n==> %s\n' "$*"; }
die() {
  printf 'quickstart: %s\n' "$*" >&2
  exit 1
}

# --- the pool's range, from `docker network inspect` JSON ------------------------------------

# Every "Subnet" value in `docker network inspect` JSON (pretty-printed or not) on stdin.
subnets() {
  grep -oE '"Subnet"[[:space:]]*:[[:space:]]*"[^"]+"' | sed -E 's/.*"([^"]+)"$/\1/' || true
}

ipv4_to_int() {
  local a b c d
  IFS=. read -r a b c d <<<"$1"
  echo $(((a << 24) | (b << 16) | (c << 8) | d))
}

int_to_ipv4() {
  echo "$((($1 >> 24) & 255)).$((($1 >> 16) & 255)).$((($1 >> 8) & 255)).$(($1 & 255))"
}

# The last /28 of an IPv4 subnet without its broadcast address: 172.18.0.0/16 gives
# 172.18.255.240-172.18.255.254. Docker hands out container addresses from the bottom.
ipv4_range() {
  local addr="${1%/*}" prefix="${1#*/}"
  if ! [[ "$prefix" =~ ^[0-9]+$ ]] || ((prefix > 28)); then
    die "IPv4 subnet $1 is smaller than a /28: no room for a LoadBalancer range"
  fi
  local host_bits=$((32 - prefix))
  local network=$((($(ipv4_to_int "$addr") >> host_bits) << host_bits))
  local last=$((network + (1 << host_bits) - 1))
  echo "$(int_to_ipv4 $((last - 15)))-$(int_to_ipv4 $((last - 1)))"
}

# Sixteen addresses ending in ff00-ff0f of an IPv6 subnet of at least 16 host bits:
# fc00:f853:ccd:e793::/64 gives fc00:f853:ccd:e793::ff00-fc00:f853:ccd:e793::ff0f.
ipv6_range() {
  local addr="${1%/*}" prefix="${1#*/}" base
  if ! [[ "$prefix" =~ ^[0-9]+$ ]] || ((prefix > 112)); then
    echo "quickstart: IPv6 subnet $1 is smaller than a /112: no IPv6 range" >&2
    return 0
  fi
  if [[ "$addr" == *:: ]]; then
    base="$addr"
  elif [[ "$addr" == *:0 ]]; then
    base="${addr%0}"
  else
    echo "quickstart: IPv6 subnet $1 does not end in zeros: no IPv6 range" >&2
    return 0
  fi
  echo "${base}ff00-${base}ff0f"
}

# The pool's ranges, one a line (IPv4 first), from `docker network inspect` JSON in file $1
# (the first subnet of each family counts).
print_range() {
  local json v4="" v6="" s
  json="$(cat -- "$1")" || die "cannot read $1"
  while IFS= read -r s; do
    if [[ -z "$s" ]]; then
      continue
    elif [[ "$s" == *:* ]]; then
      if [[ -z "$v6" ]]; then v6="$(ipv6_range "$s")"; fi
    elif [[ -z "$v4" ]]; then
      v4="$(ipv4_range "$s")"
    fi
  done < <(subnets <<<"$json")
  [[ -n "$v4" ]] || die "no IPv4 subnet in the network's IPAM config"
  echo "$v4"
  if [[ -n "$v6" ]]; then echo "$v6"; fi
}

# deploy/samples/vippool.yaml with its line marked KIND_LB_RANGE replaced by one such line per
# range of file $1 (same indentation).
print_pool() {
  local ranges sample="$repo/deploy/samples/vippool.yaml" line r indent
  ranges="$(print_range "$1")"
  grep -q '# KIND_LB_RANGE$' "$sample" || die "$sample has no line marked KIND_LB_RANGE"
  while IFS= read -r line || [[ -n "$line" ]]; do
    if [[ "$line" == *"# KIND_LB_RANGE" ]]; then
      indent="${line%%-*}"
      while IFS= read -r r; do
        printf '%s- %s # KIND_LB_RANGE\n' "$indent" "$r"
      done <<<"$ranges"
    else
      printf '%s\n' "$line"
    fi
  done <"$sample"
}

# --- the cluster -------------------------------------------------------------------------------

k() { kubectl --context "kind-${name}" "$@"; }

need() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing: install it first (see deploy/kind/README.md)"
  done
}

create_cluster() {
  if kind get clusters 2>/dev/null | grep -qx "$name"; then
    say "kind cluster $name exists: using it"
    return
  fi
  local config shape="1 control plane, 2 workers"
  config="$(mktemp)"
  tmp_files+=("$config")
  if $dual_stack; then shape+=", dual-stack"; fi
  {
    echo "kind: Cluster"
    echo "apiVersion: kind.x-k8s.io/v1alpha4"
    if $dual_stack; then printf 'networking:\n  ipFamily: dual\n'; fi
    printf 'nodes:\n  - role: control-plane\n  - role: worker\n  - role: worker\n'
  } >"$config"
  say "creating kind cluster $name ($shape)"
  kind create cluster --name "$name" --config "$config" --wait 120s
}

load_images() {
  if ! $skip_build; then
    say "building the images (cargo xtask image: needs root and Debian's apt)"
    (cd "$repo" && cargo xtask image)
  fi
  local tar found=false
  for tar in "$repo"/target/images/*.tar; do
    [[ -e "$tar" ]] || continue
    found=true
    say "loading $(basename "$tar") into $name"
    kind load image-archive "$tar" --name "$name"
  done
  $found || die "no image archives in $repo/target/images: run without --skip-build"
}

install_ferrolb() {
  say "applying crds/ and deploy/"
  k apply --server-side -f "$repo/crds/"
  k wait --for condition=Established --timeout=60s -f "$repo/crds/"
  k apply --server-side -k "$repo/deploy/"
  k -n ferrolb-system rollout status deployment/ferrolb-controller --timeout="$rollout_timeout"
  k -n ferrolb-system rollout status daemonset/ferrolb-speaker --timeout="$rollout_timeout"
}

apply_pool() {
  local json
  json="$(docker network inspect "$network")" || die "docker network inspect $network failed"
  say "VIPPool kind from network $network: $(print_range - <<<"$json" | paste -sd ' ' -)"
  print_pool - <<<"$json" | k apply --server-side -f -
  k apply --server-side -f "$repo/deploy/samples/l2announcementpolicy.yaml"
}

create_hostnames() {
  say "hostnames: 3 pods of registry.k8s.io/serve_hostname behind a LoadBalancer Service on port 80"
  k apply --server-side -f - <<'EOF'
apiVersion: apps/v1
kind: Deployment
metadata: {name: hostnames, namespace: default, labels: {app: hostnames}}
spec:
  replicas: 3
  selector: {matchLabels: {app: hostnames}}
  template:
    metadata: {labels: {app: hostnames}}
    spec:
      containers:
        - name: hostnames
          image: registry.k8s.io/serve_hostname
          ports: [{containerPort: 9376, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: hostnames, namespace: default}
spec:
  type: LoadBalancer
  ipFamilyPolicy: PreferDualStack
  selector: {app: hostnames}
  ports: [{name: http, port: 80, targetPort: 9376, protocol: TCP}]
EOF
  k rollout status deployment/hostnames --timeout="$rollout_timeout"
}

# Waits (60 s) for the Service's first address and prints it.
external_ip() {
  local ip="" _
  for _ in $(seq 60); do
    ip="$(k get service hostnames -o jsonpath='{.status.loadBalancer.ingress[0].ip}' 2>/dev/null || true)"
    if [[ -n "$ip" ]]; then
      echo "$ip"
      return
    fi
    sleep 1
  done
  k describe service hostnames >&2
  die "hostnames got no EXTERNAL-IP within 60 s (see the events above and: kubectl get vippools)"
}

# Waits (30 s) until the speakers name the node answering for the Service, and shows it.
announcer() {
  local node="" _
  for _ in $(seq 30); do
    node="$(k get serviceannouncement hostnames -o jsonpath='{.status.announcements[0].node}' 2>/dev/null || true)"
    if [[ -n "$node" ]]; then
      k get serviceannouncement hostnames
      return
    fi
    sleep 1
  done
  echo "quickstart: no node announces hostnames yet: kubectl get sva hostnames -o yaml says why" >&2
}

# Curls the VIP $1 six times once it answers (30 s); a VIP that never answers is an error
# when $2 is "required", else a warning.
curl_vip() {
  local ip="$1" required="$2" url ok=false _
  if [[ "$ip" == *:* ]]; then url="http://[$ip]/"; else url="http://$ip/"; fi
  for _ in $(seq 30); do
    if curl -fsS --max-time 2 "$url" >/dev/null 2>&1; then
      ok=true
      break
    fi
    sleep 1
  done
  if ! $ok; then
    local msg="$url does not answer from this host within 30 s (Docker Desktop? see deploy/kind/README.md)"
    if [[ "$required" == required ]]; then die "$msg"; fi
    echo "quickstart: $msg" >&2
    return 0
  fi
  for _ in 1 2 3 4 5 6; do
    printf '  curl %s -> %s\n' "$url" "$(curl -fsS --max-time 3 "$url" || echo "(no answer)")"
  done
}

main() {
  while (($#)); do
    case "$1" in
    --print-range)
      [[ $# -ge 2 ]] || die "--print-range needs a FILE"
      print_range "$2"
      return
      ;;
    --print-pool)
      [[ $# -ge 2 ]] || die "--print-pool needs a FILE"
      print_pool "$2"
      return
      ;;
    --name)
      [[ $# -ge 2 ]] || die "--name needs a value"
      name="$2"
      shift
      ;;
    --dual-stack) dual_stack=true ;;
    --skip-build) skip_build=true ;;
    -h | --help)
      sed -n '2,10p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'
      return
      ;;
    *) die "unknown argument $1 (try --help)" ;;
    esac
    shift
  done
  need docker kind kubectl curl
  $skip_build || need cargo
  docker info >/dev/null 2>&1 || die "docker does not answer: is the Docker engine running?"
  create_cluster
  load_images
  install_ferrolb
  apply_pool
  create_hostnames
  local ip
  ip="$(external_ip)"
  say "kubectl get service hostnames"
  k get service hostnames
  announcer
  say "curl from this host"
  curl_vip "$ip" required
  local ip6
  ip6="$(k get service hostnames -o jsonpath='{.status.loadBalancer.ingress[1].ip}')"
  if [[ -n "$ip6" ]]; then curl_vip "$ip6" optional; fi
  say "done. Look around: kubectl --context kind-$name get svc,sva -A"
  echo "    take it down: kind delete cluster --name $name"
}

main "$@"
