"""The admin portal: ops change a flight from it, and customers are refused every page and
action of it, whatever link they follow."""

import re

from playwright.sync_api import expect

from conftest import BASE, register, screenshot, sign_in


def test_ops_change_a_flights_status_and_gate_from_the_portal(page, api):
    flight = api.bookable_flight("LHR", "CDG")
    sign_in(page, "ops", "itinera-ops-1")
    page.get_by_role("link", name="Admin").click()
    page.get_by_role("link", name="Flights", exact=True).first.click()
    page.get_by_label("From", exact=True).fill("LHR")
    page.get_by_label("To", exact=True).fill("CDG")
    page.get_by_role("button", name="Find flights").click()
    screenshot(page, "admin-flights-desktop")
    page.get_by_role("link", name=flight["flightCode"]).click()
    page.get_by_label("Status").select_option("Boarding")
    page.get_by_label("Gate").fill("B22")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_text("The flight is changed")).to_be_visible()
    changed = api.get(f"/api/flights/{flight['flightId']}")
    assert (changed["status"], changed["gate"]) == ("Boarding", "B22")


def test_customers_are_refused_every_admin_page_and_action(page):
    register(page)
    for path in ["/admin", "/admin/flights", "/admin/users", "/admin/system", "/admin/bookings"]:
        answer = page.goto(f"{BASE}{path}")
        assert answer.status == 403, path
        expect(page.get_by_role("alert")).to_contain_text("operations staff and administrators")
    # An action posted straight at the portal (with the browser's own CSRF token) is refused too.
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "itinera_csrf")
    answer = page.request.post(
        f"{BASE}/admin/keys/rotate", form={"csrf": csrf}, max_redirects=0
    )
    assert answer.status == 403
    # The admin link is not offered either.
    page.goto(f"{BASE}/")
    expect(page.get_by_role("link", name="Admin")).to_have_count(0)


def test_signed_out_browsers_are_sent_to_sign_in_and_come_back(page):
    page.goto(f"{BASE}/admin/flights")
    assert page.url.startswith(f"{BASE}/login?next=")
    page.get_by_label("Username").fill("admin")
    page.get_by_label("Password").fill("itinera-admin-1")
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{BASE}/admin/flights")
    expect(page.get_by_role("heading", level=1)).to_have_text("Flights")


def test_a_form_without_the_browsers_csrf_token_is_refused(page):
    register(page)
    answer = page.request.post(f"{BASE}/account/cards", form={"number": "4242424242424242"})
    assert answer.status == 403
    answer = page.request.post(
        f"{BASE}/account/cards", form={"csrf": "0" * 64, "number": "4242424242424242"}
    )
    assert answer.status == 403


def test_ops_schedule_a_flight_that_travellers_then_find(page, api):
    sign_in(page, "ops", "itinera-ops-1")
    page.goto(f"{BASE}/admin/flights")
    page.get_by_text("Schedule a flight").click()
    number = f"ZZ{page.evaluate('Date.now() % 9000 + 1000')}"
    page.get_by_label("Flight number").fill(number)
    page.get_by_label("Airline").fill("Portal Air")
    page.get_by_label("From (airport code)").fill("CDG")
    page.get_by_label("To (airport code)").fill("LHR")
    page.get_by_label("Departure (UTC)").fill("2027-01-15T08:00")
    page.get_by_label("Arrival (UTC)").fill("2027-01-15T09:15")
    aircraft = api.get("/api/aircraft")[0]
    page.get_by_label("Aircraft").select_option(str(aircraft["id"]))
    for cabin in aircraft["cabins"]:
        page.get_by_label(cabin["cabin"].replace("_", " "), exact=True).fill("99.00")
    page.get_by_role("button", name="Schedule the flight").click()
    expect(page.get_by_text("The flight is scheduled")).to_be_visible()
    expect(page.get_by_role("heading", level=1)).to_contain_text(number)
    found = api.get("/api/flights?from=CDG&to=LHR&date=2027-01-15")
    assert any(f["flightCode"].startswith(number) for f in found["items"]), found


