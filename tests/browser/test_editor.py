"""The annotation editor in a real browser: drawing, editing, undo, autosave, offline, conflicts.

Shapes are drawn with the mouse at level-0 slide positions, which the editor turns into screen
positions (window.wsi2mlEditor.toScreen); what was stored is read back through the ORM.
"""

import math

import pytest
from django.db.models import F
from django.urls import reverse
from playwright.sync_api import Page, expect

from annotations import services as annotation_services
from annotations.models import Annotation
from tasks import services
from tasks.models import Label, Project, Task
from tests.browser.pixels import pixel_at_script

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

# CMU-1-Small-Region.svs is 2220 × 2967 px at 0.499 µm/px.
MPP = 0.499
LABELS = [
    ("Tumour", "#d62728"),
    ("Stroma", "#2ca02c"),
    ("Necrosis", "#1f77b4"),
    ("Lymphocyte", "#9467bd"),
    ("Mitosis", "#ff7f0e"),
    ("Fat", "#8c564b"),
]

PIXEL_AT = pixel_at_script("wsi2mlEditor")


@pytest.fixture
def project(db):
    project = Project.objects.create(name="Breast")
    for order, (name, colour) in enumerate(LABELS):
        Label.objects.create(project=project, name=name, colour=colour, order=order)
    return project


@pytest.fixture
def assignment(project, cmu_slide, annotator, admin_user):
    task = Task.objects.create(project=project, name="Outline tumour")
    return services.assignment_create(
        task=task, assignee=annotator, slides=[cmu_slide], actor=admin_user
    )


def label(name: str) -> Label:
    return Label.objects.get(name=name)


def work_url(assignment) -> str:
    slide_id = assignment.assignment_slides.get().slide_id
    return reverse("annotations:work", args=[assignment.pk, slide_id])


def open_editor(log_in, user, assignment) -> Page:
    page = log_in(user, work_url(assignment))
    page.wait_for_function("() => document.body.dataset.annotationsReady === '1'")
    return page


def reload(page: Page) -> None:
    page.reload()
    page.wait_for_function("() => document.body.dataset.annotationsReady === '1'")


def at(page: Page, x: float, y: float) -> tuple[float, float]:
    """Screen position of level-0 slide pixel (x, y)."""
    return tuple(page.evaluate("([x, y]) => window.wsi2mlEditor.toScreen(x, y)", [x, y]))


def summary(page: Page) -> dict:
    return page.evaluate("() => window.wsi2mlEditor.summary()")


def pixel(page: Page, x: float, y: float) -> list[int]:
    return page.evaluate(PIXEL_AT, [x, y])


def wait_saved(page: Page) -> None:
    page.wait_for_function(
        "() => document.body.dataset.saveState === 'saved'"
        " && window.wsi2mlEditor.summary().queued === 0"
    )


def click(page: Page, x: float, y: float) -> None:
    page.mouse.click(*at(page, x, y))


def drag(page: Page, points, steps: int = 4) -> None:
    page.mouse.move(*at(page, *points[0]))
    page.mouse.down()
    for point in points[1:]:
        page.mouse.move(*at(page, *point), steps=steps)
    page.mouse.up()


def draw_rectangle(page: Page, corner, opposite) -> Annotation:
    """Draw a rectangle with the rectangle tool and return it once saved."""
    page.keyboard.press("g")
    drag(page, [corner, opposite])
    wait_saved(page)
    return Annotation.objects.get(kind="rectangle")


def draw_polygon(page: Page, points) -> None:
    page.keyboard.press("p")
    for point in points[:-1]:
        click(page, *point)
    page.mouse.dblclick(*at(page, *points[-1]))


def bbox(annotation: Annotation) -> tuple[float, float, float, float]:
    return annotation.x0, annotation.y0, annotation.x1, annotation.y1


def near(actual, expected, tolerance: float = 12) -> bool:
    return all(abs(a - e) <= tolerance for a, e in zip(actual, expected, strict=True))


def colour_of(hex_colour: str) -> tuple[int, int, int]:
    return tuple(int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))


