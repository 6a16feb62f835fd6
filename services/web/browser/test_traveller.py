"""A traveller's whole journey in the browser: register, search, choose seats, pay, see the
booking confirmed, see an ops change arrive live, cancel and see the refund."""

import re

from playwright.sync_api import expect

from conftest import BASE, local_date, register, screenshot


def search(page, flight):
    page.goto(f"{BASE}/")
    flights = page.locator("#flights")
    flights.get_by_label("From").fill(flight["origin"]["city"])
    flights.get_by_label("To").fill(flight["destination"]["city"])
    flights.get_by_label("Date").fill(local_date(flight))
    flights.get_by_role("button", name="Search flights").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Flights")


def choose(page, flight):
    page.get_by_role("link", name=f"Choose {flight['flightCode']}").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(flight["flightCode"])


def pay_with_new_card(page, number):
    page.get_by_label("A new card").check()
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill("2031")
    page.get_by_label("Security code").fill("123")
    page.get_by_role("button", name="Book and pay").click()


def test_a_traveller_books_with_chosen_seats_sees_a_live_change_and_cancels_with_the_refund_shown(
    page, api
):
    flight = api.bookable_flight()
    register(page)
    search(page, flight)
    screenshot(page, "results-desktop")
    choose(page, flight)

    page.get_by_label("Passenger 1 full name").fill("Ada Lovelace")
    seat = page.locator("[data-seatmap] button[data-seat]:not([disabled])").first
    code = seat.get_attribute("data-seat")
    seat.click()
    # The click filled the passenger's seat list and marks the seat chosen.
    expect(page.locator("select[name=seat0]")).to_have_value(code)
    expect(seat).to_have_attribute("aria-pressed", "true")
    screenshot(page, "flight-desktop")
    pay_with_new_card(page, "4242 4242 4242 4242")

    expect(page.get_by_role("heading", level=2, name="Paid and confirmed")).to_be_visible()
    expect(page.get_by_text(f"Ada Lovelace, seat {code}")).to_be_visible()
    screenshot(page, "booking-desktop")

    # Ops delay the flight; the open page shows it without reloading.
    page.evaluate("window.__notReloaded = true")
    ops = api.token("ops", "itinera-ops-1")
    api.patch(f"/api/flights/{flight['flightId']}", {"status": "Delayed", "gate": "K7"}, ops)
    status = page.locator(f"[data-flight-status='{flight['flightCode']}']")
    expect(status).to_have_text("Delayed", timeout=15_000)
    expect(page.locator("[data-live-log]")).to_contain_text("Delayed")
    assert page.evaluate("window.__notReloaded") is True

    page.get_by_role("link", name="Cancel this booking").click()
    quote = page.locator("[data-refund-quote]")
    expect(quote).to_contain_text("If you cancel now you get back")
    refund = re.search(r"get back (\S+ [\d.]+)", quote.inner_text()).group(1)
    page.get_by_role("button", name="Yes, cancel the booking").click()
    expect(page.get_by_text("The booking is cancelled.")).to_be_visible()
    expect(page.locator("[data-booking-status]")).to_have_text("Cancelled")
    expect(page.locator("[data-refund]").first).to_contain_text(refund, timeout=15_000)


def test_a_declined_card_is_shown_as_declined_and_nothing_is_charged(page, api):
    flight = api.bookable_flight()
    register(page)
    page.goto(f"{BASE}/flights/{flight['flightId']}")
    page.get_by_label("Passenger 1 full name").fill("Grace Hopper")
    pay_with_new_card(page, "4000 0000 0000 0002")
    expect(page.get_by_role("heading", level=2)).to_have_text(
        re.compile("Payment declined: the card was declined"), timeout=15_000
    )
    expect(page.get_by_role("heading", level=2)).to_contain_text("nothing was charged")
    expect(page.locator("[data-booking-status]")).to_have_text("Cancelled")