def test_ops_find_a_booking_by_reference_and_cancel_it_with_its_refund(browser, page, api):
    flight = api.bookable_flight()
    register(page)
    page.goto(f"{BASE}/flights/{flight['flightId']}")
    page.get_by_label("Passenger 1 full name").fill("Annie Easley")
    page.get_by_label("A new card").check()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill("2031")
    page.get_by_label("Security code").fill("123")
    page.get_by_role("button", name="Book and pay").click()
    expect(page.get_by_role("heading", level=2, name="Paid and confirmed")).to_be_visible()
    reference = page.get_by_role("heading", level=1).inner_text().removeprefix("Booking ")

    staff = browser.new_context()
    ops = staff.new_page()
    try:
        sign_in(ops, "ops", "itinera-ops-1")
        ops.goto(f"{BASE}/admin/bookings")
        ops.get_by_label("Reference").fill(reference.lower())
        ops.get_by_role("button", name="Look up").click()
        row = ops.locator("tbody tr", has_text=reference)
        expect(row).to_have_count(1)
        row.get_by_role("button", name=f"Cancel and refund {reference}").click()
        expect(ops.get_by_text("The booking is cancelled")).to_be_visible()
    finally:
        staff.close()
    page.reload()
    expect(page.locator("[data-booking-status]")).to_have_text("Cancelled")
    # Cancelled by the airline's staff, a paid booking is refunded in full.
    price = page.locator("dt:has-text('Price') + dd").inner_text()
    expect(page.locator("[data-refund]").first).to_contain_text(price, timeout=15_000)


def test_the_system_page_shows_every_instance_and_its_event_backlog(page):
    sign_in(page, "admin", "itinera-admin-1")
    page.goto(f"{BASE}/admin/system")
    instances = page.locator("table", has_text="Service instances")
    for service in ["identity", "catalog", "booking", "notification", "payment", "web"]:
        expect(instances.locator("td", has_text=service).first).to_be_visible()
    events = page.locator("[data-events]")
    for service in ["identity", "catalog", "booking", "notification", "payment"]:
        row = events.locator("tr", has=page.locator(f"td:text-is('{service}')"))
        expect(row).to_have_count(1)
        expect(row.locator("td").nth(2)).to_have_text(re.compile(r"^\d+$"))
        expect(row.locator("td").nth(4)).to_have_text(re.compile(r"^\d+$"))


def test_live_updates_need_a_session_and_a_list_of_flight_codes(browser, page):
    anonymous = browser.new_context()
    try:
        answer = anonymous.request.get(f"{BASE}/live?flights=AQ100-20261207")
        assert answer.status == 401
    finally:
        anonymous.close()
    register(page)
    assert page.request.get(f"{BASE}/live?flights=").status == 400
    assert page.request.get(f"{BASE}/live?flights=A%26B").status == 400
    assert page.request.get(f"{BASE}/live").status == 400


def test_a_refused_flight_comes_back_with_what_ops_typed(page):
    sign_in(page, "ops", "itinera-ops-1")
    page.goto(f"{BASE}/admin/flights")
    page.get_by_text("Schedule a flight").click()
    page.get_by_label("Flight number").fill("ZZ42")
    page.get_by_label("Airline").fill("Portal Air")
    page.get_by_label("From (airport code)").fill("CDG")
    page.get_by_label("To (airport code)").fill("LHR")
    page.get_by_label("Departure (UTC)").fill("2027-02-01T08:00")
    # Arrives before it leaves: refused.
    page.get_by_label("Arrival (UTC)").fill("2027-02-01T07:00")
    page.get_by_role("button", name="Schedule the flight").click()
    expect(page.get_by_role("alert")).to_be_visible()
    expect(page.get_by_label("Flight number")).to_have_value("ZZ42")
    expect(page.get_by_label("Airline")).to_have_value("Portal Air")
    expect(page.get_by_label("Departure (UTC)")).to_have_value("2027-02-01T08:00")
