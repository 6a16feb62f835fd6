"""Hotels, cars and whole trips booked in the browser, and their listings kept by ops."""

import re
from datetime import date, timedelta

from playwright.sync_api import expect

from conftest import BASE, local_date, register, screenshot, sign_in


def days(n):
    return (date.today() + timedelta(days=n)).isoformat()


def fill_new_card(scope, number="4242 4242 4242 4242"):
    scope.get_by_label("A new card").check()
    scope.get_by_label("Card number").fill(number)
    scope.get_by_label("Expiry month").fill("12")
    scope.get_by_label("Expiry year").fill("2031")
    scope.get_by_label("Security code").fill("123")


def test_a_traveller_finds_a_hotel_filters_it_and_books_a_room(page):
    register(page)
    page.goto(f"{BASE}/")
    hotels = page.locator("#hotels")
    hotels.get_by_label("City").fill("London")
    hotels.get_by_label("Check in").fill(days(12))
    hotels.get_by_label("Check out").fill(days(14))
    hotels.get_by_role("button", name="Search hotels").click()
    expect(page.locator("[data-count]")).to_contain_text("hotels with rooms")
    before = page.locator("[data-results] > li").count()
    assert before > 0
    # A filter refreshes the results in place (no navigation).
    page.evaluate("window.__notReloaded = true")
    page.get_by_role("radio", name="5 stars").check()
    expect(page).to_have_url(re.compile("stars=5"))
    assert page.evaluate("window.__notReloaded") is True
    shown = page.locator("[data-results] [aria-label$='stars']").all()
    assert shown, "a 5-star hotel in London"
    for stars in shown:
        assert stars.get_attribute("aria-label") == "5 stars"
    screenshot(page, "hotels-desktop")
    page.get_by_role("link", name=re.compile("^See rooms")).first.click()
    expect(page.get_by_role("heading", level=2, name=re.compile("^Rooms for"))).to_be_visible()
    hotel = page.get_by_role("heading", level=1).inner_text().rstrip(" ★")
    first_plan = page.locator("form[action^='/hotels/']").first
    first_plan.locator("summary").click()
    fill_new_card(first_plan)
    first_plan.get_by_role("button", name=re.compile("^Book and pay")).click()
    expect(page.get_by_role("heading", level=2, name="Paid and confirmed")).to_be_visible(timeout=15_000)
    expect(page.locator("main")).to_contain_text(hotel)


def test_a_traveller_rents_a_car_for_a_few_days(page):
    register(page)
    page.goto(f"{BASE}/cars?location=LHR&startDate={days(20)}&endDate={days(23)}")
    expect(page.locator("[data-count]")).to_contain_text("cars free")
    page.get_by_label("suv").check()
    expect(page).to_have_url(re.compile("type=suv"))
    page.get_by_role("link", name=re.compile("^Choose")).first.click()
    expect(page.get_by_role("heading", level=2, name="Rent it")).to_be_visible()
    fill_new_card(page)
    page.get_by_role("button", name="Book and pay").click()
    expect(page.get_by_role("heading", level=2, name="Paid and confirmed")).to_be_visible(timeout=15_000)


def test_a_whole_trip_is_booked_in_one_checkout(page, api):
    outbound = api.bookable_flight("CDG", "LHR")
    departure = local_date(outbound)
    back = (date.fromisoformat(departure) + timedelta(days=2)).isoformat()
    register(page)
    page.goto(f"{BASE}/")
    trip = page.locator("#trip")
    trip.get_by_label("From").fill("Paris")
    trip.get_by_label("To").fill("London")
    trip.get_by_label("Leave").fill(departure)
    trip.get_by_label("Return").fill(back)
    trip.get_by_role("button", name="Search flights, hotels and cars").click()
    page.locator("fieldset", has_text="Hotel").locator("input[name=hotel]").nth(1).check()
    page.locator("fieldset", has_text="Car").locator("input[name=car]").nth(1).check()
    page.get_by_label("Traveller 1 full name").fill("Mary Jackson")
    fill_new_card(page)
    page.get_by_role("button", name="Book the whole trip").click()
    expect(page.get_by_role("heading", level=2, name="Paid and confirmed")).to_be_visible(timeout=15_000)
    # The trip holds the flights, a hotel and a car, each confirmed.
    items = page.locator("dt:has-text('Item') + dd")
    assert items.count() >= 3
    for item in items.all():
        expect(item).to_contain_text("Confirmed")