def test_draw_every_kind_erase_and_reload(log_in, annotator, assignment, problems, artifacts):
    page = open_editor(log_in, annotator, assignment)

    # 1: Tumour polygon.
    draw_polygon(page, [(300, 300), (800, 300), (800, 700), (300, 700)])
    # 2: Stroma freehand loop.
    page.keyboard.press("2")
    page.keyboard.press("l")
    drag(page, [(1100, 300), (1500, 300), (1500, 700), (1100, 700), (1100, 320)])
    # 3: Necrosis rectangle.
    page.keyboard.press("3")
    page.get_by_role("button", name="Rectangle").click()
    drag(page, [(300, 1000), (900, 1400)])
    # 4: Lymphocyte ellipse.
    page.get_by_text("Lymphocyte").first.click()
    page.keyboard.press("o")
    drag(page, [(1100, 1000), (1600, 1300)])
    # 5: Mitosis point.
    page.keyboard.press("5")
    page.keyboard.press("x")
    click(page, 500, 1800)
    # 6: Fat brush stroke, 40 screen px wide.
    page.keyboard.press("6")
    page.keyboard.press("b")
    drag(page, [(1000, 1800), (1400, 1800), (1400, 2000)])
    wait_saved(page)

    # Erase a band across the middle of the rectangle (nothing selected: what is under it).
    page.keyboard.press("Escape")
    page.keyboard.press("e")
    drag(page, [(250, 1200), (950, 1200)], steps=8)
    wait_saved(page)
    page.screenshot(path=artifacts / "editor-every-kind.png")

    stored = {a.label.name: a for a in Annotation.objects.filter(is_deleted=False)}
    assert {name: a.kind for name, a in stored.items()} == {
        "Tumour": "polygon",
        "Stroma": "freehand",
        "Necrosis": "polygon",  # a rectangle cut in two is no longer a rectangle
        "Lymphocyte": "ellipse",
        "Mitosis": "point",
        "Fat": "brush",
    }
    assert near(bbox(stored["Tumour"]), (300, 300, 800, 700))
    assert near(bbox(stored["Stroma"]), (1100, 300, 1500, 700))
    assert near(bbox(stored["Lymphocyte"]), (1100, 1000, 1600, 1300))
    assert near(stored["Mitosis"].geometry["coordinates"], (500, 1800))
    assert stored["Lymphocyte"].vertex_count >= 64
    necrosis = stored["Necrosis"]
    assert necrosis.geometry["type"] == "MultiPolygon"  # two halves left by the eraser
    assert near(bbox(necrosis), (300, 1000, 900, 1400))
    assert 0.5 * 600 * 400 < necrosis.area_px < 0.95 * 600 * 400
    fat = stored["Fat"]
    assert fat.x0 < 1000 and fat.x1 > 1400 and fat.y1 > 2000
    assert fat.area_px > 0

    reload(page)
    assert summary(page)["features"] == 6
    assert summary(page)["drawnCount"] == 6
    page.screenshot(path=artifacts / "editor-after-reload.png")
    # The overlay shows each label's colour inside its shape (fill blended with the slide).
    for name, (x, y) in {"Tumour": (550, 500), "Lymphocyte": (1350, 1150)}.items():
        red, green, blue, alpha = pixel(page, x, y)
        want = colour_of(dict(LABELS)[name])
        assert alpha > 0
        assert max(abs(c - w) for c, w in zip((red, green, blue), want, strict=True)) < 30
    assert pixel(page, 600, 1200)[3] == 0  # erased

    # Statistics per label: one annotation each, areas in µm².
    table = page.locator("#label-table")
    expect(table.locator("[data-label-id]").filter(has_text="Tumour")).to_contain_text("1")
    expect(page.locator("#stats-total")).to_have_text("6")
    tumour_um2 = round(500 * 400 * MPP * MPP)
    expect(page.locator("#area-heading")).to_have_text("Area (µm²)")
    expect(area_cell(page, "Tumour")).to_have_text(f"{tumour_um2:,}")
    assert problems == []


def test_move_edit_vertex_undo_redo_delete_restore(log_in, annotator, assignment, problems):
    page = open_editor(log_in, annotator, assignment)
    draw_polygon(page, [(400, 400), (800, 400), (800, 800), (400, 800)])
    wait_saved(page)
    annotation = Annotation.objects.get()

    # Drag the corner at (800, 800) to (1000, 1000).
    page.keyboard.press("v")
    click(page, 600, 600)
    drag(page, [(800, 800), (1000, 1000)])
    wait_saved(page)
    annotation.refresh_from_db()
    assert [1000, 1000] in annotation.geometry["coordinates"][0]
    assert annotation.version == 2

    # Undo puts the corner back, redo moves it again.
    page.keyboard.press("Control+z")
    wait_saved(page)
    annotation.refresh_from_db()
    assert near(bbox(annotation), (400, 400, 800, 800), 0.5)
    page.get_by_role("button", name="Redo").click()
    wait_saved(page)
    annotation.refresh_from_db()
    assert near(bbox(annotation), (400, 400, 1000, 1000), 0.5)

    # Insert a corner by dragging an edge midpoint, delete it with Alt-click.
    drag(page, [(600, 400), (600, 300)])
    wait_saved(page)
    annotation.refresh_from_db()
    assert [600, 300] in annotation.geometry["coordinates"][0]
    page.keyboard.down("Alt")
    click(page, 600, 300)
    page.keyboard.up("Alt")
    wait_saved(page)
    annotation.refresh_from_db()
    assert [600, 300] not in annotation.geometry["coordinates"][0]

    # Move the whole shape by 100 px right.
    drag(page, [(600, 600), (700, 600)])
    wait_saved(page)
    annotation.refresh_from_db()
    assert near(bbox(annotation), (500, 400, 1100, 1000), 2)

    # Delete with the key, restore with undo.
    page.keyboard.press("Delete")
    wait_saved(page)
    annotation.refresh_from_db()
    assert annotation.is_deleted
    assert summary(page)["features"] == 0
    page.get_by_role("button", name="Undo").click()
    wait_saved(page)
    annotation.refresh_from_db()
    assert not annotation.is_deleted
    assert summary(page)["features"] == 1

    # Undo of a create deletes; redo brings it back.
    for _ in range(6):
        page.keyboard.press("Control+z")
    wait_saved(page)
    annotation.refresh_from_db()
    assert annotation.is_deleted
    expect(page.get_by_role("button", name="Undo")).to_be_disabled()
    page.keyboard.press("Control+y")
    wait_saved(page)
    annotation.refresh_from_db()
    assert not annotation.is_deleted
    assert problems == []


