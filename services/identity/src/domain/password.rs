use super::InvalidValue;

/// A password that meets the platform's rules: 8 to 128 characters, with at least one letter and
/// one digit, and not the same as the username. It is never logged or displayed.
#[derive(Clone)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password(***)")
    }
}

impl Password {
    pub const MIN: usize = 8;
    pub const MAX: usize = 128;

    /// `username` is compared case-insensitively; pass the account's username when known.
    pub fn parse(value: &str, username: Option<&str>) -> Result<Self, InvalidValue> {
        let invalid = |reason: &str| InvalidValue::new("password", reason);
        let length = value.chars().count();
        if length == 0 {
            return Err(invalid("must not be empty"));
        }
        if length < Self::MIN {
            return Err(invalid("must be at least 8 characters"));
        }
        if length > Self::MAX {
            return Err(invalid("must be at most 128 characters"));
        }
        if !value.chars().any(char::is_alphabetic) || !value.chars().any(|c| c.is_ascii_digit()) {
            return Err(invalid("must contain at least one letter and one digit"));
        }
        if username.is_some_and(|u| u.eq_ignore_ascii_case(value)) {
            return Err(invalid("must not be the same as the username"));
        }
        Ok(Self(value.to_owned()))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn examples() {
        assert!(Password::parse("securepassword123", Some("johndoe")).is_ok());
        for (bad, user) in [
            ("", None),
            ("abc123", None),
            ("passwordonly", None),
            ("1234567890", None),
            ("johndoe123", Some("JohnDoe123")),
        ] {
            assert!(Password::parse(bad, user).is_err(), "{bad:?} accepted");
        }
        assert!(Password::parse(&format!("a1{}", "x".repeat(127)), None).is_err());
        assert_eq!(
            format!("{:?}", Password::parse("secret123", None).unwrap()),
            "Password(***)"
        );
    }

    proptest! {
        #[test]
        fn accepted_passwords_meet_every_rule(input in "\\PC{0,140}") {
            if let Ok(password) = Password::parse(&input, None) {
                let p = password.expose();
                prop_assert!((8..=128).contains(&p.chars().count()));
                prop_assert!(p.chars().any(char::is_alphabetic));
                prop_assert!(p.chars().any(|c| c.is_ascii_digit()));
            }
        }

        #[test]
        fn long_enough_mixed_passwords_are_accepted(letters in "[a-zA-Z]{4,60}", digits in "[0-9]{4,60}") {
            let candidate = format!("{letters}{digits}");
            prop_assert!(Password::parse(&candidate, None).is_ok());
        }
    }
}
