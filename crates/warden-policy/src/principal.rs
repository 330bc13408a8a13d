//! Who a request's principal is: an identity of one kind, written in Cedar as an entity
//! of that kind's own type (`Agent::"support-bot"`, `ServiceAccount::"support-bot"`).
//!
//! Names are unique only within a kind, so the kind is part of the principal: a policy
//! that names `Agent::"support-bot"` can never apply to a service account that happens to
//! share the name, whatever the inventory (imports bring many such clashes). Every type is
//! declared under `Owner`, so `principal in Owner::"EMAIL"` still means "any identity of
//! EMAIL", of every kind.

use std::fmt;

/// The kind of identity a principal is; each is its own Cedar entity type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PrincipalKind {
    Agent,
    ServiceAccount,
    ApiKey,
    OAuthApp,
    Token,
    Certificate,
    Webhook,
    Workload,
}

impl PrincipalKind {
    /// Every kind, in the order the schema declares them.
    pub const ALL: [Self; 8] = [
        Self::Agent,
        Self::ServiceAccount,
        Self::ApiKey,
        Self::OAuthApp,
        Self::Token,
        Self::Certificate,
        Self::Webhook,
        Self::Workload,
    ];

    /// The Cedar entity type this kind is written as.
    pub const fn cedar_type(self) -> &'static str {
        match self {
            Self::Agent => "Agent",
            Self::ServiceAccount => "ServiceAccount",
            Self::ApiKey => "ApiKey",
            Self::OAuthApp => "OAuthApp",
            Self::Token => "Token",
            Self::Certificate => "Certificate",
            Self::Webhook => "Webhook",
            Self::Workload => "Workload",
        }
    }

    /// The kind as Warden's inventory names it (`agent`, `service_account`, …).
    pub const fn identity_kind(self) -> &'static str {
        match self {
            Self::Agent => "agent",
            Self::ServiceAccount => "service_account",
            Self::ApiKey => "api_key",
            Self::OAuthApp => "oauth_app",
            Self::Token => "token",
            Self::Certificate => "certificate",
            Self::Webhook => "webhook",
            Self::Workload => "workload",
        }
    }

    /// The kind for an inventory kind name, if it is one.
    pub fn from_identity_kind(kind: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|candidate| candidate.identity_kind() == kind)
    }

    /// The kind for a Cedar entity type name, if it is one.
    pub fn from_cedar_type(name: &str) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|candidate| candidate.cedar_type() == name)
    }
}

impl fmt::Display for PrincipalKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.cedar_type())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_round_trips_through_both_names() {
        for kind in PrincipalKind::ALL {
            assert_eq!(
                PrincipalKind::from_identity_kind(kind.identity_kind()),
                Some(kind)
            );
            assert_eq!(
                PrincipalKind::from_cedar_type(kind.cedar_type()),
                Some(kind)
            );
        }
        assert_eq!(PrincipalKind::from_identity_kind("Agent"), None);
        assert_eq!(PrincipalKind::from_cedar_type("agent"), None);
    }
}
