//! The leaked-secret rule (OWASP NHI2): a reported secret that Warden matched to a
//! credential raises a critical finding for as long as that credential still works.
//!
//! What "still works" means depends on what leaked: a Warden client secret until it is
//! revoked or expires; an imported credential until its source's next export lists it
//! inactive or gone; an upstream's secret until a new version replaces it. The facts come
//! from the store (the reports, the credentials' state); the finding's remedy names the
//! exact command that switches the credential off where it lives.

use crate::finding::{OwaspNhi, Severity};
use crate::rules::Rule;

pub static SECRET_LEAKED: Rule = Rule {
    id: "secret-leaked",
    owasp: OwaspNhi::SecretLeakage,
    severity: Severity::Critical,
    remediation: "switch the leaked credential off where it lives, issue a new one, and remove the secret from where it was found (and from its history)",
    check: |_, _, _, _| {},
};

/// What leaked, and whether it still works now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LeakedCredential {
    /// A Warden client secret; `usable` while it is neither revoked nor expired.
    ClientSecret {
        credential_id: String,
        identity_name: String,
        usable: bool,
    },
    /// A credential of an imported identity, as its source last listed it.
    Imported {
        /// `access_key`, `service_account_key`, `token_secret`, `personal_access_token`, …
        credential_kind: String,
        credential_id: String,
        /// The identity's name (an IAM user, a service account's email, a token's name).
        identity_name: String,
        /// The source listed the credential active and the identity present.
        active: bool,
    },
    /// The secret Warden injects for an upstream, at the version that leaked.
    UpstreamSecret {
        upstream: String,
        leaked_version: i64,
        /// The upstream's secret version now; `None` once the upstream or its secret is gone.
        current_version: Option<i64>,
    },
}

/// One leak report, as the rule reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakFacts {
    pub credential: LeakedCredential,
    /// The scanner's name for the secret (`aws_access_key_id`), when it gave one.
    pub secret_kind: Option<String>,
    /// Where it was seen, latest last, each described in one line.
    pub locations: Vec<String>,
    pub report_count: i64,
    /// What Warden did: `revoked`, `suspended` or `none`.
    pub response: String,
}

/// The finding for one leak: evidence and an exact remedy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeakFinding {
    pub credential: String,
    pub severity: Severity,
    pub evidence: String,
    pub remediation: String,
}

/// The finding a leak raises now, or `None` once the leaked credential no longer works.
pub fn evaluate_leak(facts: &LeakFacts) -> Option<LeakFinding> {
    let (credential, live) = match &facts.credential {
        LeakedCredential::ClientSecret {
            credential_id,
            usable,
            ..
        } => (credential_id.clone(), *usable),
        LeakedCredential::Imported {
            credential_id,
            active,
            ..
        } => (credential_id.clone(), *active),
        LeakedCredential::UpstreamSecret {
            upstream,
            leaked_version,
            current_version,
        } => (
            format!("upstream:{upstream}:v{leaked_version}"),
            *current_version == Some(*leaked_version),
        ),
    };
    if !live {
        return None;
    }
    let places = match facts.locations.as_slice() {
        [] => "an unnamed place".to_string(),
        [only] => only.clone(),
        [.., last] => format!("{} places, latest {last}", facts.locations.len()),
    };
    let what = facts.secret_kind.as_deref().unwrap_or("secret");
    let response = match facts.response.as_str() {
        "suspended" => {
            "; Warden suspended the identity, but the credential still works at its source"
        }
        "revoked" => "; Warden revoked it",
        _ => "",
    };
    Some(LeakFinding {
        credential,
        severity: SECRET_LEAKED.severity,
        evidence: format!(
            "a {what} was found in {places} (reported {} time(s)){response}",
            facts.report_count
        ),
        remediation: remedy(&facts.credential),
    })
}

