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

impl OwaspNhi {
    pub const ALL: &'static [Self] = &[
        Self::ImproperOffboarding,
        Self::SecretLeakage,
        Self::VulnerableThirdPartyNhi,
        Self::InsecureAuthentication,
        Self::OverprivilegedNhi,
        Self::InsecureCloudDeploymentConfigurations,
        Self::LongLivedSecrets,
        Self::EnvironmentIsolation,
        Self::NhiReuse,
        Self::HumanUseOfNhi,
    ];

    /// Reads `NHI7:2025` or the short `NHI7` (any case).
    pub fn parse(text: &str) -> Option<Self> {
        let upper = text.trim().to_ascii_uppercase();
        Self::ALL.iter().copied().find(|risk| {
            let id = risk.id();
            upper == id || Some(upper.as_str()) == id.strip_suffix(":2025")
        })
    }

    /// The risk's title as OWASP names it.
    pub fn title(self) -> &'static str {
        match self {
            Self::ImproperOffboarding => "Improper Offboarding",
            Self::SecretLeakage => "Secret Leakage",
            Self::VulnerableThirdPartyNhi => "Vulnerable Third-Party NHI",
            Self::InsecureAuthentication => "Insecure Authentication",
            Self::OverprivilegedNhi => "Overprivileged NHI",
            Self::InsecureCloudDeploymentConfigurations => {
                "Insecure Cloud Deployment Configurations"
            }
            Self::LongLivedSecrets => "Long-Lived Secrets",
            Self::EnvironmentIsolation => "Environment Isolation",
            Self::NhiReuse => "NHI Reuse",
            Self::HumanUseOfNhi => "Human Use of NHI",
        }
    }
}

impl Severity {
    pub const ALL: &'static [Self] = &[Self::Low, Self::Medium, Self::High, Self::Critical];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
            Self::Critical => "critical",
        }
    }

    /// Higher is worse: 1 (low) to 4 (critical), for sorting and "at least" filters.
    pub fn rank(self) -> i64 {
        match self {
            Self::Low => 1,
            Self::Medium => 2,
            Self::High => 3,
            Self::Critical => 4,
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|s| s.as_str() == text)
    }
}
