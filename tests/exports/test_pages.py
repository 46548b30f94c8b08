"""The export pages: the projects a person may export (their own page and the status page's
cards), one project's export page (who may open it, the first preview, refused options, the
download link and the history), and the navigation link. Data: tests/exports/conftest.py."""

import re
from datetime import timedelta
from html import unescape
from urllib.parse import parse_qsl, urlencode

import pytest
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from exports import policy, views
from exports.models import Export

pytestmark = pytest.mark.django_db


def page_url(project) -> str:
    return reverse("exports:project", args=[project.pk])


def zip_url(project, query: str = "") -> str:
    url = reverse("exports_api:project_zip", args=[project.pk])
    return f"{url}?{query}" if query else url


def text_of(response, element_id: str) -> str:
    """The text of the element with ``element_id``, tags removed and spaces collapsed."""
    html = response.content.decode()
    match = re.search(rf'<(\w+)[^>]*\bid="{element_id}"[^>]*>(.*?)</\1>', html, re.S)
    assert match, f"no element #{element_id}"
    return words(match.group(2))


def words(html: str) -> str:
    """The text of ``html``: tags removed, entities decoded, spaces collapsed."""
    return " ".join(unescape(re.sub(r"<[^>]+>", " ", html)).split())


@pytest.mark.parametrize(
    ("persona", "status"),
    [
        ("mlspecialist", 200),
        ("ml-outsider", 404),
        ("inactive-ml", 302),  # an inactive account cannot log in at all
        ("manager", 200),
        ("other-manager", 404),
        ("pathologist", 404),
        ("reviewer", 404),
        ("outsider", 404),
        ("superuser", 200),
    ],
)
def test_export_page_answers_each_persona(client_for, people, export_data, persona, status):
    response = client_for(people[persona]).get(page_url(export_data.project))

    assert response.status_code == status


def test_export_page_of_a_project_that_does_not_exist_is_the_same_404(client_for, people):
    response = client_for(people["mlspecialist"]).get(reverse("exports:project", args=[999999]))

    assert response.status_code == 404


def test_anonymous_visitor_is_sent_to_log_in(client, export_data):
    for url in (page_url(export_data.project), reverse("exports:home")):
        response = client.get(url)

        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login"))


def test_export_page_refuses_post(client_for, people, export_data):
    response = client_for(people["mlspecialist"]).post(page_url(export_data.project))

    assert response.status_code == 405


def cards(response) -> dict[int, dict[str, str]]:
    """The counts of each project card: {project id: {count name: text}}."""
    html = response.content.decode()
    found = {}
    for project_id, body in re.findall(r'data-project="(\d+)"(.*?)</article>', html, re.S):
        found[int(project_id)] = dict(re.findall(r'data-count="(\w+)">([^<]*)<', body))
    return found


def test_exports_home_lists_the_ml_specialists_project_with_its_counts(
    client_for, people, export_data
):
    response = client_for(people["mlspecialist"]).get(reverse("exports:home"))

    assert response.status_code == 200
    # Slides A, B, C; "Tumour outlines" and "Outline review"; second's assignment closed;
    # 12 live annotations (a6 was deleted).
    assert cards(response) == {
        export_data.project.pk: {
            "slides": "3",
            "tasks": "2",
            "completed_assignments": "1",
            "annotations": "12",
        }
    }
    assert page_url(export_data.project) in response.content.decode()


def test_exports_home_of_the_superuser_lists_both_projects(client_for, people, export_data):
    response = client_for(people["superuser"]).get(reverse("exports:home"))

    found = cards(response)
    assert set(found) == {export_data.project.pk, export_data.other_project.pk}
    assert found[export_data.other_project.pk] == {
        "slides": "1",
        "tasks": "1",
        "completed_assignments": "0",
        "annotations": "1",
    }


