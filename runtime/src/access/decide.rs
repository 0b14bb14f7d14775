//! The pure part of the access check: what a request carries, what it asks, and what each
//! outcome answers.

/// What a request's `Authorization` header carries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// No header.
    Missing,
    /// A header that is not `Bearer <token>`.
    Malformed,
    /// The token.
    Bearer(String),
}

impl Credential {
    /// Reads the value of an `Authorization` header (`None`: absent). The scheme is
    /// case-insensitive (RFC 7235); the token is what follows it, trimmed.
    pub fn of(header: Option<&str>) -> Credential {
        let Some(value) = header else {
            return Credential::Missing;
        };
        let mut parts = value.trim().splitn(2, ' ');
        match (parts.next(), parts.next().map(str::trim)) {
            (Some(scheme), Some(token))
                if scheme.eq_ignore_ascii_case("bearer") && !token.is_empty() =>
            {
                Credential::Bearer(token.to_string())
            }
            _ => Credential::Malformed,
        }
    }
}

/// Who a token belongs to, as the `TokenReview` said.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct User {
    /// `system:serviceaccount:monitoring:prometheus`, ...
    pub name: String,
    /// Its UID.
    pub uid: String,
    /// Its groups.
    pub groups: Vec<String>,
}

/// What a request asks: a verb on a non-resource URL, as the apiserver's authorizer sees it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Attributes {
    /// `get`, `create`, ...
    pub verb: String,
    /// The request's path, without the query.
    pub path: String,
}

impl Attributes {
    /// The attributes of `method path`: the verb is the apiserver's for a non-resource request
    /// (`GET`/`HEAD` → `get`, `POST` → `create`, `PUT` → `update`, `PATCH` → `patch`,
    /// `DELETE` → `delete`, any other method in lower case).
    pub fn of(method: &str, path: &str) -> Attributes {
        let verb = match method.to_ascii_uppercase().as_str() {
            "GET" | "HEAD" => "get".to_string(),
            "POST" => "create".to_string(),
            "PUT" => "update".to_string(),
            "PATCH" => "patch".to_string(),
            "DELETE" => "delete".to_string(),
            other => other.to_ascii_lowercase(),
        };
        Attributes {
            verb,
            path: path.to_string(),
        }
    }
}

/// The outcome of the check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Serve the request.
    Allow,
    /// 401: no valid token.
    Unauthenticated(String),
    /// 403: a valid token whose user may not do this.
    Forbidden(String),
    /// 503: a review could not be made (the apiserver is unreachable); not cached.
    Unavailable(String),
}

impl Verdict {
    /// The HTTP status of this outcome.
    pub fn status(&self) -> u16 {
        match self {
            Verdict::Allow => 200,
            Verdict::Unauthenticated(_) => 401,
            Verdict::Forbidden(_) => 403,
            Verdict::Unavailable(_) => 503,
        }
    }

    /// The plain-text body of a refusal (empty for [`Verdict::Allow`]).
    pub fn body(&self) -> String {
        match self {
            Verdict::Allow => String::new(),
            Verdict::Unauthenticated(why) | Verdict::Forbidden(why) | Verdict::Unavailable(why) => {
                format!("{why}\n")
            }
        }
    }
}

/// The 401 of a request without a usable token.
pub fn unauthenticated(credential: &Credential) -> Option<Verdict> {
    let why = match credential {
        Credential::Bearer(_) => return None,
        Credential::Missing => {
            "Unauthorized: send a ServiceAccount token as `Authorization: Bearer <token>`"
        }
        Credential::Malformed => "Unauthorized: the Authorization header must be `Bearer <token>`",
    };
    Some(Verdict::Unauthenticated(why.to_string()))
}

/// The 403 of `user` asking `attrs`, naming what would allow it.
pub fn forbidden(user: &User, attrs: &Attributes, reason: &str) -> Verdict {
    let mut why = format!(
        "Forbidden: user {:?} may not {} {}: bind it to a ClusterRole granting verb {:?} on nonResourceURL {:?} (deploy/ ships ferrolb-metrics-reader)",
        user.name, attrs.verb, attrs.path, attrs.verb, attrs.path
    );
    if !reason.is_empty() {
        why.push_str(" (");
        why.push_str(reason);
        why.push(')');
    }
    Verdict::Forbidden(why)
}
