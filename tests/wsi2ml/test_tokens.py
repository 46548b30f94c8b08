"""Personal API tokens on the API: who a token reads as, what it may not do, and its refusals."""

import hashlib
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.contrib.sessions.models import Session
from django.http import JsonResponse
from django.test import Client, RequestFactory
from django.urls import reverse
from django.utils import timezone

from annotations.models import Annotation
from tests import factories
from wsi2ml import tokens
from wsi2ml.api import api
from wsi2ml.models import ApiToken

pytestmark = pytest.mark.django_db


@pytest.fixture
def work(project, slide, annotator):
    """The annotator's assignment on ``slide``, with one annotation of theirs."""
    _, (assignment,) = factories.annotation_task_create(
        project=project, name="Round 1", slides=[slide], annotators=[annotator]
    )
    label = project.labels.get(name="Tumour")
    annotation = factories.annotation_draw(
        assignment=assignment, slide=slide, label=label, geometry=factories.square(100, 100)
    )
    return assignment, annotation


@pytest.fixture
def secret(annotator):
    """A token of the annotator's, as they copied it from their profile page."""
    _, secret = tokens.api_token_create(user=annotator, name="training scripts")
    return secret


@pytest.fixture
def token(secret):
    return ApiToken.objects.get(digest=hashlib.sha256(secret.encode()).hexdigest())


@pytest.fixture
def strict_client():
    """A client that checks CSRF as a browser's requests are checked."""
    return Client(enforce_csrf_checks=True)


def bearer(secret: str) -> dict:
    return {"Authorization": f"Bearer {secret}"}


def layers_url(slide) -> str:
    return reverse("layers:slide_layers", args=[slide.pk])


def annotation_url(annotation) -> str:
    return reverse("annotations:annotation", args=[annotation.pk])


# --- Reading as the token's owner -------------------------------------------------------------


def test_annotator_token_reads_layers_as_the_annotator(client, work, slide, secret):
    assignment, _ = work

    response = client.get(layers_url(slide), headers=bearer(secret))

    assert response.status_code == 200, response.content
    layers = response.json()["layers"]
    assert [layer["assignment"] for layer in layers if layer.get("own")] == [assignment.pk]


def test_annotator_token_reads_own_annotation(client, work, secret):
    _, annotation = work

    response = client.get(annotation_url(annotation), headers=bearer(secret))

    assert response.status_code == 200, response.content
    assert response.json()["id"] == annotation.pk


def test_annotator_token_gets_404_for_a_slide_they_may_not_see(client, work, slides_root, secret):
    hidden = factories.slide_create(slides_root, "someone-elses.tiff", seed=3)

    response = client.get(layers_url(hidden), headers=bearer(secret))

    assert response.status_code == 404
    assert response.json() == {"error": "No such slide."}


def test_token_request_creates_no_session_and_sets_no_cookie(client, work, slide, secret):
    response = client.get(layers_url(slide), headers=bearer(secret))

    assert response.status_code == 200
    assert Session.objects.count() == 0
    assert "sessionid" not in response.cookies


def test_token_of_one_user_beats_the_session_of_another(client_for, work, slide, outsider):
    _, outsider_secret = tokens.api_token_create(user=outsider, name="outsider's script")
    client = client_for(work[0].assignee)  # the annotator's session, who may see the slide

    response = client.get(layers_url(slide), headers=bearer(outsider_secret))

    assert response.status_code == 404  # read as the outsider


def test_header_on_a_page_outside_the_api_logs_nobody_in(client, work, secret):
    response = client.get(reverse("home"), headers=bearer(secret))

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_bad_header_on_a_page_outside_the_api_is_ignored(client_for, annotator):
    client = client_for(annotator)

    response = client.get(reverse("home"), headers={"Authorization": "Bearer nonsense"})

    assert response.status_code == 200


# --- Refusals: 401 JSON with WWW-Authenticate ---------------------------------------------------


def revoke(token, secret):
    tokens.api_token_revoke(token=token, by=token.user)
    return secret


def expire(token, secret):
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(hours=1))
    return secret


def deactivate_owner(token, secret):
    token.user.is_active = False
    token.user.save()
    return secret


CASES = {
    "revoked": (revoke, "This API token was revoked on "),
    "expired": (expire, "This API token expired on "),
    "owner deactivated": (deactivate_owner, "The owner of this API token is deactivated."),
    "unknown": (lambda token, secret: secret[:-4] + "AAAA", "Unknown API token"),
    "malformed": (lambda token, secret: secret[:-1], "The API token is malformed"),
    "not ours": (lambda token, secret: "ghp_" + "a" * 36, "The API token is malformed"),
    "empty": (lambda token, secret: "", "The API token is malformed"),
}


