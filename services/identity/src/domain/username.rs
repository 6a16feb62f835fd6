use super::InvalidValue;

/// A login name: 3 to 32 characters of ASCII letters, digits, `.`, `_` and `-`, starting with a
/// letter or digit. Unique regardless of case; the spelling given at registration is kept.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub const MIN: usize = 3;
    pub const MAX: usize = 32;

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let value = value.trim();
        let invalid = |reason: &str| InvalidValue::new("username", reason);
        if value.is_empty() {
            return Err(invalid("must not be empty"));
        }
        let length = value.chars().count();
        if length < Self::MIN {
            return Err(invalid("must be at least 3 characters"));
        }
        if length > Self::MAX {
            return Err(invalid("must be at most 32 characters"));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        {
            return Err(invalid(
                "may contain only letters, digits, '.', '_' and '-'",
            ));
        }
        if !value.starts_with(|c: char| c.is_ascii_alphanumeric()) {
            return Err(invalid("must start with a letter or a digit"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Username {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert_eq!(Username::parse("johndoe").unwrap().as_str(), "johndoe");
        assert_eq!(
            Username::parse("  john.doe_2 ").unwrap().as_str(),
            "john.doe_2"
        );
        let too_long = "a".repeat(33);
        for bad in [
            "",
            "  ",
            "jo",
            "-john",
            "john doe",
            "jöhn",
            "john@doe",
            too_long.as_str(),
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?} accepted");
        }
    }

    proptest! {
        #[test]
        fn every_well_formed_name_is_accepted(name in "[a-zA-Z0-9][a-zA-Z0-9._-]{2,31}") {
            let parsed = Username::parse(&name).unwrap();
            prop_assert_eq!(parsed.as_str(), name.as_str());
        }

        #[test]
        fn anything_accepted_is_well_formed(input in "\\PC{0,40}") {
            if let Ok(name) = Username::parse(&input) {
                let s = name.as_str();
                prop_assert!((3..=32).contains(&s.len()));
                prop_assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || ".-_".contains(c)));
                prop_assert!(s.chars().next().unwrap().is_ascii_alphanumeric());
            }
        }
    }
}
