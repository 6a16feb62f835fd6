use super::InvalidValue;

/// An email address: one `@`, a local part of at most 64 printable characters, and a domain of
/// dot-separated labels with a top-level domain of at least two letters. The domain is kept in
/// lower case; uniqueness ignores case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub const MAX: usize = 254;

    pub fn parse(value: &str) -> Result<Self, InvalidValue> {
        let value = value.trim();
        let invalid = |reason: &str| InvalidValue::new("email", reason);
        if value.is_empty() {
            return Err(invalid("must not be empty"));
        }
        if value.len() > Self::MAX {
            return Err(invalid("must be at most 254 characters"));
        }
        let Some((local, domain)) = value.rsplit_once('@') else {
            return Err(invalid("must be an address like name@example.com"));
        };
        let local_ok = !local.is_empty()
            && local.len() <= 64
            && !local.starts_with('.')
            && !local.ends_with('.')
            && !local.contains("..")
            && local
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(c));
        if !local_ok {
            return Err(invalid("has an invalid part before the '@'"));
        }
        let labels: Vec<&str> = domain.split('.').collect();
        let domain_ok = labels.len() >= 2
            && labels.iter().all(|label| {
                !label.is_empty()
                    && label.len() <= 63
                    && !label.starts_with('-')
                    && !label.ends_with('-')
                    && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            })
            && labels
                .last()
                .is_some_and(|tld| tld.len() >= 2 && tld.chars().all(|c| c.is_ascii_alphabetic()));
        if !domain_ok {
            return Err(invalid("has an invalid domain after the '@'"));
        }
        Ok(Self(format!("{local}@{}", domain.to_ascii_lowercase())))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Email {
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
        assert_eq!(
            Email::parse("johndoe@example.com").unwrap().as_str(),
            "johndoe@example.com"
        );
        assert_eq!(
            Email::parse(" Jo.Doe+x@Mail.Example.ORG ")
                .unwrap()
                .as_str(),
            "Jo.Doe+x@mail.example.org"
        );
        for bad in [
            "",
            "johndoe",
            "@example.com",
            "john@",
            "john@example",
            "john@example.c",
            "john@-example.com",
            "john@exa mple.com",
            "john..doe@example.com",
            ".john@example.com",
            "john@example..com",
            "jöhn@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?} accepted");
        }
        assert!(Email::parse(&format!("{}@example.com", "a".repeat(65))).is_err());
        assert!(Email::parse(&format!("a@{}.com", "b".repeat(250))).is_err());
    }

    proptest! {
        #[test]
        fn well_formed_addresses_are_accepted(
            local in "[a-z0-9][a-z0-9._+-]{0,20}[a-z0-9]",
            domain in "[a-z0-9]([a-z0-9-]{0,10}[a-z0-9])?",
            tld in "[a-z]{2,6}",
        ) {
            prop_assume!(!local.contains(".."));
            let address = format!("{local}@{domain}.{tld}");
            let parsed = Email::parse(&address).unwrap();
            prop_assert_eq!(parsed.as_str(), address.as_str());
        }

        #[test]
        fn anything_accepted_has_one_at_and_a_dotted_domain(input in "\\PC{0,80}") {
            if let Ok(email) = Email::parse(&input) {
                let (local, domain) = email.as_str().rsplit_once('@').unwrap();
                prop_assert!(!local.is_empty() && !local.contains('@'));
                prop_assert!(domain.contains('.'));
                prop_assert_eq!(domain.to_ascii_lowercase(), domain);
            }
        }
    }
}
