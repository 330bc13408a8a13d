//! Arbitrary input never panics a parser: it is read or refused.

use proptest::prelude::*;
use warden_import::{SourceFormat, parse};

fn seeds() -> Vec<Vec<u8>> {
    [
        "aws-credential-report/credential-report.csv",
        "aws-access-keys/list-access-keys.json",
        "k8s/cluster-list.yaml",
        "gcp-sa-keys/keys-list.json",
        "github-pats/org-personal-access-tokens.json",
        "csv/inventory.csv",
    ]
    .iter()
    .map(|relative| crate::fixture(relative).1)
    .collect()
}

/// Fixture bytes with a slice replaced by arbitrary bytes: close enough to the format to reach
/// past the first check.
fn mutated() -> impl Strategy<Value = Vec<u8>> {
    let seeds = seeds();
    (
        0..seeds.len(),
        any::<prop::sample::Index>(),
        prop::collection::vec(any::<u8>(), 0..32),
    )
        .prop_map(move |(seed, at, noise)| {
            let mut bytes = seeds[seed].clone();
            let at = at.index(bytes.len().max(1)).min(bytes.len());
            let end = (at + noise.len()).min(bytes.len());
            bytes.splice(at..end, noise);
            bytes
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn arbitrary_bytes_never_panic_any_parser(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        for format in SourceFormat::ALL {
            let _ = parse("fuzz", &bytes, Some(*format));
        }
        let _ = parse("fuzz", &bytes, None);
    }

    #[test]
    fn mutated_exports_never_panic_any_parser(bytes in mutated()) {
        for format in SourceFormat::ALL {
            let _ = parse("fuzz", &bytes, Some(*format));
        }
    }
}