def test_ops_list_change_and_remove_a_car(page, api):
    sign_in(page, "ops", "itinera-ops-1")
    page.goto(f"{BASE}/admin/listings")
    page.get_by_text("Add a car").click()
    form = page.locator("form[action='/admin/listings/cars']")
    model = f"Model {date.today().isoformat()}-{page.evaluate('Date.now()')}"
    form.get_by_label("Brand").fill("Volvo")
    form.get_by_label("Model").fill(model)
    form.get_by_label("Year").fill("2025")
    form.get_by_label("Type").select_option("sedan")
    form.get_by_label("Pick-up location").fill("Heathrow")
    form.get_by_label("Airport code").fill("LHR")
    form.get_by_label("Price per day (USD)").fill("55.00")
    form.get_by_role("button", name="Add the car").click()
    expect(page.get_by_text("The car is listed.")).to_be_visible()
    car_id = page.url.split("/admin/listings/cars/")[1].split("?")[0]
    page.get_by_label("Price per day (USD)").fill("61.50")
    page.get_by_role("button", name="Save the car").click()
    expect(page.get_by_text("The car is changed.")).to_be_visible()
    car = api.get(f"/api/listings/cars/{car_id}")
    assert (car["model"], car["daily_rental_price"]) == (model, "61.50")
    page.goto(f"{BASE}/admin/listings/cars/{car_id}")
    page.get_by_role("button", name=f"Remove Volvo {model}").click()
    expect(page.get_by_text("The car is removed from search.")).to_be_visible()


def test_ops_change_a_hotels_rooms_and_prices_and_search_shows_them(page, api):
    sign_in(page, "ops", "itinera-ops-1")
    page.goto(f"{BASE}/admin/listings")
    page.locator("section", has_text="Hotels").locator("tbody a").first.click()
    hotel_id = page.url.rsplit("/", 1)[1].split("?")[0]
    before = api.get(f"/api/listings/hotels/{hotel_id}")
    page.get_by_label("Description").fill("Refurbished in 2026.")
    page.get_by_label("Rooms of this type").first.fill("17")
    weekday = page.get_by_label(re.compile("weekday price")).first
    weekday.fill("212.50")
    page.get_by_role("button", name="Save the hotel").click()
    expect(page.get_by_text("The hotel is changed")).to_be_visible()
    after = api.get(f"/api/listings/hotels/{hotel_id}")
    room = after["roomTypes"][0]
    assert after["description"] == "Refurbished in 2026."
    assert room["rooms"] == 17
    assert room["ratePlans"][0]["weekdayPrice"]["amount"] in ("212.50", "212.5")
    # Room types and rate plans keep their ids (and with them their stays).
    assert [r["id"] for r in after["roomTypes"]] == [r["id"] for r in before["roomTypes"]]


def test_a_refused_trip_checkout_keeps_every_choice_and_name(page, api):
    outbound = api.bookable_flight("CDG", "LHR")
    departure = local_date(outbound)
    back = (date.fromisoformat(departure) + timedelta(days=2)).isoformat()
    register(page)
    page.goto(f"{BASE}/trip?from=Paris&to=London&departure={departure}&return={back}&guests=1")
    hotel = page.locator("input[name=hotel]").nth(2)
    car = page.locator("input[name=car]").nth(1)
    hotel.check()
    car.check()
    page.get_by_label("Traveller 1 full name").fill("Christine Darden")
    # A card number that fails its check digit: the card is refused before anything is booked.
    fill_new_card(page, "4242 4242 4242 4241")
    page.get_by_role("button", name="Book the whole trip").click()
    expect(page.get_by_role("alert")).to_contain_text("The card was not accepted")
    expect(page.locator("input[name=hotel]").nth(2)).to_be_checked()
    expect(page.locator("input[name=car]").nth(1)).to_be_checked()
    expect(page.get_by_label("Traveller 1 full name")).to_have_value("Christine Darden")
    expect(page.get_by_label("A new card")).to_be_checked()
    page.goto(f"{BASE}/bookings")
    expect(page.get_by_text("No bookings yet.")).to_be_visible()
