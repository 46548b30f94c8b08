"""Password reset: by e-mail where EMAIL_URL is set; otherwise a page that says to ask an admin."""

import re

import pytest
from django.urls import reverse

from tests import factories
from wsi2ml.auth import DUMMY_EMAIL_BACKEND

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a-new-and-long-passphrase-42"


@pytest.fixture
def no_email(settings):
    """No EMAIL_URL: settings then choose the dummy backend, which drops every message."""
    settings.EMAIL_BACKEND = DUMMY_EMAIL_BACKEND


def test_without_email_the_reset_page_tells_an_outsider_to_ask_an_admin(client, no_email):
    response = client.get(reverse("password_reset"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "This server cannot send e-mail" in page
    assert "Ask your project's administrator to set a new password" in page
    assert 'name="email"' not in page


def test_without_email_a_posted_reset_claims_nothing(client, annotator, no_email, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": annotator.email})

    assert response.status_code == 200
    assert "This server cannot send e-mail" in response.content.decode()
    assert mailoutbox == []


def test_with_email_the_annotator_resets_the_password_by_the_mailed_link(
    client, annotator, mailoutbox
):
    form = client.get(reverse("password_reset"))
    sent = client.post(reverse("password_reset"), {"email": annotator.email})

    assert 'name="email"' in form.content.decode()
    assert sent.status_code == 302
    assert sent["Location"] == reverse("password_reset_done")
    assert [message.to for message in mailoutbox] == [[annotator.email]]
    link = re.search(r"http://testserver(/accounts/reset/\S+/)", mailoutbox[0].body).group(1)
    set_password_page = client.get(link, follow=True)
    done = client.post(
        set_password_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    assert done["Location"] == reverse("password_reset_complete")
    logged_in = client.post(reverse("login"), {"username": "annotator", "password": NEW_PASSWORD})
    assert logged_in.status_code == 302
    annotator.refresh_from_db()
    assert not annotator.check_password(factories.PASSWORD)


def test_with_email_an_unknown_address_gets_the_same_answer_and_no_mail(client, mailoutbox):
    response = client.post(reverse("password_reset"), {"email": "nobody@example.org"})

    assert response["Location"] == reverse("password_reset_done")
    assert mailoutbox == []


def test_the_log_in_page_links_to_password_reset(client):
    response = client.get(reverse("login"))

    assert f'href="{reverse("password_reset")}"' in response.content.decode()


def test_the_annotator_changes_the_password_on_its_page_and_logs_in_with_the_new_one(
    client, annotator
):
    annotator.set_password("the-old-passphrase-17")
    annotator.save()
    client.force_login(annotator)

    page = client.get(reverse("password_change"))
    wrong = client.post(
        reverse("password_change"),
        {"old_password": "not-it", "new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )
    changed = client.post(
        reverse("password_change"),
        {
            "old_password": "the-old-passphrase-17",
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
        follow=True,
    )

    assert page.status_code == 200 and 'autocomplete="current-password"' in page.content.decode()
    assert wrong.status_code == 200 and "is-invalid" in wrong.content.decode()
    assert "Your password was changed" in changed.content.decode()
    annotator.refresh_from_db()
    assert annotator.check_password(NEW_PASSWORD)