def test_erasing_a_whole_shape_deletes_it_and_undo_brings_it_back(
    log_in, annotator, assignment, problems
):
    page = open_editor(log_in, annotator, assignment)
    annotation = draw_rectangle(page, (500, 500), (600, 600))

    page.keyboard.press("Escape")
    page.keyboard.press("e")
    page.get_by_role("slider", name="Size").fill("200")
    drag(page, [(450, 550), (650, 550)])
    wait_saved(page)
    annotation.refresh_from_db()
    assert annotation.is_deleted

    page.keyboard.press("Control+z")
    wait_saved(page)
    annotation.refresh_from_db()
    assert not annotation.is_deleted
    assert near(bbox(annotation), (500, 500, 600, 600), 0.5)
    assert problems == []


def test_label_and_comment_in_the_panel(log_in, annotator, assignment, problems):
    page = open_editor(log_in, annotator, assignment)
    draw_rectangle(page, (300, 300), (700, 600))

    page.get_by_label("Label", exact=True).select_option("Stroma")
    page.get_by_label("Comment").fill("Check with a second reader")
    page.get_by_label("Name").click()
    wait_saved(page)
    annotation = Annotation.objects.get()
    assert annotation.label.name == "Stroma"
    assert annotation.comment == "Check with a second reader"

    page.evaluate("() => document.activeElement.blur()")
    page.keyboard.press("Escape")
    expect(page.locator("#selected-annotation")).to_be_hidden()
    page.locator("#annotation-list").get_by_role("button").first.click()
    expect(page.locator("#selected-annotation")).to_be_visible()
    expect(page.get_by_label("Comment")).to_have_value("Check with a second reader")
    assert problems == []


def test_a_shape_pressed_in_the_list_is_selected_when_the_list_refreshes_under_the_press(
    log_in, annotator, assignment, problems
):
    page = open_editor(log_in, annotator, assignment)
    draw_rectangle(page, (300, 300), (700, 600))
    page.keyboard.press("Escape")
    expect(page.locator("#selected-annotation")).to_be_hidden()

    button = page.locator("#annotation-list").get_by_role("button", name="Rectangle 1")
    expect(button).not_to_have_attribute("aria-current", "true")
    button.scroll_into_view_if_needed()
    box = button.bounding_box()
    page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    page.mouse.down()
    # The panel's refresh after an edit or a key, landing between the press and the release.
    page.evaluate("() => window.wsi2mlEditor.editor.panel.showList()")
    page.mouse.up()
    expect(page.locator("#selected-annotation")).to_be_visible()
    expect(button).to_have_attribute("aria-current", "true")
    assert problems == []


def test_completed_assignment_is_read_only(
    log_in, annotator, assignment, cmu_slide, admin_user, problems, artifacts
):
    annotation_services.annotation_create(
        slide=cmu_slide,
        assignment=assignment,
        author=annotator,
        label=label("Tumour"),
        kind="rectangle",
        geometry={
            "type": "Polygon",
            "coordinates": [[[300, 300], [700, 300], [700, 600], [300, 600], [300, 300]]],
        },
    )
    services.assignment_close(assignment=assignment, actor=admin_user)
    page = open_editor(log_in, annotator, assignment)

    expect(page.locator("#read-only-notice")).to_contain_text("Read-only")
    expect(page.get_by_role("button", name="Polygon")).to_have_count(0)
    assert summary(page)["features"] == 1
    page.keyboard.press("p")
    assert summary(page)["tool"] == "select"
    click(page, 500, 450)
    expect(page.locator("#selected-annotation")).to_be_visible()
    expect(page.get_by_role("button", name="Delete annotation")).to_be_disabled()
    page.keyboard.press("Delete")
    page.screenshot(path=artifacts / "editor-read-only.png")
    assert Annotation.objects.filter(is_deleted=False).count() == 1
    assert problems == []


def test_offline_changes_are_queued_then_saved(log_in, annotator, assignment, problems, artifacts):
    page = open_editor(log_in, annotator, assignment)
    page.context.set_offline(True)
    page.keyboard.press("g")
    drag(page, [(300, 300), (700, 600)])
    page.keyboard.press("x")
    click(page, 1000, 1000)

    expect(page.locator("#save-state")).to_have_text("Offline – 2 changes queued")
    assert page.evaluate("() => document.body.dataset.saveState") == "offline"
    page.screenshot(path=artifacts / "editor-offline.png")
    assert Annotation.objects.count() == 0

    page.context.set_offline(False)
    expect(page.locator("#save-state")).to_have_text("Saved")
    assert sorted(Annotation.objects.values_list("kind", flat=True)) == ["point", "rectangle"]
    assert problems == []


