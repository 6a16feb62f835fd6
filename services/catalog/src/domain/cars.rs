//! Rental cars: the values a car is made of, parsed once at the edge.

use chrono::Datelike;
use platform::money::{Currency, Money};

pub use contracts::states::CarType;

/// Whether the driver changes gears.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Transmission {
    Automatic,
    Manual,
}

impl Transmission {
    /// Accepts the wire value in any case.
    pub fn parse(value: &str) -> Result<Self, String> {
        match value.trim().to_ascii_lowercase().as_str() {
            "automatic" => Ok(Self::Automatic),
            "manual" => Ok(Self::Manual),
            _ => Err(format!(
                "{value:?} is not a transmission (automatic, manual)"
            )),
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Automatic => "automatic",
            Self::Manual => "manual",
        }
    }
}

impl TryFrom<String> for Transmission {
    type Error = String;

    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(&value)
    }
}

/// The most a car may cost a day, in major units of its currency (high enough for currencies
/// with small units, such as COP).
pub const MAX_DAILY_PRICE: i64 = 10_000_000;
/// Seats a rental car may have.
pub const SEATS: std::ops::RangeInclusive<i32> = 1..=15;
/// The oldest model year a rental car may have.
pub const OLDEST_YEAR: i32 = 1980;

/// A car's daily price: more than zero, at most [`MAX_DAILY_PRICE`], with no more decimals than
/// the currency has. Given as a decimal string (`"45.00"`) or a JSON number, which is read from
/// its decimal text, never through a float.
pub fn daily_price(value: &serde_json::Value, currency: Currency) -> Result<Money, String> {
    let text = match value {
        serde_json::Value::String(s) if s.trim() == s => s.clone(),
        serde_json::Value::Number(n) => n.to_string(),
        _ => {
            return Err("daily_rental_price must be a decimal amount such as \"45.00\"".to_owned());
        }
    };
    let price =
        Money::parse_major(&text, currency).map_err(|e| format!("daily_rental_price: {e}"))?;
    let most = MAX_DAILY_PRICE * 10_i64.pow(currency.exponent());
    if price.minor() <= 0 || price.minor() > most {
        return Err(format!(
            "daily_rental_price must be more than 0 and at most {MAX_DAILY_PRICE} {currency}"
        ));
    }
    Ok(price)
}

/// An amount in major units with every decimal of its currency: `"45.00"`, `"4500"` (JPY).
pub fn price_text(minor: i64, currency: &str) -> String {
    let exponent = Currency::parse(currency).map_or(2, |c| c.exponent());
    if exponent == 0 {
        return minor.to_string();
    }
    let scale = 10_i64.pow(exponent);
    let sign = if minor < 0 { "-" } else { "" };
    format!(
        "{sign}{}.{:0width$}",
        minor.abs() / scale,
        minor.abs() % scale,
        width = exponent as usize
    )
}

/// A model year: from [`OLDEST_YEAR`] to next year (next year's models sell from the summer).
pub fn model_year(year: i64) -> Result<i32, String> {
    let newest = chrono::Utc::now().year() + 1;
    match i32::try_from(year) {
        Ok(year) if (OLDEST_YEAR..=newest).contains(&year) => Ok(year),
        _ => Err(format!(
            "year must be from {OLDEST_YEAR} to {newest}, not {year}"
        )),
    }
}

/// Text of at most `max` characters with something besides spaces, trimmed.
pub fn text(value: &str, name: &str, max: usize) -> Result<String, String> {
    if value.trim().is_empty() || value.chars().count() > max {
        return Err(format!("{name} must be 1 to {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{name} cannot contain control characters"));
    }
    Ok(value.trim().to_owned())
}

