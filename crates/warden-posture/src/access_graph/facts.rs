//! A node's facts: a few named strings (status, owner, age, the action and resource of a
//! route), kept as a sorted list rather than a tree map. A graph of a large catalog holds
//! tens of thousands of nodes with two facts each; a map would give each its own tree node
//! of several hundred bytes, and the names are almost always fixed words that need no
//! string of their own. It reads and writes as a JSON object, as a map would.

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Facts by name, sorted by name, each name at most once.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Facts(Vec<(Cow<'static, str>, String)>);

impl Facts {
    /// Room for `n` facts.
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    /// Sets `name` to `value`, replacing what it held.
    pub fn insert(&mut self, name: impl Into<Cow<'static, str>>, value: String) {
        let name = name.into();
        match self
            .0
            .binary_search_by(|(held, _)| held.as_ref().cmp(name.as_ref()))
        {
            Ok(at) => self.0[at].1 = value,
            Err(at) => self.0.insert(at, (name, value)),
        }
    }

    /// The value of `name`.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .binary_search_by(|(held, _)| held.as_ref().cmp(name))
            .ok()
            .map(|at| self.0[at].1.as_str())
    }

    /// Every fact, sorted by name.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0
            .iter()
            .map(|(name, value)| (name.as_ref(), value.as_str()))
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }
}

impl Serialize for Facts {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name.as_ref(), value)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Facts {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct FactsVisitor;

        impl<'de> Visitor<'de> for FactsVisitor {
            type Value = Facts;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object of string facts")
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Facts, A::Error> {
                let mut facts = Facts::default();
                while let Some((name, value)) = map.next_entry::<String, String>()? {
                    facts.insert(name, value);
                }
                Ok(facts)
            }
        }

        deserializer.deserialize_map(FactsVisitor)
    }
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    #[test]
    fn reads_and_writes_as_an_object_sorted_by_name() {
        let mut facts = Facts::default();
        facts.insert("status", "active".into());
        facts.insert("age_days", "3".into());
        facts.insert("status", "revoked".into());
        let json = serde_json::to_string(&facts).unwrap_or_default();
        assert_eq!(json, r#"{"age_days":"3","status":"revoked"}"#);
        let back: Facts = serde_json::from_str(&json).unwrap_or_default();
        assert_eq!(back, facts);
        assert_eq!(back.get("status"), Some("revoked"));
        assert_eq!(back.get("owner"), None);
    }

    proptest! {
        /// Whatever is inserted in whatever order, the facts hold the last value of each
        /// name, sorted, exactly as a map would.
        #[test]
        fn behaves_as_a_sorted_map(
            pairs in proptest::collection::vec(("[a-e]{1,2}", "[a-z0-9]{0,4}"), 0..24)
        ) {
            let mut facts = Facts::default();
            let mut map = std::collections::BTreeMap::new();
            for (name, value) in &pairs {
                facts.insert(name.clone(), value.clone());
                map.insert(name.clone(), value.clone());
            }
            let listed: Vec<(String, String)> =
                facts.iter().map(|(n, v)| (n.to_owned(), v.to_owned())).collect();
            let expected: Vec<(String, String)> = map.into_iter().collect();
            prop_assert_eq!(listed, expected);
            let json = serde_json::to_value(&facts).unwrap_or_default();
            let back: Facts = serde_json::from_value(json).unwrap_or_default();
            prop_assert_eq!(back, facts);
        }
    }
}