def test_a_server_error_is_retried(log_in, annotator, assignment, problems):
    page = open_editor(log_in, annotator, assignment)
    failures = []

    def fail_once(route):
        if route.request.method == "POST" and not failures:
            failures.append(route.request.url)
            route.fulfill(status=503, json={"error": "Down for a moment."})
        else:
            route.continue_()

    page.route("**/api/slides/*/annotations", fail_once)
    page.keyboard.press("x")
    click(page, 800, 800)
    expect(page.locator("#save-state")).to_contain_text("Failed – retrying")
    expect(page.locator("#save-state")).to_have_text("Saved")
    assert len(failures) == 1
    assert Annotation.objects.get().kind == "point"
    # The failed request shows in the console as a 503; nothing else may.
    assert [p for p in problems if "503" not in p] == []


def test_outbox_survives_a_reload_while_the_server_is_down(log_in, annotator, assignment):
    page = open_editor(log_in, annotator, assignment)
    page.route("**/api/slides/*/annotations", lambda route: route.abort())
    page.keyboard.press("g")
    drag(page, [(300, 300), (700, 600)])
    expect(page.locator("#save-state")).to_contain_text("queued")

    page.unroute("**/api/slides/*/annotations")
    page.route(
        "**/api/slides/*/annotations",
        lambda route: route.abort() if route.request.method == "POST" else route.continue_(),
    )
    warnings = []

    def leave_anyway(dialog):
        warnings.append(dialog.type)
        dialog.accept()

    page.once("dialog", leave_anyway)
    reload(page)
    assert warnings == ["beforeunload"]  # the browser warned: changes not saved yet
    assert summary(page)["features"] == 1  # shown from the outbox
    assert Annotation.objects.count() == 0

    page.unroute("**/api/slides/*/annotations")
    page.evaluate("() => window.dispatchEvent(new Event('online'))")
    expect(page.locator("#save-state")).to_have_text("Saved")
    assert Annotation.objects.get().kind == "rectangle"


def test_a_conflict_asks_whose_version_to_keep(log_in, annotator, assignment, problems, artifacts):
    page = open_editor(log_in, annotator, assignment)
    annotation = draw_rectangle(page, (300, 300), (700, 600))
    # Someone else saves a newer version meanwhile.
    Annotation.objects.filter(pk=annotation.pk).update(version=F("version") + 1, comment="Theirs")

    page.get_by_label("Comment").fill("Mine")
    page.get_by_label("Name").click()
    dialog = page.get_by_role("dialog", name="This annotation was changed elsewhere")
    expect(dialog).to_be_visible()
    expect(dialog).to_contain_text("Theirs")
    page.screenshot(path=artifacts / "editor-conflict.png")
    dialog.get_by_role("button", name="Keep mine").click()
    wait_saved(page)
    annotation.refresh_from_db()
    assert annotation.comment == "Mine"
    assert annotation.version == 3

    # Again, and this time take the server's version.
    Annotation.objects.filter(pk=annotation.pk).update(
        version=F("version") + 1, comment="Theirs again"
    )
    page.get_by_label("Comment").fill("Mine again")
    page.get_by_label("Name").click()
    dialog.get_by_role("button", name="Take the server's version").click()
    wait_saved(page)
    expect(page.get_by_label("Comment")).to_have_value("Theirs again")
    annotation.refresh_from_db()
    assert annotation.comment == "Theirs again"
    assert problems == []


def test_keeping_mine_restores_an_annotation_deleted_elsewhere(
    log_in, annotator, assignment, problems
):
    page = open_editor(log_in, annotator, assignment)
    annotation = draw_rectangle(page, (300, 300), (700, 600))
    Annotation.objects.filter(pk=annotation.pk).update(version=F("version") + 1, is_deleted=True)

    page.get_by_label("Comment").fill("Still here")
    page.get_by_label("Name").click()
    dialog = page.get_by_role("dialog", name="This annotation was changed elsewhere")
    expect(dialog).to_contain_text("deleted")
    dialog.get_by_role("button", name="Keep mine").click()
    wait_saved(page)
    annotation.refresh_from_db()
    assert not annotation.is_deleted
    assert annotation.comment == "Still here"
    assert problems == []