def test_exports_home_of_an_annotator_says_there_is_nothing_to_export(
    client_for, people, export_data
):
    response = client_for(people["pathologist"]).get(reverse("exports:home"))

    assert response.status_code == 200
    assert cards(response) == {}
    assert "You may export no project yet" in response.content.decode()


def test_status_page_of_the_ml_specialist_shows_the_projects_to_export(
    client_for, people, export_data
):
    response = client_for(people["mlspecialist"]).get(reverse("home"))

    html = response.content.decode()
    assert "Projects you can export" in html
    assert set(cards(response)) == {export_data.project.pk}
    assert "Nothing to annotate or review" in html
    assert "Nothing delegated to you yet" not in html


def test_status_page_of_an_annotator_shows_no_export_cards(client_for, people, export_data):
    response = client_for(people["pathologist"]).get(reverse("home"))

    assert "Projects you can export" not in response.content.decode()
    assert cards(response) == {}


def test_status_page_of_someone_with_nothing_keeps_its_wording(client_for, people, export_data):
    response = client_for(people["outsider"]).get(reverse("home"))

    html = response.content.decode()
    assert "Nothing delegated to you yet" in html
    assert "Projects you can export" not in html


@pytest.mark.parametrize(
    ("persona", "shown"),
    [
        ("mlspecialist", True),
        ("manager", True),
        ("superuser", True),
        ("ml-outsider", True),  # of their own project
        ("pathologist", False),
        ("reviewer", False),
        ("outsider", False),
    ],
)
def test_exports_link_shows_only_for_those_who_can_export(
    client_for, people, export_data, persona, shown
):
    response = client_for(people[persona]).get(reverse("tasks:my_slides"))

    link = f'href="{reverse("exports:home")}">Exports</a>'
    assert (link in response.content.decode()) is shown


@pytest.mark.parametrize("url_name", ["exports:home", "exports:project"])
def test_only_the_exports_link_is_current_on_the_export_pages(
    client_for, people, export_data, url_name
):
    args = [export_data.project.pk] if url_name == "exports:project" else []

    response = client_for(people["mlspecialist"]).get(reverse(url_name, args=args))

    current = re.findall(
        r'<a class="nav-link active" href="([^"]+)" aria-current="page">',
        (response.content.decode()),
    )
    assert current == [reverse("exports:home")]


def test_export_cards_are_read_for_the_status_page_only(client_for, people, export_data):
    client = client_for(people["mlspecialist"])

    response = client.get(reverse("tasks:my_slides"))

    assert "export_projects" not in response.context
    assert bool(response.context["show_exports"]) is True


def test_export_page_renders_the_preview_of_the_default_options(client_for, people, export_data):
    response = client_for(people["mlspecialist"]).get(page_url(export_data.project))

    # Completed work, all tasks, policy "all": a1–a5 and m1 on A; b1–b3 on B (m2 is R2's,
    # not marked); c2 on C (c1 is pathologist's, in progress).
    assert text_of(response, "preview-features") == "10"
    assert text_of(response, "preview-slides") == "3"
    assert per_class(response) == {"Tumour": "4", "Stroma": "3", "Necrosis": "3"}
    assert text_of(response, "preview-dropped") == "Nothing."
    assert f'id="download" href="{zip_url(export_data.project)}"' in response.content.decode()


def per_class(response) -> dict[str, str]:
    html = response.content.decode()
    return dict(re.findall(r'<tr data-class="([^"]+)">.*?data-features>([^<]*)<', html, re.S))


