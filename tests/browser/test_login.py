"""Log-in in a real browser: a locked-out person is told why and for how long, on the form."""

from datetime import timedelta

import pytest
from django.urls import reverse
from playwright.sync_api import expect

from tests import factories

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


def submit(page, username: str, password: str) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_load_state()


def test_a_locked_out_annotator_sees_why_on_the_log_in_page(
    page, live_server, annotator, settings, problems, artifacts
):
    settings.AXES_FAILURE_LIMIT = 3
    settings.AXES_COOLOFF_TIME = timedelta(minutes=15)
    login = live_server.url + reverse("login")
    page.goto(login)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        submit(page, annotator.get_username(), "not the password")

    submit(page, annotator.get_username(), factories.PASSWORD)

    expect(page.get_by_role("alert")).to_have_text(
        "Too many failed log-ins for this account or address; try again in 15 minutes "
        "or ask an admin to unlock it."
    )
    expect(page.get_by_label("Username")).to_have_value(annotator.get_username())
    expect(page.get_by_label("Username")).to_have_attribute("aria-describedby", "login-errors")
    assert page.url.startswith(login)
    page.screenshot(path=artifacts / "login-locked-out.png")
    assert problems == []
