"""The slide registry in the Django admin: the list, the change page, rescanning, the scan page
(which starts a scan job: tests/jobs runs them in real workers, these in this process)."""

from datetime import UTC, datetime

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse

from jobs.models import Job
from jobs.services import job_run
from slides import jobs as slides_jobs
from slides.forms import slide_folder_choices
from slides.models import Slide
from slides.services import slide_register_file
from tests import factories

pytestmark = pytest.mark.django_db

CHANGELIST = "admin:slides_slide_changelist"
SCAN = "admin:slides_slide_scan"


def tiff(root, relative, seed=0):
    return factories.write_pyramid_tiff(root / relative, 600 + 8 * seed, 400, seed)


def staff_with(*codenames):
    user = factories.user_create("staffer", is_staff=True)
    user.user_permissions.add(*Permission.objects.filter(codename__in=codenames))
    return user


@pytest.fixture
def admin_client(client_for, admin_user):
    return client_for(admin_user)


@pytest.fixture
def unreadable(slides_root):
    (slides_root / "broken.svs").write_bytes(b"junk" * 100)
    return slide_register_file(path=slides_root / "broken.svs", root=slides_root)


def test_changelist_shows_a_thumbnail_for_each_readable_slide(admin_client, slide, unreadable):
    response = admin_client.get(reverse(CHANGELIST))

    assert response.status_code == 200
    html = response.content.decode()
    thumbnail = reverse("slides:thumbnail", args=[slide.pk]) + "?size=64"
    assert f'<img src="{thumbnail}"' in html
    assert reverse("slides:thumbnail", args=[unreadable.pk]) not in html
    assert "synthetic.tiff" in html and "broken.svs" in html
    assert "1,500 \N{MULTIPLICATION SIGN} 1,000" in html


def test_changelist_thumbnail_url_serves_an_image_to_staff(admin_client, slide):
    response = admin_client.get(reverse("slides:thumbnail", args=[slide.pk]) + "?size=64")

    assert response.status_code == 200
    assert response["Content-Type"] == "image/jpeg"


def test_changelist_searches_names_and_paths(admin_client, slides_root):
    factories.slide_create(slides_root, "liver/case-7.tiff", seed=1)
    factories.slide_create(slides_root, "kidney/case-8.tiff", seed=2)

    by_path = admin_client.get(reverse(CHANGELIST), {"q": "liver"})
    by_name = admin_client.get(reverse(CHANGELIST), {"q": "case-8"})

    assert [s.path for s in by_path.context["cl"].result_list] == ["liver/case-7.tiff"]
    assert [s.path for s in by_name.context["cl"].result_list] == ["kidney/case-8.tiff"]


def test_changelist_filters_by_status_and_vendor(admin_client, slide, unreadable):
    by_status = admin_client.get(reverse(CHANGELIST), {"status__exact": "unreadable"})
    by_vendor = admin_client.get(reverse(CHANGELIST), {"vendor": "generic-tiff"})

    assert list(by_status.context["cl"].result_list) == [unreadable]
    assert list(by_vendor.context["cl"].result_list) == [slide]