def test_export_page_preview_follows_labels_and_threshold(client_for, people, export_data):
    labels = export_data.labels
    query = f"labels={labels['Tumour'].pk},{labels['Stroma'].pk}&min_agreement=0.5"

    response = client_for(people["mlspecialist"]).get(f"{page_url(export_data.project)}?{query}")

    # Agreement ≥ 0.5 keeps a1, a2, a4, m1, b2 (a3, b1 at 0; a5, b3, c2 unreviewed); the
    # labels then leave out m1 (Necrosis).
    assert text_of(response, "preview-features") == "4"
    assert per_class(response) == {"Tumour": "2", "Stroma": "2"}
    assert text_of(response, "preview-dropped") == (
        "5 agreement below the threshold 1 label not chosen"
    )
    canonical = urlencode(
        {"labels": f"{labels['Tumour'].pk},{labels['Stroma'].pk}", "min_agreement": "0.5"}
    )
    download = escape(zip_url(export_data.project, canonical))
    assert f'id="download" href="{download}"' in response.content.decode()


def test_export_page_ticks_what_the_query_chose(client_for, people, export_data):
    stroma = export_data.labels["Stroma"]
    query = f"labels={stroma.pk}&policy=consensus&include_in_progress=1&class_{stroma.pk}=Stroma+2"

    response = client_for(people["manager"]).get(f"{page_url(export_data.project)}?{query}")

    html = response.content.decode()
    assert re.search(rf'name="labels" value="{stroma.pk}" id="labels-{stroma.pk}" checked', html)
    tumour = export_data.labels["Tumour"].pk
    assert not re.search(rf'name="labels" value="{tumour}" id="labels-{tumour}" checked', html)
    assert re.search(r'id="policy-consensus"\s+aria-describedby="[^"]*" checked', html)
    assert re.search(r'id="include_in_progress"\s+aria-describedby="[^"]*" checked', html)
    assert 'value="Stroma 2"' in html
    assert per_class(response) == {"Stroma 2": "1"}  # b2 only: a2 is a tie, c2 unreviewed


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ("min_agreement=1.5", "min_agreement", "min_agreement must be a number from 0 to 1"),
        ("labels=999999", "labels", "No label 999999 in this project."),
        ("policy=best", "policy", "policy must be one of all, reviewed, not_rejected, consensus."),
        ("mask_mpp=0.01", "mask_mpp", "masks are at most 40 megapixels"),
    ],
)
def test_bad_option_in_the_page_url_shows_the_message_beside_its_field(
    client_for, people, export_data, query, field, message
):
    response = client_for(people["mlspecialist"]).get(f"{page_url(export_data.project)}?{query}")

    assert response.status_code == 400
    assert message in text_of(response, f"error-{field}")
    assert message in text_of(response, "preview-error")
    assert 'id="download" href' in response.content.decode()
    assert "disabled" in re.search(r'<a [^>]*id="download"', response.content.decode()).group(0)


def test_bad_class_name_field_shows_beside_that_label(client_for, people, export_data):
    response = client_for(people["mlspecialist"]).get(
        f"{page_url(export_data.project)}?class_{export_data.labels['Nodule'].pk}=X"
    )

    assert response.status_code == 400
    # The message names a label id only; the other project's label is not listed on the page.
    assert "No label" in text_of(response, "preview-error")
    assert "Nodule" not in response.content.decode()


def test_unknown_option_shows_above_the_form(client_for, people, export_data):
    response = client_for(people["mlspecialist"]).get(f"{page_url(export_data.project)}?colour=red")

    assert response.status_code == 400
    assert text_of(response, "form-error").startswith("Unknown parameter colour;")


def test_export_page_lists_only_the_projects_choices(client_for, people, export_data):
    response = client_for(people["mlspecialist"]).get(page_url(export_data.project))

    html = response.content.decode()
    slides = set(map(int, re.findall(r'name="slides" value="(\d+)"', html)))
    assert slides == {export_data.slides[name].pk for name in "ABC"}
    tasks = set(map(int, re.findall(r'name="tasks" value="(\d+)"', html)))
    assert tasks == {export_data.tasks["outlines"].pk, export_data.tasks["review"].pk}
    people_ids = set(map(int, re.findall(r'name="annotators" value="(\d+)"', html)))
    assert people_ids == {
        people[name].pk for name in ("pathologist", "second", "reviewer", "second-reviewer")
    }
    labels = set(map(int, re.findall(r'name="labels" value="(\d+)"', html)))
    assert labels == {export_data.labels[name].pk for name in ("Tumour", "Stroma", "Necrosis")}
    assert "lung" not in html


