from pathlib import Path

import pytest
from django.core.cache import caches
from guardian.shortcuts import assign_perm

from scripts import test_slides
from slides import grants, sharedcache, tiles
from tasks import roles
from tasks.models import Label, Project
from tests import factories

# The real scanner files: WSI2ML_TEST_SLIDES, else ../shared/slides, else scripts/test.sh's cache.
SHARED_SLIDES = test_slides.chosen_folder()


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Hash test passwords cheaply: the suite creates many users."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def slides_root(tmp_path, settings) -> Path:
    """An empty SLIDES_ROOT for this test, with every per-process slide cache emptied."""
    root = tmp_path / "slides"
    root.mkdir()
    settings.SLIDES_ROOT = root
    _reset_caches()
    yield root.resolve()
    _reset_caches()


def _reset_caches() -> None:
    tiles.forget_locations()
    tiles.forget_memory()
    grants.forget_verified_grants()
    tiles.slide_cache.cache_clear()
    sharedcache.reset()
    tiles.tile_cache().clear()
    caches["default"].clear()  # the tile grants' revocation list


def pytest_collection_finish(session: pytest.Session) -> None:
    """Stop with one message before any test runs when a selected test lacks its real slides."""
    if not any("shared_slides" in getattr(item, "fixturenames", ()) for item in session.items):
        return
    problems = test_slides.folder_problems(folder=SHARED_SLIDES)
    if problems:
        message = test_slides.problem_message(folder=SHARED_SLIDES, problems=problems, failure=None)
        pytest.exit(
            f"{message}\n(scripts/test.sh downloads them when it can.)",
            returncode=pytest.ExitCode.USAGE_ERROR,
        )


@pytest.fixture
def shared_slides() -> Path:
    """The folder of real scanner files, checked once per session by pytest_collection_finish."""
    return SHARED_SLIDES


@pytest.fixture
def slide(slides_root, db):
    return factories.slide_create(slides_root)


@pytest.fixture
def project(db):
    """A project with three labels: Tumour (1), Stroma (2) and Necrosis (3)."""
    project = Project.objects.create(name="Breast tumour segmentation")
    for order, (name, colour, key) in enumerate(
        [("Tumour", "#d62728", "1"), ("Stroma", "#2ca02c", "2"), ("Necrosis", "#7f7f7f", "3")]
    ):
        Label.objects.create(project=project, name=name, colour=colour, shortcut=key, order=order)
    return project


@pytest.fixture
def admin_user(db):
    return factories.user_create("admin", is_staff=True, is_superuser=True)


@pytest.fixture
def annotator(db):
    return factories.user_create("annotator", role=roles.ANNOTATOR)


@pytest.fixture
def outsider(db):
    return factories.user_create("outsider")


@pytest.fixture
def annotator_with_slide(annotator, slide):
    assign_perm("slides.view_slide", annotator, slide)
    return annotator


@pytest.fixture
def client_for(client):
    """Log the test client in as the given user (or stay anonymous with None)."""

    def log_in(user):
        client.logout()
        if user is not None:
            client.force_login(user)
        return client

    return log_in
