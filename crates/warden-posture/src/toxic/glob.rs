//! The patterns entitlement rules match with: `*` stands for any run of characters (none
//! included), every other character for itself, and a pattern matches the whole value.

/// Whether `text` is what `pattern` describes.
///
/// Greedy with one backtrack point, the last `*` seen: linear in the common case and at
/// worst `pattern × text`, never exponential, whatever the input.
pub fn glob_matches(pattern: &str, text: &str) -> bool {
    let pattern = pattern.as_bytes();
    let text = text.as_bytes();
    let (mut p, mut t) = (0, 0);
    // The `*` to retry from, and the text position it was last tried at.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pattern.len() && pattern[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((star_at, tried)) = star {
            p = star_at + 1;
            t = tried + 1;
            star = Some((star_at, t));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

#[cfg(test)]
mod tests {
    use super::glob_matches;
    use proptest::prelude::*;

    #[test]
    fn stars_stand_for_any_run() {
        assert!(glob_matches(
            "github:*:admin",
            "github:organization/members:admin"
        ));
        assert!(!glob_matches(
            "github:*:admin",
            "github:organization/members:write"
        ));
        assert!(glob_matches(
            "*AdministratorAccess",
            "aws:policy/AdministratorAccess"
        ));
        assert!(!glob_matches(
            "*AdministratorAccess",
            "aws:policy/AdministratorAccessX"
        ));
        assert!(glob_matches("a*b*c", "abc"));
        assert!(glob_matches("a*b*c", "axxbyyc"));
        assert!(!glob_matches("a*b*c", "axxbyy"));
        assert!(glob_matches("*", ""));
        assert!(!glob_matches("", "a"));
    }

    proptest! {
        #[test]
        fn without_a_star_only_the_same_text_matches(pattern in "[a-z:/]{0,12}", text in "[a-z:/]{0,12}") {
            prop_assert_eq!(glob_matches(&pattern, &text), pattern == text);
        }

        #[test]
        fn a_star_in_place_of_any_slice_still_matches(
            text in "[a-z:/*]{0,16}",
            cut in (0usize..=16, 0usize..=16),
        ) {
            let (from, to) = (cut.0.min(cut.1).min(text.len()), cut.0.max(cut.1).min(text.len()));
            let pattern = format!("{}*{}", &text[..from], &text[to..]);
            prop_assert!(glob_matches(&pattern, &text));
        }

        #[test]
        fn a_match_means_the_literal_ends_agree(pattern in "[ab*]{0,8}", text in "[ab]{0,10}") {
            if glob_matches(&pattern, &text) {
                let head = pattern.split('*').next().unwrap_or_default();
                let tail = pattern.rsplit('*').next().unwrap_or_default();
                prop_assert!(text.starts_with(head));
                prop_assert!(text.ends_with(tail));
            }
        }
    }
}