def test_search_and_booking_work_without_javascript(browser, api):
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    try:
        flight = api.bookable_flight()
        register(page)
        search(page, flight)
        # Filters are applied by the server when the form is sent.
        page.get_by_label(flight["airline"]).check()
        page.get_by_role("button", name="Update results").click()
        expect(page.get_by_role("link", name=f"Choose {flight['flightCode']}")).to_be_visible()
        choose(page, flight)
        page.get_by_label("Passenger 1 full name").fill("Katherine Johnson")
        seat = page.locator("select[name=seat0] option").nth(3).get_attribute("value")
        page.locator("select[name=seat0]").select_option(seat)
        pay_with_new_card(page, "4242 4242 4242 4242")
        # A pending page refreshes itself (a Refresh header) until the payment settles.
        expect(page.get_by_role("heading", level=2, name="Paid and confirmed")).to_be_visible(
            timeout=15_000
        )
        expect(page.get_by_text(f"Katherine Johnson, seat {seat}")).to_be_visible()
    finally:
        context.close()


def test_a_paid_booking_has_a_receipt(page, api):
    flight = api.bookable_flight()
    register(page)
    page.goto(f"{BASE}/flights/{flight['flightId']}")
    page.get_by_label("Passenger 1 full name").fill("Dorothy Vaughan")
    pay_with_new_card(page, "4242 4242 4242 4242")
    expect(page.get_by_role("heading", level=2, name="Paid and confirmed")).to_be_visible()
    price = page.locator("dt:has-text('Price') + dd").inner_text()
    page.get_by_role("link", name="View receipt").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("Receipt")
    expect(page.locator("[data-total-paid]")).to_have_text(price)


def test_a_traveller_saves_a_card_tops_up_the_wallet_and_pays_from_it(page, api):
    flight = api.bookable_flight()
    register(page)
    page.get_by_role("link", name="Account").click()
    cards = page.locator("section", has=page.get_by_role("heading", name="Saved cards"))
    cards.get_by_label("Card number").fill("4242 4242 4242 4242")
    cards.get_by_label("Expiry month").fill("11")
    cards.get_by_label("Expiry year").fill("2032")
    cards.get_by_label("Security code").fill("321")
    cards.get_by_role("button", name="Save card").click()
    expect(page.get_by_text("The card is saved.")).to_be_visible()
    expect(cards).to_contain_text("ending 4242")
    page.get_by_label("Amount (USD)").fill("500.00")
    page.get_by_role("button", name="Top up from my card").click()
    expect(page.get_by_text("Your wallet is topped up.")).to_be_visible()
    expect(page.locator("[data-wallet-balance]")).to_have_text(re.compile(r"USD 500(\.00)?$"))

    page.goto(f"{BASE}/flights/{flight['flightId']}")
    page.get_by_label("Passenger 1 full name").fill("Mae Jemison")
    page.get_by_label("Wallet balance").check()
    page.get_by_role("button", name="Book and pay").click()
    expect(page.get_by_role("heading", level=2, name="Paid and confirmed")).to_be_visible()
    expect(page.locator("dt:has-text('Payment') + dd")).to_contain_text("from the wallet")
    page.get_by_role("link", name="Account").click()
    expect(page.locator("table", has_text="Ledger")).to_contain_text("payment")


def test_a_checkout_sent_twice_at_once_books_once_and_saves_one_card(page, api):
    flight = api.bookable_flight()
    register(page)
    page.goto(f"{BASE}/flights/{flight['flightId']}")
    page.get_by_label("Passenger 1 full name").fill("Katherine Goble")
    page.get_by_label("A new card").check()
    page.get_by_label("Card number").fill("4242 4242 4242 4242")
    page.get_by_label("Expiry month").fill("12")
    page.get_by_label("Expiry year").fill("31")
    page.get_by_label("Security code").fill("123")
    # The same form, sent twice at once (a double click on a slow connection).
    landed = page.evaluate(
        """async () => {
            const form = document.querySelector("form[data-checkout]");
            const send = () => fetch(form.action, {method: "POST", body: new URLSearchParams(new FormData(form))});
            const answers = await Promise.all([send(), send()]);
            return answers.map((a) => [a.status, new URL(a.url).pathname]);
        }"""
    )
    assert landed[0] == landed[1], landed
    assert landed[0][0] == 200 and landed[0][1].startswith("/bookings/"), landed
    page.goto(f"{BASE}/bookings")
    expect(page.locator("tbody tr")).to_have_count(1)
    page.goto(f"{BASE}/account")
    expect(page.locator("section", has=page.get_by_role("heading", name="Saved cards")).locator("li")).to_have_count(1)
