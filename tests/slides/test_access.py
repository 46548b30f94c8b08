"""Who may open which slide URL, and how the tile grant cookie stands in for the full check."""

import pytest
from django.urls import reverse
from guardian.shortcuts import assign_perm, remove_perm

from slides import grants
from tests import factories

pytestmark = pytest.mark.django_db

SLIDE_URLS = {
    "viewer": lambda s: reverse("slides:viewer", args=[s.pk]),
    "dzi": lambda s: reverse("slides:dzi", args=[s.pk]),
    "tile": lambda s: reverse("slides:tile", args=[s.pk, 9, 0, 0]),
    "thumbnail": lambda s: reverse("slides:thumbnail", args=[s.pk]) + "?size=64",
}


@pytest.fixture
def staff_member(db):
    return factories.user_create("staffer", is_staff=True)


@pytest.fixture
def personas(admin_user, staff_member, annotator_with_slide, outsider):
    return {
        "anonymous": None,
        "superuser": admin_user,
        "staff": staff_member,
        "granted": annotator_with_slide,
        "outsider": outsider,
    }


@pytest.mark.parametrize("url_name", SLIDE_URLS)
@pytest.mark.parametrize(
    ("persona", "expected"),
    [("anonymous", 302), ("superuser", 200), ("staff", 200), ("granted", 200), ("outsider", 404)],
)
def test_slide_url_access(client_for, personas, slide, url_name, persona, expected):
    client = client_for(personas[persona])

    response = client.get(SLIDE_URLS[url_name](slide))

    assert response.status_code == expected
    if expected == 302:
        assert response["Location"].startswith(reverse("login"))


@pytest.mark.parametrize(
    ("persona", "expected"),
    [("anonymous", 302), ("superuser", 200), ("granted", 200), ("outsider", 200)],
)
def test_slide_list_requires_login(client_for, personas, slide, persona, expected):
    assert client_for(personas[persona]).get(reverse("slides:list")).status_code == expected


def test_slide_list_shows_only_visible_slides(client_for, annotator_with_slide, slide, slides_root):
    hidden = factories.slide_create(slides_root, "hidden.tiff", seed=2)

    page = client_for(annotator_with_slide).get(reverse("slides:list"))

    shown = list(page.context["page"].object_list)
    assert shown == [slide]
    assert hidden not in shown


def test_slide_list_filters_by_name_vendor_and_status(client_for, admin_user, slides_root):
    first = factories.slide_create(slides_root, "alpha.tiff")
    factories.slide_create(slides_root, "beta.tiff", seed=1)
    client = client_for(admin_user)

    by_name = client.get(reverse("slides:list"), {"search": "alph"}).context["page"].object_list
    by_vendor = client.get(reverse("slides:list"), {"vendor": "aperio"}).context["page"]
    by_status = client.get(reverse("slides:list"), {"status": "missing"}).context["page"]

    assert list(by_name) == [first]
    assert list(by_vendor.object_list) == []
    assert list(by_status.object_list) == []


def test_every_page_needs_login(client):
    for url in ("/", "/slides/", "/accounts/password_change/"):
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/"), url


def test_login_page_and_health_check_are_public(client):
    assert client.get(reverse("login")).status_code == 200
    assert client.get(reverse("healthz")).json() == {"status": "ok"}