def test_change_page_shows_file_facts_readably(admin_client, slide):
    response = admin_client.get(reverse("admin:slides_slide_change", args=[slide.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "openslide.vendor" in html  # the properties table
    assert "1500 \N{MULTIPLICATION SIGN} 1000" in html  # level 0 among the levels
    assert slide.quickhash in html


def test_only_the_name_can_be_edited(admin_client, slide):
    url = reverse("admin:slides_slide_change", args=[slide.pk])

    response = admin_client.post(url, {"name": "Renamed", "path": "../../etc/passwd"})

    assert response.status_code == 302
    slide.refresh_from_db()
    assert slide.name == "Renamed"
    assert slide.path == "synthetic.tiff"


def test_slides_cannot_be_added_or_deleted_in_the_admin(admin_client, slide):
    assert admin_client.get(reverse("admin:slides_slide_add")).status_code == 403
    delete = reverse("admin:slides_slide_delete", args=[slide.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert Slide.objects.filter(pk=slide.pk).exists()


def test_rescan_action_reads_files_again_and_marks_vanished_ones(admin_client, slides_root):
    kept = factories.slide_create(slides_root, "kept.tiff", seed=1)
    gone = factories.slide_create(slides_root, "gone.tiff", seed=2)
    (slides_root / "gone.tiff").unlink()
    data = {"action": "rescan", "_selected_action": [kept.pk, gone.pk]}

    response = admin_client.post(reverse(CHANGELIST), data, follow=True)

    assert response.status_code == 200
    messages = [str(m) for m in response.context["messages"]]
    assert any("1 updated" in m and "1 missing" in m for m in messages)
    assert "Missing gone.tiff" in messages
    gone.refresh_from_db()
    assert gone.status == Slide.Status.MISSING


def test_changelist_links_to_the_scan_page(admin_client, slides_root):
    response = admin_client.get(reverse(CHANGELIST))

    assert reverse(SCAN) in response.content.decode()


def test_scan_page_offers_the_root_and_its_subfolders(admin_client, slides_root):
    (slides_root / "2024" / "liver").mkdir(parents=True)
    (slides_root / "2025").mkdir()
    (slides_root / ".trash").mkdir()

    response = admin_client.get(reverse(SCAN))

    assert response.status_code == 200
    values = [value for value, _ in response.context["form"].fields["folder"].choices]
    assert values == [".", "2024", "2025", "2024/liver"]


def test_scan_folder_choices_are_bounded(slides_root):
    for i in range(12):
        (slides_root / f"f{i:02}" / "deeper" / "still").mkdir(parents=True)

    listed = slide_folder_choices(max_depth=2, limit=5)

    assert len(listed) == 6  # the root and five folders
    assert all(value.count("/") <= 1 for value, _ in listed)


def test_scanning_a_folder_starts_a_job_and_shows_its_page(admin_client, admin_user, slides_root):
    tiff(slides_root, "2024/a.tiff", seed=1)

    response = admin_client.post(reverse(SCAN), {"folder": "2024"})

    job = Job.objects.get()
    assert response.status_code == 302
    assert response["Location"] == reverse("jobs:job", args=[job.pk])
    assert (job.kind, job.params, job.state, job.created_by) == (
        Job.Kind.SCAN_SLIDES,
        {"folder": "2024"},
        Job.State.QUEUED,
        admin_user,
    )
    assert Slide.objects.count() == 0  # the worker scans, not the request


def test_the_scan_job_registers_the_folders_slides_and_reports(admin_client, slides_root):
    tiff(slides_root, "2024/a.tiff", seed=1)
    (slides_root / "2024" / "b.svs").write_bytes(b"junk" * 100)
    tiff(slides_root, "2025/c.tiff", seed=2)
    admin_client.post(reverse(SCAN), {"folder": "2024"})

    job = job_run(job_id=Job.objects.get().pk)  # what the worker does with it

    assert job.state == Job.State.SUCCEEDED
    assert job.message.startswith("Scanned 2024: 1 created")
    page = admin_client.get(reverse("jobs:job", args=[job.pk])).content.decode()
    assert "<li>Unreadable 2024/b.svs: " in page
    assert sorted(Slide.objects.values_list("path", flat=True)) == ["2024/a.tiff", "2024/b.svs"]


def test_scanning_the_root_scans_everything(admin_client, slides_root):
    tiff(slides_root, "2024/a.tiff", seed=1)
    tiff(slides_root, "c.tiff", seed=2)

    admin_client.post(reverse(SCAN), {"folder": "."})

    job = Job.objects.get()
    assert job.params == {"folder": ""}
    job_run(job_id=job.pk)
    assert Slide.objects.count() == 2


@pytest.mark.parametrize("folder", ["removed-meanwhile", "../..", "/etc", ""])
def test_a_folder_not_offered_is_a_form_error(admin_client, slides_root, folder):
    response = admin_client.post(reverse(SCAN), {"folder": folder})

    assert response.status_code == 200
    assert response.context["form"].errors["folder"]
    assert not Job.objects.exists()


def test_a_folder_that_vanishes_before_the_job_runs_fails_the_job_saying_so(
    admin_client, slides_root
):
    (slides_root / "going").mkdir()
    admin_client.post(reverse(SCAN), {"folder": "going"})
    (slides_root / "going").rmdir()

    job = job_run(job_id=Job.objects.get().pk)

    assert job.state == Job.State.FAILED
    assert job.message == (
        f"Nothing was scanned: going does not exist (SLIDES_ROOT is {slides_root})."
    )


def test_a_long_scan_report_lists_the_first_problems_and_counts_the_rest(
    admin_client, slides_root, monkeypatch
):
    for i in range(25):
        (slides_root / f"broken-{i:02}.svs").write_bytes(b"junk" * 100)
    monkeypatch.setattr(slides_jobs, "PATHS_KEPT", 3)  # as a whole archive's report is cut
    admin_client.post(reverse(SCAN), {"folder": "."})

    job = job_run(job_id=Job.objects.get().pk)

    assert job.result["counts"]["unreadable"] == 25
    assert len(job.result["unreadable"]) == 3
    lines = slides_jobs.scan_details(job)
    assert [line.split(":")[0] for line in lines[:3]] == [
        f"Unreadable broken-0{i}.svs" for i in range(3)
    ]
    assert lines[3:] == ["... and 22 more."]


@pytest.mark.parametrize("method", ["get", "post"])
def test_scan_page_sends_non_staff_to_the_admin_login(client_for, outsider, slides_root, method):
    response = getattr(client_for(outsider), method)(reverse(SCAN), {"folder": "."})

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("admin:login"))
    assert Slide.objects.count() == 0
    assert not Job.objects.exists()


def test_scan_page_requires_add_and_change_permissions(client_for, slides_root):
    tiff(slides_root, "a.tiff")
    client = client_for(staff_with("view_slide", "change_slide"))

    assert client.get(reverse(SCAN)).status_code == 403
    assert client.post(reverse(SCAN), {"folder": "."}).status_code == 403
    assert reverse(SCAN) not in client.get(reverse(CHANGELIST)).content.decode()
    assert not Job.objects.exists()


def test_staff_with_permissions_can_scan(client_for, slides_root):
    tiff(slides_root, "a.tiff")
    client = client_for(staff_with("view_slide", "add_slide", "change_slide"))

    response = client.post(reverse(SCAN), {"folder": "."})

    job = Job.objects.get()
    assert response["Location"] == reverse("jobs:job", args=[job.pk])
    job_run(job_id=job.pk)
    assert Slide.objects.count() == 1


def test_rescan_action_requires_change_permission(client_for, slide):
    client = client_for(staff_with("view_slide"))
    data = {"action": "rescan", "_selected_action": [slide.pk]}

    response = client.post(reverse(CHANGELIST), data)

    slide_before = slide.scanned_at
    slide.refresh_from_db()
    assert response.status_code in (200, 302)
    assert slide.scanned_at == slide_before


def test_changelist_filters_by_folder(client_for, admin_user, slides_root):
    factories.slide_create(slides_root, "ward-a/case-1/one.tiff")
    factories.slide_create(slides_root, "ward-b/two.tiff", seed=5)
    client = client_for(admin_user)

    page = client.get(reverse("admin:slides_slide_changelist"), {"folder": "ward-a"})

    shown = [slide.path for slide in page.context["cl"].result_list]
    assert shown == ["ward-a/case-1/one.tiff"]
    folders = [
        choice["display"]
        for choice in page.context["cl"].filter_specs[0].choices(page.context["cl"])
    ]
    assert {"ward-a", "ward-a/case-1", "ward-b"} <= set(folders)


@pytest.mark.parametrize("size", ["%D9%A6%D9%A4", "%C2%B2", "-64", "99999999999999999999999", "8"])
def test_a_thumbnail_size_that_is_not_ascii_digits_within_bounds_is_400(admin_client, slide, size):
    response = admin_client.get(reverse("slides:thumbnail", args=[slide.pk]) + f"?size={size}")

    assert response.status_code == 400
    assert b"size must be a whole number of pixels between" in response.content


def test_changelist_columns_are_short_enough_to_fit(admin_client, slide):
    Slide.objects.filter(pk=slide.pk).update(scanned_at=datetime(2026, 3, 4, 5, 6, tzinfo=UTC))

    html = admin_client.get(reverse(CHANGELIST)).content.decode()

    assert '<td class="field-scanned">2026-03-04</td>' in html
    assert '<th scope="col" class="sortable column-mpp_column">' in html
    assert "\N{GREEK CAPITAL LETTER MU}" not in html  # what the admin's capfirst made of µ
