//! The two reviews against the apiserver: `TokenReview` (who is this token?) and
//! `SubjectAccessReview` (may this user do this?), as kube-rbac-proxy makes them. The
//! daemon's ServiceAccount needs `create` on `tokenreviews` and `subjectaccessreviews`
//! (deploy/ grants it).

use std::future::Future;

use k8s_openapi::api::authentication::v1::{TokenReview, TokenReviewSpec};
use k8s_openapi::api::authorization::v1::{
    NonResourceAttributes, SubjectAccessReview, SubjectAccessReviewSpec,
};
use kube::Api;
use kube::api::PostParams;

use super::decide::{Attributes, User};

/// A review that could not be made.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    /// The apiserver did not answer or refused the review itself.
    #[error("{kind} failed: {message}")]
    Api {
        /// `TokenReview` or `SubjectAccessReview`.
        kind: &'static str,
        /// Why (the client's error).
        message: String,
    },
}

/// Answers the two questions; [`KubeReviewer`] asks the apiserver, tests answer themselves.
pub trait Reviewer: Send + Sync + 'static {
    /// The user `token` belongs to; `Ok(Err(why))`: not a valid token.
    fn authenticate(
        &self,
        token: &str,
    ) -> impl Future<Output = Result<Result<User, String>, ReviewError>> + Send;

    /// Whether `user` may do `attrs`; `Ok(Err(reason))`: denied, with the authorizer's reason.
    fn authorize(
        &self,
        user: &User,
        attrs: &Attributes,
    ) -> impl Future<Output = Result<Result<(), String>, ReviewError>> + Send;
}

/// The audience of the tokens `kubectl ferrolb` mints to read the components' private endpoints
/// (`/debug/state`, `/debug/probe`, `/debug/rules`): the apiserver refuses such a token as a
/// credential, so one seen on the LAN opens nothing but those endpoints, and only until it
/// expires. [`KubeReviewer`] accepts tokens for the apiserver (Prometheus') and for this.
pub const PRIVATE_ENDPOINTS_AUDIENCE: &str = "ferrolb.io/private-endpoints";

/// Reviews with the apiserver through `client`.
#[derive(Clone)]
pub struct KubeReviewer {
    client: kube::Client,
}

impl KubeReviewer {
    /// Reviews through `client` (the daemon's in-cluster client).
    pub fn new(client: kube::Client) -> KubeReviewer {
        KubeReviewer { client }
    }
}

impl KubeReviewer {
    /// One `TokenReview` of `token`, for `audience` (`None`: the apiserver's).
    async fn review_token(
        &self,
        token: &str,
        audience: Option<&str>,
    ) -> Result<Result<User, String>, ReviewError> {
        let review = TokenReview {
            spec: TokenReviewSpec {
                token: Some(token.to_string()),
                audiences: audience.map(|a| vec![a.to_string()]),
            },
            ..TokenReview::default()
        };
        let api: Api<TokenReview> = Api::all(self.client.clone());
        let done = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| ReviewError::Api {
                kind: "TokenReview",
                message: e.to_string(),
            })?;
        let status = done.status.unwrap_or_default();
        let user = status.user.unwrap_or_default();
        if status.authenticated != Some(true) {
            let why = status
                .error
                .filter(|e| !e.is_empty())
                .unwrap_or_else(|| "token not authenticated".to_string());
            return Ok(Err(format!("Unauthorized: {why}")));
        }
        Ok(Ok(User {
            name: user.username.unwrap_or_default(),
            uid: user.uid.unwrap_or_default(),
            groups: user.groups.unwrap_or_default(),
        }))
    }
}

impl Reviewer for KubeReviewer {
    async fn authenticate(&self, token: &str) -> Result<Result<User, String>, ReviewError> {
        // The apiserver's own audience first (Prometheus' tokens), then ferrolb's.
        match self.review_token(token, None).await? {
            Ok(user) => Ok(Ok(user)),
            Err(why) => Ok(self
                .review_token(token, Some(PRIVATE_ENDPOINTS_AUDIENCE))
                .await?
                .map_err(|_| why)),
        }
    }

    async fn authorize(
        &self,
        user: &User,
        attrs: &Attributes,
    ) -> Result<Result<(), String>, ReviewError> {
        let review = SubjectAccessReview {
            spec: SubjectAccessReviewSpec {
                user: Some(user.name.clone()),
                uid: Some(user.uid.clone()).filter(|u| !u.is_empty()),
                groups: Some(user.groups.clone()),
                non_resource_attributes: Some(NonResourceAttributes {
                    verb: Some(attrs.verb.clone()),
                    path: Some(attrs.path.clone()),
                }),
                ..SubjectAccessReviewSpec::default()
            },
            ..SubjectAccessReview::default()
        };
        let api: Api<SubjectAccessReview> = Api::all(self.client.clone());
        let done = api
            .create(&PostParams::default(), &review)
            .await
            .map_err(|e| ReviewError::Api {
                kind: "SubjectAccessReview",
                message: e.to_string(),
            })?;
        let status = done.status.unwrap_or_default();
        if status.allowed {
            Ok(Ok(()))
        } else {
            Ok(Err(status.reason.unwrap_or_default()))
        }
    }
}