def test_ruler_line_brush_in_microns_and_space_to_pan(log_in, annotator, assignment, problems):
    page = open_editor(log_in, annotator, assignment)
    page.keyboard.press("m")
    drag(page, [(200, 500), (1200, 500)])
    assert summary(page)["ruler"] == f"{1000 * MPP:.1f} µm"
    assert Annotation.objects.count() == 0

    page.keyboard.press("n")
    click(page, 200, 1500)
    click(page, 600, 1500)
    page.mouse.dblclick(*at(page, 600, 1900))
    # A brush 100 µm across (200 px at 0.499 µm/px), whatever the zoom.
    page.keyboard.press("2")
    page.keyboard.press("b")
    page.get_by_label("Unit of the brush size").select_option("um")
    page.get_by_role("slider", name="Size").fill("100")
    drag(page, [(1000, 2400), (1400, 2400)])
    wait_saved(page)
    line = Annotation.objects.get(kind="line")
    assert line.geometry["coordinates"] == [[200, 1500], [600, 1500], [600, 1900]]
    assert line.length_um == pytest.approx(800 * MPP, rel=0.01)
    brush = Annotation.objects.get(kind="brush")
    assert brush.label.name == "Stroma"
    assert near(bbox(brush), (900, 2300, 1500, 2500), 3)

    # Holding Space pans with the mouse, even with a drawing tool on.
    page.keyboard.press("+")
    page.wait_for_timeout(600)
    page.keyboard.press("p")
    centre = "() => window.wsi2mlViewer.viewer.viewport.getCenter().x"
    before = page.evaluate(centre)
    page.keyboard.down(" ")
    drag(page, [(1100, 1500), (800, 1200)], steps=6)
    page.keyboard.up(" ")
    page.keyboard.press("Enter")
    page.wait_for_timeout(600)
    assert page.evaluate(centre) != before
    assert Annotation.objects.count() == 2

    page.keyboard.press("?")
    help_dialog = page.get_by_role("dialog", name="Keyboard shortcuts")
    expect(help_dialog).to_contain_text("Freehand region")
    assert problems == []


def cell_polygons(labels, rows: int, columns: int, step: float = 30):
    """(label, kind, geometry) of rows × columns 20-vertex "cells", 20 px across."""
    for row in range(rows):
        for column in range(columns):
            cx, cy = 15 + column * step, 20 + row * step * 4 / 3
            ring = [
                [
                    round(cx + 10 * math.cos(2 * math.pi * k / 20), 2),
                    round(cy + 10 * math.sin(2 * math.pi * k / 20), 2),
                ]
                for k in range(20)
            ]
            ring.append(ring[0])
            label = labels[(row * columns + column) % len(labels)]
            yield label, "polygon", {"type": "Polygon", "coordinates": [ring]}


@pytest.fixture
def deep_assignment(project, deep_slide, annotator, admin_user):
    task = Task.objects.create(project=project, name="Count cells")
    return services.assignment_create(
        task=task, assignee=annotator, slides=[deep_slide], actor=admin_user
    )


def test_twenty_thousand_polygons_in_view_are_all_loaded_and_drawn(
    log_in, annotator, deep_assignment, deep_slide, project, problems, artifacts
):
    # How fast: bench/annotation_editor.py measures it; a test only checks that all are shown.
    labels = list(project.labels.all()[:3])
    annotation_services.annotations_bulk_create(
        slide=deep_slide,
        assignment=deep_assignment,
        author=annotator,
        items=cell_polygons(labels, 100, 200),
    )
    page = open_editor(log_in, annotator, deep_assignment)
    facts = summary(page)
    page.screenshot(path=artifacts / "editor-20000-polygons.png")
    assert facts["features"] == 20_000
    assert facts["drawnCount"] == 20_000
    assert problems == []


def test_too_many_for_the_view_shows_counts_per_cell(
    log_in, annotator, deep_assignment, deep_slide, project, problems, artifacts
):
    labels = list(project.labels.all()[:2])
    annotation_services.annotations_bulk_create(
        slide=deep_slide,
        assignment=deep_assignment,
        author=annotator,
        items=cell_polygons(labels, 20, 40, step=100),
    )
    page = open_editor(log_in, annotator, deep_assignment)
    page.evaluate(
        "() => { const e = window.wsi2mlEditor.editor; e.loadLimit = 100; return e.load(true); }"
    )
    page.wait_for_function("() => window.wsi2mlEditor.summary().reduced")
    facts = summary(page)
    assert facts["clusters"] > 0
    expect(page.locator("#annotation-count")).to_contain_text("zoom in")
    page.screenshot(path=artifacts / "editor-reduced.png")
    assert problems == []


OSD_AT = """([x, y]) => {
  // OpenSeadragon's own mapping, independent of the overlay's matrix.
  const { viewer } = window.wsi2mlViewer;
  const point = viewer.world.getItemAt(0).imageToViewerElementCoordinates(
    new OpenSeadragon.Point(x, y));
  const rect = viewer.element.getBoundingClientRect();
  return [rect.left + point.x, rect.top + point.y];
}"""