def test_export_page_shows_the_curl_command_with_a_token(client_for, people, export_data):
    response = client_for(people["mlspecialist"]).get(page_url(export_data.project))

    assert text_of(response, "curl-command") == (
        'curl -H "Authorization: Bearer <token>" '
        f'"http://testserver{zip_url(export_data.project)}" -o export.zip'
    )


def record(export_data, user, *, parameters, minutes_ago=0, project=None, **extra) -> Export:
    return Export.objects.create(
        project=project or export_data.project,
        user=user,
        created_at=timezone.now() - timedelta(minutes=minutes_ago),
        parameters=parameters,
        file_name="export.zip",
        **extra,
    )


def test_history_shows_who_what_and_downloads_again_with_the_same_options(
    client_for, people, export_data
):
    labels = export_data.labels
    parameters = {
        "labels": f"{labels['Tumour'].pk},{labels['Stroma'].pk}",
        "policy": "not_rejected",
        "min_agreement": "0.5",
        f"class_{labels['Stroma'].pk}": "Other",
    }
    done = record(
        export_data,
        people["manager"],
        parameters=parameters,
        state=Export.State.COMPLETE,
        counts={"features": 4},
        content_sha256="0123456789abcdef" * 4,
    )

    response = client_for(people["mlspecialist"]).get(page_url(export_data.project))

    html = response.content.decode()
    row = re.search(rf'<tr data-export="{done.pk}">(.*?)</tr>', html, re.S).group(1)
    text = words(row)
    assert "manager" in text
    assert (
        "all tasks · all slides · Tumour, Stroma · everyone's work · completed work · "
        "all annotations but those a reviewer rejected · agreement ≥ 0.5 · Stroma → Other"
    ) in text
    assert " 4 " in text and "0123456789ab" in text and "Complete" in text
    again = unescape(re.search(r'href="([^"]+)">Download again', row).group(1))
    path, query = again.split("?")
    assert path == zip_url(export_data.project)
    assert dict(parse_qsl(query)) == parameters


def test_history_shows_the_newest_twenty_of_this_project_only(client_for, people, export_data):
    made = [record(export_data, people["manager"], parameters={}, minutes_ago=i) for i in range(22)]
    elsewhere = record(
        export_data, people["other-manager"], parameters={}, project=export_data.other_project
    )

    response = client_for(people["mlspecialist"]).get(page_url(export_data.project))

    shown = [int(i) for i in re.findall(r'<tr data-export="(\d+)">', response.content.decode())]
    assert shown == [export.pk for export in made[:20]]
    assert elsewhere.pk not in shown


def test_every_drop_reason_has_words_on_the_page():
    assert tuple(views.DROP_WORDS) == policy.DROP_REASONS
    assert tuple(views.POLICIES) == ("all", "reviewed", "not_rejected", "consensus")


def test_form_sent_without_scripts_gives_the_same_export(client_for, people, export_data):
    tumour, stroma = export_data.labels["Tumour"].pk, export_data.labels["Stroma"].pk
    # What the browser sends for the form itself: one value per ticked box, empty fields.
    sent = (
        f"labels={tumour}&labels={stroma}&policy=all&min_agreement=0.5"
        f"&class_{tumour}=&class_{stroma}=&mask_mpp="
    )

    response = client_for(people["mlspecialist"]).get(f"{page_url(export_data.project)}?{sent}")

    assert response.status_code == 200
    assert text_of(response, "preview-features") == "4"
    canonical = urlencode({"labels": f"{tumour},{stroma}", "min_agreement": "0.5"})
    download = escape(zip_url(export_data.project, canonical))
    assert f'id="download" href="{download}"' in response.content.decode()
