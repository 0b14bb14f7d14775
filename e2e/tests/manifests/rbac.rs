//! A small RBAC evaluator over deploy/'s Roles, ClusterRoles and bindings: what a
//! ServiceAccount may do, decided the way the apiserver's RBAC authorizer does.

use serde_json::Value;

use super::{Doc, strings};

/// One request, as the authorizer sees it.
#[derive(Debug, Clone, Copy)]
pub struct Request<'a> {
    pub verb: &'a str,
    /// API group ("" for core).
    pub group: &'a str,
    /// Resource, with `/subresource` if any.
    pub resource: &'a str,
    /// `None`: cluster-scoped, or all namespaces (list/watch).
    pub namespace: Option<&'a str>,
    /// The object's name when the request has one (not for create, list or watch without a
    /// name field selector).
    pub name: Option<&'a str>,
}

/// Whether ServiceAccount `namespace/name` may make `req`.
pub fn allows(docs: &[Doc], sa: (&str, &str), req: &Request<'_>) -> bool {
    docs.iter()
        .filter(|d| matches!(d.kind(), "ClusterRoleBinding" | "RoleBinding"))
        .filter(|b| binds(b, sa))
        .filter(|b| b.kind() == "ClusterRoleBinding" || b.namespace() == req.namespace)
        .filter_map(|b| role_of(docs, b))
        .flat_map(|role| role.value["rules"].as_array().cloned().unwrap_or_default())
        .any(|rule| rule_allows(&rule, req))
}

fn binds(binding: &Doc, (ns, name): (&str, &str)) -> bool {
    binding.value["subjects"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|s| s["kind"] == "ServiceAccount" && s["namespace"] == ns && s["name"] == name)
}

fn role_of<'a>(docs: &'a [Doc], binding: &Doc) -> Option<&'a Doc> {
    let r = &binding.value["roleRef"];
    let kind = r["kind"].as_str()?;
    let name = r["name"].as_str()?;
    docs.iter().find(|d| {
        d.kind() == kind
            && d.name() == name
            && (kind == "ClusterRole" || d.namespace() == binding.namespace())
    })
}

fn rule_allows(rule: &Value, req: &Request<'_>) -> bool {
    let has = |field: &str, want: &str| {
        strings(&rule[field])
            .iter()
            .any(|v| *v == want || *v == "*")
    };
    let names = strings(&rule["resourceNames"]);
    has("apiGroups", req.group)
        && has("resources", req.resource)
        && has("verbs", req.verb)
        && (names.is_empty() || req.name.is_some_and(|n| names.contains(&n)))
}

/// Every rule of every Role and ClusterRole, with where it is.
pub fn rules(docs: &[Doc]) -> Vec<(String, Value)> {
    docs.iter()
        .filter(|d| matches!(d.kind(), "Role" | "ClusterRole"))
        .flat_map(|d| {
            let at = format!("{} {}/{}", d.file, d.kind(), d.name());
            d.value["rules"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .map(move |r| (at.clone(), r))
        })
        .collect()
}