@pytest.mark.parametrize("case", CASES)
def test_unusable_token_gets_401_json(client, work, slide, token, secret, case):
    spoil, message = CASES[case]
    presented = spoil(token, secret)

    response = client.get(layers_url(slide), headers=bearer(presented))

    assert response.status_code == 401, response.content
    assert response["Content-Type"] == "application/json"
    assert response["WWW-Authenticate"] == "Bearer"
    assert response.json()["error"].startswith(message)


def test_expired_token_says_when_it_expired(client, work, slide, token, secret):
    ApiToken.objects.filter(pk=token.pk).update(expires_at=datetime(2026, 3, 4, 5, 6, tzinfo=UTC))

    response = client.get(layers_url(slide), headers=bearer(secret))

    assert response.json()["error"] == "This API token expired on 2026-03-04 05:06 UTC."


@pytest.mark.parametrize("header", ["Basic YWRtaW46cGFzc3dvcmQ=", "Token abc", "Bearer", ""])
def test_other_authorization_schemes_get_401(client, work, slide, header):
    response = client.get(layers_url(slide), headers={"Authorization": header})

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert "error" in response.json()


def test_scheme_is_case_insensitive(client, work, slide, secret):
    response = client.get(layers_url(slide), headers={"Authorization": f"bearer {secret}"})

    assert response.status_code == 200


def test_bad_token_gets_401_even_with_a_session(client_for, work, slide, annotator, token, secret):
    revoke(token, secret)
    client = client_for(annotator)

    response = client.get(layers_url(slide), headers=bearer(secret))

    assert response.status_code == 401  # no silent fall back on the session


def test_unknown_api_url_with_a_bad_token_is_401_not_404(client):
    response = client.get("/api/no/such/thing", headers=bearer("wsi2ml_" + "x" * 43))

    assert response.status_code == 401


# --- Read only ----------------------------------------------------------------------------------


def write_requests(slide, assignment, annotation, labels):
    create = {
        "geometry": factories.square(500, 500),
        "properties": {"assignment": assignment.pk, "label": labels[0].pk, "kind": "polygon"},
    }
    slide_url = reverse("annotations:slide_annotations", args=[slide.pk])
    return {
        "create": ("post", slide_url, create),
        "update": ("patch", annotation_url(annotation), {"version": 1, "properties": {}}),
        "delete": ("delete", annotation_url(annotation), None),
        "restore": ("post", reverse("annotations:annotation_restore", args=[annotation.pk]), {}),
    }


@pytest.mark.parametrize("name", ["create", "update", "delete", "restore"])
def test_token_write_gets_403_read_only_without_csrf_token(
    strict_client, work, slide, project, secret, name
):
    assignment, annotation = work
    method, url, body = write_requests(slide, assignment, annotation, list(project.labels.all()))[
        name
    ]
    before = list(Annotation.objects.values_list("id", "version", "is_deleted"))
    send = getattr(strict_client, method)

    if body is None:
        response = send(url, headers=bearer(secret))
    else:
        response = send(
            url, json.dumps(body), content_type="application/json", headers=bearer(secret)
        )

    assert response.status_code == 403, response.content
    assert response.json()["error"].startswith("API tokens are read only here")
    assert list(Annotation.objects.values_list("id", "version", "is_deleted")) == before


def test_session_write_without_csrf_token_still_gets_403_csrf(
    strict_client, work, slide, project, annotator
):
    assignment, annotation = work
    strict_client.force_login(annotator)
    _, url, body = write_requests(slide, assignment, annotation, list(project.labels.all()))[
        "update"
    ]

    response = strict_client.patch(url, json.dumps(body), content_type="application/json")

    assert response.status_code == 403
    assert response.json()["error"].startswith("CSRF check failed")


@pytest.mark.parametrize(("token_writes", "status"), [(True, 200), (False, 403)])
def test_only_a_view_that_takes_token_writes_gets_them(annotator, token, token_writes, status):
    @api("POST", token_writes=token_writes)
    def accepting(request):
        return JsonResponse({"by": request.user.username})

    request = RequestFactory().post("/api/anything", "{}", content_type="application/json")
    request.user, request.api_token = annotator, token

    response = accepting(request)

    assert response.status_code == status
    if token_writes:
        assert json.loads(response.content) == {"by": "annotator"}


# --- What is stored ---------------------------------------------------------------------------


