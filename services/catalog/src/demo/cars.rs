//! The demo fleet: eleven rental cars at every demo airport (three economy, three sedans, three
//! SUVs, two luxury cars), priced in the airport's currency. Derived deterministically, like the
//! schedule, so every machine gets the same cars with the same ids.

use platform::money::{Currency, Money};
use uuid::Uuid;

use super::{Sequence, airports};
use crate::domain::cars::{CarType, Transmission};
use crate::store::cars::CarFields;

/// `(brand, model, seats, transmission)`.
type Model = (&'static str, &'static str, i16, Transmission);

const AUTOMATIC: Transmission = Transmission::Automatic;
const MANUAL: Transmission = Transmission::Manual;

const ECONOMY: [Model; 8] = [
    ("Toyota", "Yaris", 5, AUTOMATIC),
    ("Volkswagen", "Polo", 5, MANUAL),
    ("Renault", "Clio", 5, MANUAL),
    ("Fiat", "500", 4, MANUAL),
    ("Kia", "Picanto", 4, AUTOMATIC),
    ("Hyundai", "i20", 5, MANUAL),
    ("Nissan", "Versa", 5, AUTOMATIC),
    ("Peugeot", "208", 5, MANUAL),
];

const SEDANS: [Model; 7] = [
    ("Toyota", "Camry", 5, AUTOMATIC),
    ("Honda", "Accord", 5, AUTOMATIC),
    ("Volkswagen", "Passat", 5, AUTOMATIC),
    ("Skoda", "Octavia", 5, MANUAL),
    ("Hyundai", "Elantra", 5, AUTOMATIC),
    ("Mazda", "6", 5, AUTOMATIC),
    ("Peugeot", "508", 5, AUTOMATIC),
];

const SUVS: [Model; 7] = [
    ("Toyota", "RAV4", 5, AUTOMATIC),
    ("Nissan", "Qashqai", 5, MANUAL),
    ("Hyundai", "Tucson", 5, AUTOMATIC),
    ("Ford", "Explorer", 7, AUTOMATIC),
    ("Kia", "Sportage", 5, AUTOMATIC),
    ("Volkswagen", "Tiguan", 5, AUTOMATIC),
    ("Jeep", "Grand Cherokee", 5, AUTOMATIC),
];

const LUXURY: [Model; 6] = [
    ("BMW", "5 Series", 5, AUTOMATIC),
    ("Mercedes-Benz", "E-Class", 5, AUTOMATIC),
    ("Audi", "A6", 5, AUTOMATIC),
    ("Tesla", "Model S", 5, AUTOMATIC),
    ("Lexus", "ES", 5, AUTOMATIC),
    ("Volvo", "S90", 5, AUTOMATIC),
];

/// A type of car, how many of it stand at every airport, the models to pick from, and the daily
/// price range in US dollars.
type Share = (CarType, usize, &'static [Model], (u64, u64));

const MIX: [Share; 4] = [
    (CarType::Economy, 3, &ECONOMY, (32, 48)),
    (CarType::Sedan, 3, &SEDANS, (48, 70)),
    (CarType::Suv, 3, &SUVS, (62, 95)),
    (CarType::Luxury, 2, &LUXURY, (120, 220)),
];

/// A whole number of dollars.
fn dollars(amount: u64, currency: Currency) -> Money {
    Money::from_minor(amount as i64 * 100, currency)
}

/// A UUID (version 4 layout) from the sequence, so that ids repeat from machine to machine.
fn uuid(sequence: &mut Sequence) -> Uuid {
    let high = u128::from(sequence.next()) << 64;
    let bytes = (high | u128::from(sequence.next())).to_be_bytes();
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// Every demo car with its id, airport by airport.
pub fn fleet() -> Vec<(Uuid, CarFields)> {
    let mut sequence = Sequence(0xCA55_2026);
    let mut cars = Vec::new();
    // In dollars, like the demo schedule's fares, so that a demo trip (flight, hotel and car) can
    // be paid in one currency.
    let currency = Currency::parse("USD").unwrap_or(Currency::UNKNOWN);
    for &(iata, _, city, ..) in airports() {
        for &(car_type, count, models, (cheapest, dearest)) in &MIX {
            for _ in 0..count {
                let (brand, model, seats, transmission) =
                    models[sequence.below(models.len() as u64) as usize];
                let price = cheapest + sequence.below(dearest - cheapest + 1);
                cars.push((
                    uuid(&mut sequence),
                    CarFields {
                        location: city.to_owned(),
                        car_type,
                        daily_price: dollars(price, currency),
                        brand: brand.to_owned(),
                        model: model.to_owned(),
                        year: 2022 + sequence.below(4) as i32,
                        available: true,
                        seats,
                        transmission,
                        location_code: iata.to_owned(),
                    },
                ));
            }
        }
    }
    cars
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::cars::{daily_price, model_year};

    #[test]
    fn every_airport_has_every_type_priced_in_dollars_and_the_fleet_repeats() {
        let fleet = fleet();
        assert_eq!(fleet.len(), airports().len() * 11);
        for &(iata, ..) in airports() {
            let here: Vec<&CarFields> = fleet
                .iter()
                .map(|(_, car)| car)
                .filter(|car| car.location_code == iata)
                .collect();
            assert!(here.len() >= 10, "{iata}");
            for car_type in CarType::ALL {
                assert!(here.iter().any(|car| car.car_type == car_type), "{iata}");
            }
            let currency = "USD";
            for car in here {
                assert_eq!(car.daily_price.currency().as_str(), currency, "{iata}");
                // Every demo price is one the API accepts.
                let text = serde_json::json!(car.daily_price.major_text());
                assert_eq!(
                    daily_price(&text, car.daily_price.currency()),
                    Ok(car.daily_price)
                );
                assert!(model_year(i64::from(car.year)).is_ok());
            }
        }
        let ids: std::collections::HashSet<Uuid> = fleet.iter().map(|(id, _)| *id).collect();
        assert_eq!(ids.len(), fleet.len(), "ids are unique");
        assert!(ids.iter().all(|id| id.get_version_num() == 4));
        let again = super::fleet();
        assert_eq!(again[17].0, fleet[17].0);
        assert_eq!(again[17].1.daily_price, fleet[17].1.daily_price);
        // Luxury costs more than economy at the same airport.
        let paris: Vec<&CarFields> = fleet
            .iter()
            .map(|(_, car)| car)
            .filter(|car| car.location_code == "CDG")
            .collect();
        let cheapest_luxury = paris
            .iter()
            .filter(|c| c.car_type == CarType::Luxury)
            .map(|c| c.daily_price.minor())
            .min();
        let dearest_economy = paris
            .iter()
            .filter(|c| c.car_type == CarType::Economy)
            .map(|c| c.daily_price.minor())
            .max();
        assert!(cheapest_luxury > dearest_economy);
    }
}
