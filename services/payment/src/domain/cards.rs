//! Card numbers: validated (length, digits, Luhn), reduced to brand and last four digits at once.
//! The full number exists only while a card is being saved and is never stored, logged or
//! formatted.

use std::fmt;

/// A card number that passed validation. `Debug` and `Display` show only the last four digits.
pub struct CardNumber(String);

#[derive(Debug, PartialEq, Eq)]
pub enum CardError {
    Malformed,
    Checksum,
}

impl fmt::Display for CardError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CardError::Malformed => f.write_str("the card number must be 12 to 19 digits"),
            CardError::Checksum => f.write_str("the card number is not valid (check digit)"),
        }
    }
}

/// The Luhn check digit test.
fn luhn(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(*d);
            if i % 2 == 1 {
                let doubled = d * 2;
                if doubled > 9 { doubled - 9 } else { doubled }
            } else {
                d
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

impl CardNumber {
    /// Accepts digits with spaces or dashes between groups.
    pub fn parse(input: &str) -> Result<Self, CardError> {
        let mut digits = String::with_capacity(19);
        for c in input.trim().chars() {
            match c {
                '0'..='9' => digits.push(c),
                ' ' | '-' => {}
                _ => return Err(CardError::Malformed),
            }
        }
        if !(12..=19).contains(&digits.len()) {
            return Err(CardError::Malformed);
        }
        let values: Vec<u8> = digits.bytes().map(|b| b - b'0').collect();
        if !luhn(&values) {
            return Err(CardError::Checksum);
        }
        Ok(Self(digits))
    }

    pub fn last4(&self) -> &str {
        &self.0[self.0.len() - 4..]
    }

    /// The card network, from the number's prefix.
    pub fn brand(&self) -> &'static str {
        let n = &self.0;
        let prefix2: u32 = n[..2].parse().unwrap_or(0);
        let prefix4: u32 = n[..4].parse().unwrap_or(0);
        if n.starts_with('4') {
            "visa"
        } else if (51..=55).contains(&prefix2) || (2221..=2720).contains(&prefix4) {
            "mastercard"
        } else if prefix2 == 34 || prefix2 == 37 {
            "amex"
        } else if n.starts_with("6011") || n.starts_with("65") {
            "discover"
        } else {
            "card"
        }
    }

    /// The digits, for the processor adapter only.
    pub fn digits(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CardNumber(…{})", self.last4())
    }
}

impl fmt::Display for CardNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "…{}", self.last4())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn known_numbers() {
        let visa = CardNumber::parse("4242 4242 4242 4242").unwrap();
        assert_eq!(visa.brand(), "visa");
        assert_eq!(visa.last4(), "4242");
        assert_eq!(
            CardNumber::parse("5555-5555-5555-4444").unwrap().brand(),
            "mastercard"
        );
        assert_eq!(
            CardNumber::parse("378282246310005").unwrap().brand(),
            "amex"
        );
        assert_eq!(
            CardNumber::parse("4242424242424241").unwrap_err(),
            CardError::Checksum
        );
        assert_eq!(CardNumber::parse("4242").unwrap_err(), CardError::Malformed);
        assert_eq!(
            CardNumber::parse("4242x4242424242424").unwrap_err(),
            CardError::Malformed
        );
    }

    #[test]
    fn never_shows_the_full_number() {
        let card = CardNumber::parse("4000000000000002").unwrap();
        assert_eq!(format!("{card:?}"), "CardNumber(…0002)");
        assert_eq!(card.to_string(), "…0002");
    }

    proptest! {
        #[test]
        fn one_changed_digit_fails_the_check(body in "[0-9]{15}", position in 0usize..16, bump in 1u8..10) {
            // Complete a random 15-digit body with its check digit, then change one digit.
            let mut digits: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
            digits.push(0);
            let check = (0..10).find(|d| { digits[15] = *d; luhn(&digits) }).unwrap();
            digits[15] = check;
            let valid: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            prop_assert!(CardNumber::parse(&valid).is_ok());
            digits[position] = (digits[position] + bump) % 10;
            let changed: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            prop_assert_eq!(CardNumber::parse(&changed).unwrap_err(), CardError::Checksum);
        }
    }
}