def test_digest_is_stored_and_never_the_token(annotator):
    token, secret = tokens.api_token_create(user=annotator, name="script")

    row = ApiToken.objects.filter(pk=token.pk).values().get()

    assert row["digest"] == hashlib.sha256(secret.encode()).hexdigest()
    assert row["prefix"] == secret[:12] and secret.startswith("wsi2ml_") and len(secret) == 50
    assert not any(secret in str(value) for value in row.values())


def test_each_token_is_different(annotator):
    made = {tokens.api_token_create(user=annotator, name=f"t{i}")[1] for i in range(5)}

    assert len(made) == 5


def test_use_sets_last_used_then_not_again_within_a_minute(client, work, slide, token, secret):
    assert token.last_used_at is None

    client.get(layers_url(slide), headers=bearer(secret))
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None and timezone.now() - first < timedelta(seconds=10)

    half_a_minute_ago = timezone.now() - timedelta(seconds=30)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=half_a_minute_ago)
    client.get(layers_url(slide), headers=bearer(secret))
    token.refresh_from_db()
    assert token.last_used_at == half_a_minute_ago

    two_minutes_ago = timezone.now() - timedelta(minutes=2)
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=two_minutes_ago)
    client.get(layers_url(slide), headers=bearer(secret))
    token.refresh_from_db()
    assert token.last_used_at > two_minutes_ago + timedelta(minutes=1)


def test_refused_token_is_not_marked_used(client, work, slide, token, secret):
    revoke(token, secret)

    client.get(layers_url(slide), headers=bearer(secret))

    token.refresh_from_db()
    assert token.last_used_at is None


# --- Making and revoking (services) --------------------------------------------------------


def test_revoking_twice_keeps_the_first_time(annotator, token):
    assert tokens.api_token_revoke(token=token, by=annotator) is True
    first = token.revoked_at

    assert tokens.api_token_revoke(token=token, by=annotator) is False
    token.refresh_from_db()
    assert token.revoked_at == first


@pytest.mark.parametrize(
    ("name", "expires_in", "message"),
    [
        ("  ", None, "Name the token"),
        ("x" * 101, None, "The name is 101 characters long"),
        ("script", timedelta(seconds=-1), "The expiry is in the past"),
    ],
)
def test_create_refuses_bad_requests(annotator, name, expires_in, message):
    expires_at = None if expires_in is None else timezone.now() + expires_in

    with pytest.raises(tokens.ApiTokenRefused, match=message):
        tokens.api_token_create(user=annotator, name=name, expires_at=expires_at)

    assert not ApiToken.objects.exists()


def test_create_refuses_a_21st_live_token_but_not_after_revoking_or_expiry(annotator):
    made = [tokens.api_token_create(user=annotator, name=f"t{i}")[0] for i in range(20)]

    with pytest.raises(tokens.ApiTokenRefused, match="already have 20 active tokens"):
        tokens.api_token_create(user=annotator, name="one too many")

    tokens.api_token_revoke(token=made[0], by=annotator)
    ApiToken.objects.filter(pk=made[1].pk).update(expires_at=timezone.now())
    tokens.api_token_create(user=annotator, name="after revoking")
    tokens.api_token_create(user=annotator, name="after expiry")
    assert ApiToken.objects.live().filter(user=annotator).count() == 20


def test_limit_is_per_user(annotator, outsider):
    for i in range(20):
        tokens.api_token_create(user=annotator, name=f"t{i}")

    tokens.api_token_create(user=outsider, name="mine")

    assert outsider.api_tokens.count() == 1


# --- Admin ----------------------------------------------------------------------------------


def test_admin_lists_tokens_without_digest_or_token(client_for, admin_user, token, secret):
    client = client_for(admin_user)

    listing = client.get(reverse("admin:wsi2ml_apitoken_changelist")).content.decode()
    detail = client.get(reverse("admin:wsi2ml_apitoken_change", args=[token.pk])).content.decode()

    assert token.prefix in listing and "training scripts" in listing
    for page in (listing, detail):
        assert token.digest not in page and secret not in page
    assert client.get(reverse("admin:wsi2ml_apitoken_add")).status_code == 403


def test_admin_revokes_selected_tokens(client_for, admin_user, token):
    client = client_for(admin_user)

    response = client.post(
        reverse("admin:wsi2ml_apitoken_changelist"),
        {"action": "revoke", "_selected_action": [token.pk]},
        follow=True,
    )

    token.refresh_from_db()
    assert token.revoked_at is not None
    assert "Revoked 1 API token(s)." in response.content.decode()
