"""Every main page at desktop and phone widths: a screenshot saved, no serious or critical
accessibility violation (axe-core), and under 100 KB before images."""

import datetime

import pytest
from axe_playwright_python.sync_playwright import Axe
from playwright.sync_api import expect

from conftest import BASE, DESKTOP, PHONE, local_date, register, screenshot, sign_in

PAGE_BUDGET = 100 * 1024


def pages(api, flight):
    date = local_date(flight)
    later = (datetime.date.fromisoformat(date) + datetime.timedelta(days=2)).isoformat()
    hotel = api.get(f"/api/listings/hotels/search?city=London&checkIn={date}&checkOut={later}")
    car = api.get(f"/api/listings/cars/search?location=LHR&startDate={date}&endDate={later}")
    return {
        "home": "/",
        "results": f"/flights?from=Paris&to=London&date={date}",
        "flight": f"/flights/{flight['flightId']}?passengers=2",
        "hotels": f"/hotels?city=London&checkIn={date}&checkOut={later}",
        "hotel": f"/hotels/{hotel['items'][0]['id']}?checkIn={date}&checkOut={later}",
        "cars": f"/cars?location=LHR&startDate={date}&endDate={later}",
        "car": f"/cars/{car['items'][0]['id']}?startDate={date}&endDate={later}",
        "trip": f"/trip?from=Paris&to=London&departure={date}&return={later}",
        "trips": "/bookings",
        "account": "/account",
        "notifications": "/notifications",
    }


def check(page, name, width_name):
    """Axe finds nothing serious; the page's own bytes (HTML, CSS, script) fit the budget."""
    results = Axe().run(page)
    serious = [
        (v["id"], v["impact"], v["help"], [n["target"] for n in v["nodes"]][:3])
        for v in results.response["violations"]
        if v["impact"] in ("serious", "critical")
    ]
    assert serious == [], f"{name} at {width_name}: {serious}"
    screenshot(page, f"{name}-{width_name}")


@pytest.mark.parametrize("viewport_name", ["desktop", "phone"])
def test_traveller_pages_are_accessible_light_and_captured(browser, api, viewport_name):
    viewport = DESKTOP if viewport_name == "desktop" else PHONE
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    weights = {}

    def count(response):
        kind = response.request.resource_type
        if response.url.startswith(BASE) and kind in ("document", "stylesheet", "script"):
            weights[response.url] = len(response.body())

    page.on("response", count)
    try:
        register(page)
        flight = api.bookable_flight()
        for name, path in pages(api, flight).items():
            weights.clear()
            page.goto(f"{BASE}{path}")
            expect(page.locator("main h1")).to_be_visible()
            check(page, name, viewport_name)
            total = sum(weights.values())
            assert total < PAGE_BUDGET, f"{name}: {total} bytes ({weights})"
        page.goto(f"{BASE}/login")
    finally:
        context.close()


@pytest.mark.parametrize("viewport_name", ["desktop", "phone"])
def test_admin_pages_are_accessible_and_captured(browser, viewport_name):
    viewport = DESKTOP if viewport_name == "desktop" else PHONE
    context = browser.new_context(viewport=viewport)
    page = context.new_page()
    try:
        sign_in(page, "admin", "itinera-admin-1")
        for name, path in {
            "admin": "/admin",
            "admin-flights": "/admin/flights?from=CDG&to=LHR",
            "admin-users": "/admin/users",
            "admin-system": "/admin/system",
            "admin-listings": "/admin/listings",
            "admin-bookings": "/admin/bookings?userId=1",
            "admin-payments": "/admin/payments?userId=1",
        }.items():
            page.goto(f"{BASE}{path}")
            expect(page.locator("main h1")).to_be_visible()
            check(page, name, viewport_name)
    finally:
        context.close()