/// The command that switches the credential off where it lives.
fn remedy(credential: &LeakedCredential) -> String {
    match credential {
        LeakedCredential::ClientSecret {
            credential_id,
            identity_name,
            ..
        } => format!(
            "revoke it with `warden credential revoke {credential_id}` (its tokens and every token exchanged from them stop with it), then issue `{identity_name}` a new one with `warden credential issue`"
        ),
        LeakedCredential::Imported {
            credential_kind,
            credential_id,
            identity_name,
            ..
        } => match credential_kind.as_str() {
            "access_key" => format!(
                "deactivate it with `aws iam update-access-key --user-name {identity_name} --access-key-id {credential_id} --status Inactive`, then delete it with `aws iam delete-access-key --user-name {identity_name} --access-key-id {credential_id}`"
            ),
            "service_account_key" => {
                let key = credential_id.rsplit('/').next().unwrap_or(credential_id);
                format!(
                    "disable it with `gcloud iam service-accounts keys disable {key} --iam-account={identity_name}`, then delete it with `gcloud iam service-accounts keys delete {key} --iam-account={identity_name}`"
                )
            }
            "token_secret" => {
                let (namespace, secret) = credential_id
                    .split_once('/')
                    .unwrap_or(("default", credential_id));
                format!(
                    "delete the token Secret with `kubectl delete secret {secret} -n {namespace}` (its token stops working), and use short-lived projected tokens instead"
                )
            }
            "personal_access_token" => format!(
                "revoke the organisation's grant with `gh api -X POST /orgs/ORG/personal-access-tokens/{credential_id} -f action=revoke`, and ask the token's owner to delete it"
            ),
            _ => format!(
                "switch off credential `{credential_id}` of `{identity_name}` at its source, then import the source again so Warden sees it inactive"
            ),
        },
        LeakedCredential::UpstreamSecret { upstream, .. } => format!(
            "rotate the secret at the provider of `{upstream}`, then give Warden the new one with `warden upstream set-secret {upstream}`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(credential: LeakedCredential) -> LeakFacts {
        LeakFacts {
            credential,
            secret_kind: Some("aws_access_key_id".into()),
            locations: vec!["a.env:3:7".into(), "b.env:1:1 @ abc123".into()],
            report_count: 2,
            response: "suspended".into(),
        }
    }

    fn aws(active: bool) -> LeakedCredential {
        LeakedCredential::Imported {
            credential_kind: "access_key".into(),
            credential_id: "AKIAQ3EXAMPLEKEY0001".into(),
            identity_name: "deploy-bot".into(),
            active,
        }
    }

    #[test]
    fn an_active_leaked_cloud_key_is_critical_with_the_exact_command() {
        let finding = evaluate_leak(&facts(aws(true))).expect("raised");
        assert_eq!(finding.severity, Severity::Critical);
        assert_eq!(finding.credential, "AKIAQ3EXAMPLEKEY0001");
        assert!(
            finding.remediation.contains(
                "aws iam update-access-key --user-name deploy-bot --access-key-id AKIAQ3EXAMPLEKEY0001 --status Inactive"
            ),
            "{}",
            finding.remediation
        );
        assert!(
            finding
                .evidence
                .contains("2 places, latest b.env:1:1 @ abc123")
        );
        assert!(finding.evidence.contains("still works at its source"));
    }

    #[test]
    fn a_key_its_source_lists_inactive_raises_nothing() {
        assert_eq!(evaluate_leak(&facts(aws(false))), None);
    }

    #[test]
    fn an_upstream_secret_counts_until_a_new_version_replaces_it() {
        let leaked = |current| LeakedCredential::UpstreamSecret {
            upstream: "billing".into(),
            leaked_version: 3,
            current_version: current,
        };
        let finding = evaluate_leak(&facts(leaked(Some(3)))).expect("raised");
        assert!(
            finding
                .remediation
                .contains("warden upstream set-secret billing")
        );
        assert_eq!(evaluate_leak(&facts(leaked(Some(4)))), None);
        assert_eq!(evaluate_leak(&facts(leaked(None))), None);
    }

    #[test]
    fn a_revoked_client_secret_raises_nothing_and_a_usable_one_names_its_revocation() {
        let secret = |usable| LeakedCredential::ClientSecret {
            credential_id: "c-1".into(),
            identity_name: "etl".into(),
            usable,
        };
        assert_eq!(evaluate_leak(&facts(secret(false))), None);
        let finding = evaluate_leak(&facts(secret(true))).expect("raised");
        assert!(finding.remediation.contains("warden credential revoke c-1"));
    }

    #[test]
    fn gcp_and_kubernetes_remedies_name_the_key_and_the_secret() {
        let gcp = LeakedCredential::Imported {
            credential_kind: "service_account_key".into(),
            credential_id: "projects/p/serviceAccounts/sa@p.iam.gserviceaccount.com/keys/abc123"
                .into(),
            identity_name: "sa@p.iam.gserviceaccount.com".into(),
            active: true,
        };
        let remedy = evaluate_leak(&facts(gcp)).expect("raised").remediation;
        assert!(remedy.contains(
            "gcloud iam service-accounts keys disable abc123 --iam-account=sa@p.iam.gserviceaccount.com"
        ));
        let k8s = LeakedCredential::Imported {
            credential_kind: "token_secret".into(),
            credential_id: "payments/ci-token".into(),
            identity_name: "ci".into(),
            active: true,
        };
        let remedy = evaluate_leak(&facts(k8s)).expect("raised").remediation;
        assert!(remedy.contains("kubectl delete secret ci-token -n payments"));
    }
}