/// The currency cars are priced in where the airport is, for the countries of the demo airports;
/// `None` elsewhere (the caller names one, or USD is used).
pub fn currency_of_country(country: &str) -> Option<&'static str> {
    Some(match country {
        "FR" | "DE" | "NL" | "ES" | "IT" | "AT" | "FI" | "IE" | "PT" | "GR" | "BE" => "EUR",
        "GB" => "GBP",
        "CH" => "CHF",
        "DK" => "DKK",
        "SE" => "SEK",
        "NO" => "NOK",
        "TR" => "TRY",
        "PL" => "PLN",
        "CZ" => "CZK",
        "HU" => "HUF",
        "US" => "USD",
        "CA" => "CAD",
        "MX" => "MXN",
        "BR" => "BRL",
        "AR" => "ARS",
        "CO" => "COP",
        "AE" => "AED",
        "QA" => "QAR",
        "EG" => "EGP",
        "ZA" => "ZAR",
        "KE" => "KES",
        "IN" => "INR",
        "SG" => "SGD",
        "HK" => "HKD",
        "JP" => "JPY",
        "KR" => "KRW",
        "CN" => "CNY",
        "TH" => "THB",
        "AU" => "AUD",
        "NZ" => "NZD",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use serde_json::json;

    fn currency(code: &str) -> Currency {
        Currency::parse(code).unwrap()
    }

    #[test]
    fn daily_prices_are_exact_positive_and_bounded() {
        let usd = currency("USD");
        assert_eq!(daily_price(&json!("45.00"), usd).unwrap().minor(), 4_500);
        assert_eq!(daily_price(&json!("45.5"), usd).unwrap().minor(), 4_550);
        assert_eq!(daily_price(&json!(45), usd).unwrap().minor(), 4_500);
        assert_eq!(daily_price(&json!(45.25), usd).unwrap().minor(), 4_525);
        assert_eq!(
            daily_price(&json!("10000000"), usd).unwrap().minor(),
            1_000_000_000
        );
        assert_eq!(
            daily_price(&json!("5200"), currency("JPY"))
                .unwrap()
                .minor(),
            5_200
        );
        for bad in [
            json!("45.001"),
            json!(45.001),
            json!("0"),
            json!("0.00"),
            json!("-1"),
            json!(-1),
            json!("10000000.01"),
            json!("1e3"),
            json!(" 45"),
            json!("abc"),
            json!(null),
            json!(true),
            json!(["45"]),
        ] {
            assert!(daily_price(&bad, usd).is_err(), "{bad}");
        }
        assert!(daily_price(&json!("52.5"), currency("JPY")).is_err());
    }

    #[test]
    fn prices_show_every_decimal_of_their_currency() {
        assert_eq!(price_text(4_500, "USD"), "45.00");
        assert_eq!(price_text(4_505, "EUR"), "45.05");
        assert_eq!(price_text(5_200, "JPY"), "5200");
        assert_eq!(price_text(12_345, "KWD"), "12.345");
        assert_eq!(price_text(7, "USD"), "0.07");
    }

    #[test]
    fn years_texts_and_transmissions() {
        assert_eq!(model_year(2024), Ok(2024));
        for bad in [1979, 3000, i64::MAX, -1] {
            assert!(model_year(bad).is_err(), "{bad}");
        }
        assert_eq!(text("  Toyota ", "brand", 100).unwrap(), "Toyota");
        assert!(text("   ", "brand", 100).is_err());
        assert!(text(&"x".repeat(101), "brand", 100).is_err());
        assert!(text("To\u{0}yota", "brand", 100).is_err());
        assert_eq!(Transmission::parse("Manual"), Ok(Transmission::Manual));
        assert!(Transmission::parse("cvt").is_err());
        assert_eq!(CarType::parse("SUV"), Ok(CarType::Suv));
        assert!(CarType::parse("van").is_err());
    }

    #[test]
    fn every_demo_airport_has_a_currency() {
        for airport in crate::demo::airports() {
            let code = currency_of_country(airport.3).unwrap();
            assert!(Currency::parse(code).is_ok(), "{}", airport.0);
        }
    }

    proptest! {
        #[test]
        fn price_text_reads_back_as_the_same_amount(minor in 1_i64..=10_000_000) {
            let usd = currency("USD");
            let text = price_text(minor, "USD");
            prop_assert_eq!(daily_price(&json!(text), usd).unwrap().minor(), minor);
        }
    }
}
