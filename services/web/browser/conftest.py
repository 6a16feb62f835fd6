"""Browser tests of the traveller site and the admin portal: real headless Chromium (Debian's
package) driven by Playwright, against the whole platform started by `scripts/browser-tests.sh`.
"""

import os
import uuid
from datetime import date

import pytest
from playwright.sync_api import Page, sync_playwright

BASE = os.environ.get("ITINERA_URL", "http://127.0.0.1:4100")
CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = os.environ.get("SCREENSHOTS", "docs/screenshots")

DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="session")
def playwright():
    with sync_playwright() as playwright:
        yield playwright


@pytest.fixture(scope="session")
def browser(playwright):
    browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
    yield browser
    browser.close()


@pytest.fixture(scope="session")
def api(playwright):
    """The platform's API through the gateway, for what a test arranges or checks outside the
    browser (an ops change, a flight to book)."""
    context = playwright.request.new_context(base_url=BASE)
    yield Api(context)
    context.dispose()


class Api:
    def __init__(self, context):
        self.context = context

    def token(self, username, password):
        answer = self.context.post(
            "/api/auth/login", data={"username": username, "password": password}
        )
        assert answer.ok, answer.text()
        return answer.json()["token"]

    def get(self, path, token=None):
        headers = {"authorization": f"Bearer {token}"} if token else {}
        answer = self.context.get(path, headers=headers)
        assert answer.ok, f"GET {path}: {answer.status} {answer.text()}"
        return answer.json()

    def patch(self, path, body, token):
        answer = self.context.patch(
            path, data=body, headers={"authorization": f"Bearer {token}"}
        )
        assert answer.ok, f"PATCH {path}: {answer.status} {answer.text()}"
        return answer.json()

    def bookable_flight(self, origin="CDG", destination="LHR", seats=2):
        """A future flight on the route with seats left, as search shows it."""
        found = self.get(f"/api/flights?from={origin}&to={destination}&sort=departure&pageSize=50")
        for flight in found["items"]:
            if flight["seatsLeft"] >= seats and flight["status"] == "On Time":
                return flight
        raise AssertionError(f"no bookable flight {origin}→{destination}: {found}")


def local_date(flight):
    return date.fromisoformat(flight["departureLocal"][:10]).isoformat()


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    yield page
    context.close()


def unique(prefix="t"):
    return f"{prefix}{uuid.uuid4().hex[:10]}"


def register(page: Page):
    """Creates an account through the register page; returns its username."""
    username = unique()
    page.goto(f"{BASE}/register")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Email").fill(f"{username}@example.test")
    page.get_by_label("Password").fill("correct-horse-9")
    page.get_by_role("button", name="Create account").click()
    page.wait_for_url(f"{BASE}/")
    assert page.get_by_text(f"Signed in as {username}").is_visible()
    return username


def sign_in(page: Page, username, password):
    page.goto(f"{BASE}/login")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{BASE}/")


def screenshot(page: Page, name):
    os.makedirs(SCREENSHOTS, exist_ok=True)
    page.screenshot(path=os.path.join(SCREENSHOTS, f"{name}.png"), full_page=True)