class TestTileGrant:
    def test_viewer_and_dzi_issue_a_grant_scoped_to_the_slide_tiles(
        self, client_for, annotator_with_slide, slide
    ):
        client = client_for(annotator_with_slide)

        for url in (SLIDE_URLS["viewer"](slide), SLIDE_URLS["dzi"](slide)):
            cookie = client.get(url).cookies[grants.COOKIE_NAME]
            assert cookie["path"] == f"/slides/{slide.pk}_files/"
            assert cookie["httponly"]
            assert cookie["samesite"] == "Lax"

    def test_outsider_gets_no_grant(self, client_for, outsider, slide):
        response = client_for(outsider).get(SLIDE_URLS["viewer"](slide))
        assert grants.COOKIE_NAME not in response.cookies

    def test_tile_with_grant_needs_no_database_query(
        self, client_for, annotator_with_slide, slide, django_assert_num_queries
    ):
        client = client_for(annotator_with_slide)
        client.get(SLIDE_URLS["viewer"](slide))
        client.get(SLIDE_URLS["tile"](slide))  # warms the per-process slide location cache

        with django_assert_num_queries(0):
            response = client.get(reverse("slides:tile", args=[slide.pk, 9, 1, 0]))

        assert response.status_code == 200

    def test_tile_without_grant_is_checked_in_full_and_granted(
        self, client_for, annotator_with_slide, slide
    ):
        client = client_for(annotator_with_slide)

        response = client.get(SLIDE_URLS["tile"](slide))

        assert response.status_code == 200
        assert grants.COOKIE_NAME in response.cookies

    def test_grant_for_one_slide_does_not_open_another(
        self, client_for, annotator_with_slide, slide, slides_root
    ):
        other = factories.slide_create(slides_root, "other.tiff", seed=4)
        client = client_for(annotator_with_slide)
        grant = client.get(SLIDE_URLS["viewer"](slide)).cookies[grants.COOKIE_NAME].value
        client.cookies[grants.COOKIE_NAME] = grant  # sent on every path, unlike a browser

        assert client.get(SLIDE_URLS["tile"](other)).status_code == 404

    def test_grant_is_void_after_logout(self, client_for, annotator_with_slide, slide):
        client = client_for(annotator_with_slide)
        grant = client.get(SLIDE_URLS["viewer"](slide)).cookies[grants.COOKIE_NAME].value
        client.post(reverse("logout"))
        client.cookies[grants.COOKIE_NAME] = grant

        response = client.get(SLIDE_URLS["tile"](slide))

        assert response.status_code == 302

    def test_grant_bound_to_another_session_is_refused(
        self, client_for, annotator_with_slide, outsider, slide
    ):
        client = client_for(annotator_with_slide)
        grant = client.get(SLIDE_URLS["viewer"](slide)).cookies[grants.COOKIE_NAME].value
        client_for(outsider)
        client.cookies[grants.COOKIE_NAME] = grant

        assert client.get(SLIDE_URLS["tile"](slide)).status_code == 404

    def test_forged_grant_is_refused(self, client_for, outsider, slide):
        client = client_for(outsider)
        client.cookies[grants.COOKIE_NAME] = f"{slide.pk}:{outsider.pk}:abc:1:forged"

        assert client.get(SLIDE_URLS["tile"](slide)).status_code == 404

    def test_revoked_permission_stops_tiles_when_the_grant_expires(
        self, client_for, annotator_with_slide, slide, settings, monkeypatch
    ):
        client = client_for(annotator_with_slide)
        client.get(SLIDE_URLS["viewer"](slide))
        remove_perm("slides.view_slide", annotator_with_slide, slide)
        assert client.get(SLIDE_URLS["tile"](slide)).status_code == 200  # grant still valid

        # The signer's clock runs TILE_GRANT_SECONDS + 1 ahead.
        import time

        now = time.time()
        monkeypatch.setattr(time, "time", lambda: now + settings.TILE_GRANT_SECONDS + 1)

        assert client.get(SLIDE_URLS["tile"](slide)).status_code == 404
        assert client.get(SLIDE_URLS["viewer"](slide)).status_code == 404

    def test_cached_tile_is_not_served_without_permission(
        self, client_for, admin_user, outsider, slide
    ):
        url = SLIDE_URLS["tile"](slide)
        assert client_for(admin_user).get(url).status_code == 200  # now in the server cache

        response = client_for(outsider).get(url)

        assert response.status_code == 404
        assert response.get("Content-Type") != "image/jpeg"

    def test_permission_granted_later_opens_the_slide(self, client_for, outsider, slide):
        client = client_for(outsider)
        assert client.get(SLIDE_URLS["tile"](slide)).status_code == 404
        assign_perm("slides.view_slide", outsider, slide)
        assert client.get(SLIDE_URLS["tile"](slide)).status_code == 200
