//! What a rule reports: the finding, its severity and its OWASP NHI Top 10 risk.

use serde::Serialize;

/// The OWASP Top 10 Non-Human Identities Risks, 2025 edition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum OwaspNhi {
    #[serde(rename = "NHI1:2025")]
    ImproperOffboarding,
    #[serde(rename = "NHI2:2025")]
    SecretLeakage,
    #[serde(rename = "NHI3:2025")]
    VulnerableThirdPartyNhi,
    #[serde(rename = "NHI4:2025")]
    InsecureAuthentication,
    #[serde(rename = "NHI5:2025")]
    OverprivilegedNhi,
    #[serde(rename = "NHI6:2025")]
    InsecureCloudDeploymentConfigurations,
    #[serde(rename = "NHI7:2025")]
    LongLivedSecrets,
    #[serde(rename = "NHI8:2025")]
    EnvironmentIsolation,
    #[serde(rename = "NHI9:2025")]
    NhiReuse,
    #[serde(rename = "NHI10:2025")]
    HumanUseOfNhi,
}

impl OwaspNhi {
    /// The id as OWASP writes it, `NHI7:2025`.
    pub fn id(self) -> &'static str {
        match self {
            Self::ImproperOffboarding => "NHI1:2025",
            Self::SecretLeakage => "NHI2:2025",
            Self::VulnerableThirdPartyNhi => "NHI3:2025",
            Self::InsecureAuthentication => "NHI4:2025",
            Self::OverprivilegedNhi => "NHI5:2025",
            Self::InsecureCloudDeploymentConfigurations => "NHI6:2025",
            Self::LongLivedSecrets => "NHI7:2025",
            Self::EnvironmentIsolation => "NHI8:2025",
            Self::NhiReuse => "NHI9:2025",
            Self::HumanUseOfNhi => "NHI10:2025",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Low,
    Medium,
    High,
    Critical,
}

/// One rule firing on one identity (and, where it is about one, one credential).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// The rule's stable id, e.g. `credential-unused`.
    pub rule: &'static str,
    pub owasp: OwaspNhi,
    pub severity: Severity,
    /// The identity's external id as its source names it.
    pub identity: String,
    pub credential: Option<String>,
    /// What made the rule fire, with the numbers.
    pub evidence: String,
    pub remediation: &'static str,
}