def test_shapes_drawn_on_a_rotated_slide_land_under_the_pointer(
    log_in, annotator, assignment, problems
):
    page = open_editor(log_in, annotator, assignment)
    page.evaluate(
        """() => new Promise((resolve) => {
          const { viewer } = window.wsi2mlViewer;
          viewer.addOnceHandler('animation-finish', resolve);
          viewer.viewport.setRotation(90);
        })"""
    )

    def osd_at(x: float, y: float) -> list[float]:
        return page.evaluate(OSD_AT, [x, y])

    page.keyboard.press("x")
    page.mouse.click(*osd_at(600, 900))
    page.keyboard.press("g")
    page.mouse.move(*osd_at(1000, 1200))
    page.mouse.down()
    page.mouse.move(*osd_at(1400, 1500), steps=5)
    page.mouse.up()
    wait_saved(page)

    point = Annotation.objects.get(kind="point")
    assert near(point.geometry["coordinates"], (600, 900), tolerance=3)
    rectangle = Annotation.objects.get(kind="rectangle")
    assert near(bbox(rectangle), (1000, 1200, 1400, 1500), tolerance=3)
    assert problems == []


def test_hand_drawn_outlines_drop_corners_nobody_could_see(log_in, annotator, assignment):
    page = open_editor(log_in, annotator, assignment)
    centre, radius, steps = (1100, 1400), 300, 360
    circle = [
        (
            centre[0] + radius * math.cos(2 * math.pi * k / steps),
            centre[1] + radius * math.sin(2 * math.pi * k / steps),
        )
        for k in range(steps + 1)
    ]

    page.keyboard.press("l")
    drag(page, circle, steps=1)
    wait_saved(page)

    outline = Annotation.objects.get(kind="freehand")
    # Hundreds of pointer positions, kept to the corners that shape the outline on screen...
    assert 12 <= outline.vertex_count <= 80, outline.vertex_count
    # ...with the area the annotator drew (a 360-gon loses 0.005 % of the circle's).
    assert outline.area_px == pytest.approx(math.pi * radius**2, rel=0.02)


def test_display_settings_and_the_list_change_what_is_shown(
    log_in, annotator, assignment, problems
):
    page = open_editor(log_in, annotator, assignment)
    draw_rectangle(page, (300, 300), (700, 600))  # Tumour, the first label
    page.keyboard.press("Escape")
    page.keyboard.press("2")
    page.keyboard.press("g")
    drag(page, [(1000, 300), (1400, 600)])  # Stroma
    wait_saved(page)
    page.keyboard.press("Escape")
    tumour, stroma = (500, 450), (1200, 450)  # inside each, away from the outline
    assert pixel(page, *tumour)[3] > 0 and pixel(page, *stroma)[3] > 0

    page.get_by_label("Show Tumour").uncheck()
    page.wait_for_function(f"() => !({PIXEL_AT})([500, 450])[3]")
    assert pixel(page, *stroma)[3] > 0

    page.get_by_label("Fill opacity").fill("0")
    page.wait_for_function(f"() => !({PIXEL_AT})([1200, 450])[3]")
    assert pixel(page, 1000, 450)[3] > 0  # the outline is still drawn

    # Zoomed far out, a click in the list brings the annotation into view and selects it.
    page.evaluate("() => window.wsi2mlViewer.viewer.viewport.zoomTo(0.5, null, true)")
    page.locator("#annotation-list").get_by_role("button", name="Stroma").click()
    page.wait_for_function(
        """() => {
          const [left, top] = window.wsi2mlEditor.toScreen(1000, 300);
          const [right, bottom] = window.wsi2mlEditor.toScreen(1400, 600);
          const box = window.wsi2mlViewer.viewer.element.getBoundingClientRect();
          return right - left > 150 && left >= box.left && right <= box.right
            && top >= box.top && bottom <= box.bottom;
        }"""
    )
    expect(page.locator("#selected-kind")).to_contain_text("Rectangle")
    assert problems == []


def test_polygon_keys_cancel_undo_a_corner_and_close(log_in, annotator, assignment, problems):
    page = open_editor(log_in, annotator, assignment)
    page.keyboard.press("p")
    for corner in [(300, 300), (700, 300), (700, 700)]:
        click(page, *corner)
    # Esc cancels the polygon being drawn: otherwise the corners below would extend it.
    page.keyboard.press("Escape")

    for corner in [(300, 300), (700, 300), (700, 700), (1500, 1500)]:
        click(page, *corner)
    page.keyboard.press("Backspace")  # takes back the stray last corner
    page.keyboard.press("Enter")  # closes the polygon
    wait_saved(page)

    polygon = Annotation.objects.get()
    assert polygon.kind == "polygon" and polygon.vertex_count == 4  # 3 corners, closed
    assert near(bbox(polygon), (300, 300, 700, 700))
    assert problems == []


# --- Polish: units, titles, the rubber band, contrast, tooltips, the overview map ---------------


