"""manage.py create_api_token: prints a working token, and only that; clear errors otherwise."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from tests import factories
from wsi2ml.models import ApiToken

pytestmark = pytest.mark.django_db


def run(*args) -> str:
    out = StringIO()
    call_command("create_api_token", *args, stdout=out)
    return out.getvalue()


def test_it_prints_a_token_that_reads_the_api_as_the_user(client, project, slide, annotator):
    factories.annotation_task_create(
        project=project, name="Round 1", slides=[slide], annotators=[annotator]
    )

    out = run("annotator")

    secret = out.removesuffix("\n")
    assert out == secret + "\n" and "\n" not in secret  # the token and nothing else
    url = reverse("layers:slide_layers", args=[slide.pk])
    response = client.get(url, headers={"Authorization": f"Bearer {secret}"})
    assert response.status_code == 200, response.content
    assert response.json()["layers"][0]["own"] is True


def test_it_names_the_token_and_never_expires_by_default(annotator):
    run("annotator")

    token = ApiToken.objects.get(user=annotator)
    assert token.name == "Made with create_api_token"
    assert token.expires_at is None


def test_it_takes_a_name_and_an_expiry(annotator):
    run("annotator", "--name", "nightly export", "--expires-days", "7")

    token = ApiToken.objects.get(user=annotator)
    assert token.name == "nightly export"
    assert abs(token.expires_at - (timezone.now() + timedelta(days=7))) < timedelta(minutes=1)


def test_unknown_user_is_a_command_error(db):
    with pytest.raises(CommandError, match="No user named “nobody”"):
        run("nobody")

    assert not ApiToken.objects.exists()


def test_deactivated_user_is_a_command_error(annotator):
    annotator.is_active = False
    annotator.save()

    with pytest.raises(CommandError, match="deactivated"):
        run("annotator")

    assert not ApiToken.objects.exists()


@pytest.mark.parametrize("days", ["0", "-3", "3651"])
def test_expiry_out_of_range_is_a_command_error(annotator, days):
    with pytest.raises(CommandError, match="--expires-days must be between 1 and 3650"):
        run("annotator", "--expires-days", days)


def test_empty_name_is_a_command_error(annotator):
    with pytest.raises(CommandError, match="Name the token"):
        run("annotator", "--name", " ")
