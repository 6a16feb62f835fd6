//! Money: integer minor units of an ISO 4217 currency. Never a float.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A three-letter ISO 4217 currency code in upper case.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Currency([u8; 3]);

impl Currency {
    /// ISO 4217's code for "no currency", for stored values that somehow do not parse.
    pub const UNKNOWN: Currency = Currency(*b"XXX");

    pub fn parse(code: &str) -> Result<Self, String> {
        let bytes = code.as_bytes();
        if bytes.len() == 3 && bytes.iter().all(u8::is_ascii_uppercase) {
            Ok(Self([bytes[0], bytes[1], bytes[2]]))
        } else {
            Err(format!("{code:?} is not a currency code like EUR or USD"))
        }
    }

    pub fn as_str(&self) -> &str {
        // Only ASCII upper-case letters are ever stored.
        std::str::from_utf8(&self.0).unwrap_or("XXX")
    }

    /// Digits after the decimal point (ISO 4217 minor unit). Currencies without cents are listed;
    /// everything else has two.
    pub fn exponent(&self) -> u32 {
        match self.as_str() {
            "JPY" | "KRW" | "ISK" | "CLP" | "VND" | "XAF" | "XOF" | "UGX" | "PYG" | "RWF" => 0,
            "BHD" | "JOD" | "KWD" | "OMR" | "TND" | "IQD" | "LYD" => 3,
            _ => 2,
        }
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for Currency {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for Currency {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let code = String::deserialize(d)?;
        Self::parse(&code).map_err(serde::de::Error::custom)
    }
}

/// An amount of money.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Money {
    minor: i64,
    currency: Currency,
}

impl Money {
    pub fn from_minor(minor: i64, currency: Currency) -> Self {
        Self { minor, currency }
    }

    /// Money as a service stored it (minor units and a currency code it validated when it was
    /// written); an unreadable code shows as `XXX` rather than failing the read.
    pub fn stored(minor: i64, currency: &str) -> Self {
        Self::from_minor(
            minor,
            Currency::parse(currency.trim()).unwrap_or(Currency::UNKNOWN),
        )
    }

    /// Parses a decimal amount in major units (`"199.99"`, `"200"`) with at most as many decimals
    /// as the currency has.
    pub fn parse_major(amount: &str, currency: Currency) -> Result<Self, String> {
        let amount = amount.trim();
        let exponent = currency.exponent();
        let (whole, fraction) = amount.split_once('.').unwrap_or((amount, ""));
        let digits_only = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        if !digits_only(whole) || (amount.contains('.') && !digits_only(fraction)) {
            return Err(format!("{amount:?} is not an amount like 199.99"));
        }
        if fraction.len() > exponent as usize {
            return Err(format!(
                "{currency} amounts have at most {exponent} decimals"
            ));
        }
        let scale = 10_i64.pow(exponent);
        let whole: i64 = whole
            .parse()
            .map_err(|_| format!("{amount:?} is too large"))?;
        let fraction: i64 = if fraction.is_empty() {
            0
        } else {
            format!("{fraction:0<width$}", width = exponent as usize)
                .parse()
                .unwrap_or(0)
        };
        whole
            .checked_mul(scale)
            .and_then(|m| m.checked_add(fraction))
            .map(|minor| Self { minor, currency })
            .ok_or_else(|| format!("{amount:?} is too large"))
    }

    pub fn minor(&self) -> i64 {
        self.minor
    }

    pub fn currency(&self) -> Currency {
        self.currency
    }

    /// `None` on overflow.
    pub fn times(&self, count: i64) -> Option<Self> {
        self.minor
            .checked_mul(count)
            .map(|minor| Self { minor, ..*self })
    }

    /// The amount in major units as exact decimal text, e.g. `199.99` or `200`.
    pub fn major_text(&self) -> String {
        let exponent = self.currency.exponent();
        if exponent == 0 {
            return self.minor.to_string();
        }
        let scale = 10_i64.pow(exponent);
        let sign = if self.minor < 0 { "-" } else { "" };
        let (whole, fraction) = (self.minor.abs() / scale, self.minor.abs() % scale);
        if fraction == 0 {
            format!("{sign}{whole}")
        } else {
            let text = format!("{fraction:0width$}", width = exponent as usize);
            format!("{sign}{whole}.{}", text.trim_end_matches('0'))
        }
    }

    /// The amount as a JSON number written from its exact decimal text (no float on the way).
    pub fn json_number(&self) -> serde_json::Value {
        serde_json::from_str(&self.major_text()).unwrap_or(serde_json::Value::Null)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {}", self.major_text(), self.currency)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn usd() -> Currency {
        Currency::parse("USD").unwrap()
    }

    #[test]
    fn parses_and_formats_exactly() {
        assert_eq!(Money::parse_major("199.99", usd()).unwrap().minor(), 19_999);
        assert_eq!(Money::parse_major("200", usd()).unwrap().minor(), 20_000);
        assert_eq!(Money::parse_major("0.5", usd()).unwrap().minor(), 50);
        assert_eq!(Money::from_minor(20_000, usd()).major_text(), "200");
        assert_eq!(Money::from_minor(19_950, usd()).major_text(), "199.5");
        assert_eq!(
            Money::from_minor(1_234, Currency::parse("JPY").unwrap()).major_text(),
            "1234"
        );
        assert_eq!(
            Money::from_minor(20_000, usd()).json_number(),
            serde_json::json!(200)
        );
        for bad in [
            "",
            "-1",
            "1.234",
            "1e3",
            "abc",
            ".5",
            "5.",
            "99999999999999999999",
        ] {
            assert!(Money::parse_major(bad, usd()).is_err(), "{bad:?}");
        }
        for bad in ["usd", "US", "USDX", "U$D"] {
            assert!(Currency::parse(bad).is_err(), "{bad:?}");
        }
    }

    proptest! {
        #[test]
        fn text_round_trips(minor in 0_i64..1_000_000_000_000) {
            let money = Money::from_minor(minor, usd());
            prop_assert_eq!(Money::parse_major(&money.major_text(), usd()).unwrap(), money);
        }
    }
}

/// Money on the wire: exact decimal text, minor units and currency, e.g.
/// `{"amount": "199.99", "amountMinor": 19999, "currency": "USD"}`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct MoneyView {
    pub amount: String,
    pub amount_minor: i64,
    pub currency: String,
}

impl From<Money> for MoneyView {
    fn from(money: Money) -> Self {
        Self {
            amount: money.major_text(),
            amount_minor: money.minor(),
            currency: money.currency().to_string(),
        }
    }
}

impl From<&Money> for MoneyView {
    fn from(money: &Money) -> Self {
        Self::from(*money)
    }
}