def box(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {
        "type": "Polygon",
        "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]],
    }


def stored(assignment, cmu_slide, annotator, label_name: str, geometry: dict, **fields):
    annotation, _ = annotation_services.annotation_create(
        slide=cmu_slide,
        assignment=assignment,
        author=annotator,
        label=label(label_name),
        kind=fields.pop("kind", "rectangle"),
        geometry=geometry,
        **fields,
    )
    return annotation


def area_cell(page: Page, label_name: str):
    return (
        page.locator("#label-table [data-label-id]")
        .filter(has_text=label_name)
        .locator("[data-area]")
    )


def test_areas_in_a_column_share_one_unit_chosen_by_the_largest(
    log_in, annotator, assignment, cmu_slide, problems, artifacts
):
    # The newcomer's pair: 0.128 mm² (800 × 642 px) beside 79,9xx µm² (600 × 535 px).
    stored(assignment, cmu_slide, annotator, "Tumour", box(100, 100, 900, 742))
    stored(assignment, cmu_slide, annotator, "Stroma", box(1000, 100, 1600, 635))
    page = open_editor(log_in, annotator, assignment)

    um2 = MPP * MPP
    expect(page.locator("#area-heading")).to_have_text("Area (µm²)")
    expect(area_cell(page, "Tumour")).to_have_text(f"{round(800 * 642 * um2):,}")
    expect(area_cell(page, "Stroma")).to_have_text(f"{round(600 * 535 * um2):,}")
    sizes = page.locator("#annotation-list .annotation-item-size")
    expect(sizes).to_have_count(2)
    assert all(text.endswith(" µm²") for text in sizes.all_inner_texts())

    # A region above a square millimetre turns the whole column into mm².
    stored(assignment, cmu_slide, annotator, "Necrosis", box(50, 800, 2150, 2800))
    reload(page)
    expect(page.locator("#area-heading")).to_have_text("Area (mm²)")
    expect(area_cell(page, "Tumour")).to_have_text(f"{800 * 642 * um2 / 1e6:.3f}")
    expect(area_cell(page, "Necrosis")).to_have_text(f"{2100 * 2000 * um2 / 1e6:.3f}")
    expect(sizes).to_have_count(3)
    assert all(text.endswith(" mm²") for text in sizes.all_inner_texts())
    page.locator("#label-table").screenshot(path=artifacts / "editor-area-units.png")
    assert problems == []


def test_areas_are_in_pixels_on_a_slide_without_a_scale(
    log_in, annotator, deep_assignment, deep_slide, problems
):
    stored(deep_assignment, deep_slide, annotator, "Tumour", box(100, 100, 1100, 1100))
    page = open_editor(log_in, annotator, deep_assignment)
    expect(page.locator("#area-heading")).to_have_text("Area (px²)")
    expect(area_cell(page, "Tumour")).to_have_text("1,000,000")
    assert problems == []


def test_the_selected_annotation_is_titled_by_name_or_kind_and_number(
    log_in, annotator, assignment, cmu_slide, problems
):
    # The database ids run on from earlier tests: the number counts this slide's annotations.
    for corner in (100, 500, 900):
        stored(assignment, cmu_slide, annotator, "Tumour", box(corner, 100, corner + 300, 400))
    page = open_editor(log_in, annotator, assignment)
    title = page.locator("#selected-kind")

    click(page, 1050, 250)
    expect(title).to_have_text("Rectangle 3")
    reload(page)
    click(page, 650, 250)
    expect(title).to_have_text("Rectangle 2")

    # Deleting one renumbers nothing during the visit; a new shape takes the next number.
    page.keyboard.press("Delete")
    wait_saved(page)
    click(page, 1050, 250)
    expect(title).to_have_text("Rectangle 3")
    page.keyboard.press("x")
    click(page, 1500, 1500)
    wait_saved(page)
    expect(title).to_have_text("Point 4")

    # A name is the title.
    page.get_by_label("Name").fill("Biopsy margin")
    page.get_by_label("Comment").click()
    wait_saved(page)
    expect(title).to_have_text("“Biopsy margin”")
    assert "#" not in page.locator("#annotation-list").inner_text()
    assert problems == []


def test_polygon_and_line_draw_a_rubber_band_to_the_pointer(
    log_in, annotator, assignment, problems, artifacts
):
    page = open_editor(log_in, annotator, assignment)

    def coloured(points) -> bool:
        """Whether the Tumour label's red shows at any of the positions (the band is dashed,
        and its edges are blended with its dark halo)."""
        for x, y in points:
            red, green, blue, alpha = pixel(page, x, y)
            if alpha > 0 and red > green + 60 and red > blue + 60:
                return True
        return False

    page.keyboard.press("p")
    click(page, 300, 300)
    click(page, 800, 300)
    page.mouse.move(*at(page, 800, 900), steps=4)
    page.wait_for_timeout(100)
    page.screenshot(path=artifacts / "editor-rubber-band.png")
    # From the last corner to the pointer, and from the pointer back to the first corner.
    assert coloured([(800, 580 + 4 * k) for k in range(10)])
    assert coloured([(550 + 2 * k, 600 + 2.4 * k) for k in range(10)])
    page.keyboard.press("Escape")
    page.wait_for_timeout(100)
    assert not coloured([(800, 580 + 4 * k) for k in range(10)])

    # A line has no closing edge: only the band to the pointer.
    page.keyboard.press("n")
    click(page, 300, 1500)
    click(page, 900, 1500)
    page.mouse.move(*at(page, 900, 1900), steps=4)
    page.wait_for_timeout(100)
    assert coloured([(900, 1680 + 4 * k) for k in range(10)])
    assert not coloured([(600 + 2 * k, 1700 + 1.3 * k) for k in range(10)])
    assert problems == []


CONTRAST = """(element) => {
  // WCAG 2 contrast of colours as painted: each colour over what is behind it, with opacity.
  const rgba = (text) => {
    const [r, g, b, a = 1] = text.match(/[\\d.]+/g).map(Number);
    return [r, g, b, a];
  };
  const over = ([r, g, b, a], below) => [r, g, b].map((v, i) => v * a + below[i] * (1 - a));
  const behind = (node) => {
    const layers = [];
    for (; node; node = node.parentElement) {
      layers.push(rgba(getComputedStyle(node).backgroundColor));
    }
    return layers.reverse().reduce((below, layer) => over(layer, below), [255, 255, 255]);
  };
  const luminance = (colour) => {
    const [r, g, b] = colour.map((v) => {
      v /= 255;
      return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
    });
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [light, dark] = [luminance(a), luminance(b)].sort((x, y) => y - x);
    return (light + 0.05) / (dark + 0.05);
  };
  const opacity = Number(getComputedStyle(element).opacity);
  const [r, g, b, a] = rgba(getComputedStyle(element).color);
  const background = behind(element);
  const around = behind(element.parentElement);
  return {
    text: ratio(over([r, g, b, a * opacity], background), background),
    background: ratio(background, around),
  };
}"""


def contrast(locator) -> dict:
    return locator.evaluate(CONTRAST)


def test_controls_read_clearly(log_in, annotator, assignment, cmu_slide, problems, artifacts):
    name = "Invasive carcinoma at the deep margin, second reader to check the grade"
    stored(assignment, cmu_slide, annotator, "Stroma", box(300, 300, 700, 600), name=name)
    page = open_editor(log_in, annotator, assignment)

    # The chosen label's key badge stands out from its dark button, its key from the badge.
    badge = page.locator(".btn-check:checked + .label-choice kbd")
    expect(badge).to_have_text("1")
    assert contrast(badge)["text"] >= 4.5
    assert contrast(badge)["background"] >= 3  # WCAG 1.4.11, non-text contrast

    # Undo looks unavailable, and says so, until there is something to undo.
    undo = page.get_by_role("button", name="Undo")
    expect(undo).to_be_disabled()
    expect(undo).to_have_attribute("aria-disabled", "true")
    page.locator("#editor-toolbar").screenshot(path=artifacts / "editor-undo-disabled.png")
    disabled = contrast(undo)["text"]
    page.keyboard.press("x")
    click(page, 1500, 1500)
    wait_saved(page)
    expect(undo).to_be_enabled()
    expect(undo).to_have_attribute("aria-disabled", "false")
    enabled = contrast(undo)["text"]
    assert enabled >= 4.5 and disabled < 2.5, (enabled, disabled)
    page.locator("#editor-toolbar").screenshot(path=artifacts / "editor-undo-enabled.png")

    # A name cut to the panel's width is whole in the tooltip.
    item = page.locator("#annotation-list .annotation-item").filter(has_text="Invasive")
    expect(item).to_have_attribute("title", f"“{name}” · Stroma")
    text = item.locator(".annotation-item-text")
    assert text.evaluate("(element) => element.scrollWidth > element.clientWidth")
    item.click()
    expect(page.locator("#selected-kind")).to_have_text(f"“{name}”")
    page.screenshot(path=artifacts / "editor-panel-selected.png")
    assert problems == []


NAVIGATOR_SHOWN = """() => {
  const element = window.wsi2mlViewer.viewer.navigator.element;
  return getComputedStyle(element).display !== 'none' && element.getBoundingClientRect().width > 0;
}"""


def test_the_overview_map_can_be_hidden_and_stays_hidden(
    log_in, annotator, assignment, problems, artifacts
):
    page = open_editor(log_in, annotator, assignment)
    button = page.get_by_role("button", name="Map")
    assert page.evaluate(NAVIGATOR_SHOWN)
    expect(button).to_have_attribute("aria-pressed", "true")

    button.click()
    assert not page.evaluate(NAVIGATOR_SHOWN)
    expect(button).to_have_attribute("aria-pressed", "false")
    reload(page)  # remembered
    assert not page.evaluate(NAVIGATOR_SHOWN)
    page.screenshot(path=artifacts / "editor-map-hidden.png")

    page.keyboard.press("Shift+M")
    assert page.evaluate(NAVIGATOR_SHOWN)
    expect(button).to_have_attribute("aria-pressed", "true")
    assert summary(page)["tool"] == "select"  # Shift+M is not the ruler's M
    reload(page)
    assert page.evaluate(NAVIGATOR_SHOWN)
    assert problems == []
