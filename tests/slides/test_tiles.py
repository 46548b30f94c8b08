"""The Deep Zoom tile service: DZI, tiles, thumbnails, associated images, caching and errors."""

import io
import shutil

import openslide
import pytest
from django.urls import reverse
from openslide.deepzoom import DeepZoomGenerator
from PIL import Image, ImageCms

from slides import tiles
from slides.deepzoom import encode_jpeg, native_dz_levels
from slides.models import Slide
from slides.services import slide_register_file
from tests import factories

pytestmark = pytest.mark.django_db


def dzi_url(slide):
    return reverse("slides:dzi", args=[slide.pk])


def tile_url(slide, level, col, row):
    return reverse("slides:tile", args=[slide.pk, level, col, row])


def reference_generator(path):
    return DeepZoomGenerator(openslide.OpenSlide(path), tile_size=254, overlap=1, limit_bounds=True)


def decoded(jpeg: bytes) -> bytes:
    return Image.open(io.BytesIO(jpeg)).convert("RGB").tobytes()


@pytest.fixture
def staff_client(client_for, admin_user):
    return client_for(admin_user)


def test_dzi_describes_the_pyramid(staff_client, slide, slides_root):
    response = staff_client.get(dzi_url(slide))

    assert response.status_code == 200
    assert response["Content-Type"] == "application/xml"
    reference = reference_generator(slides_root / slide.path)
    assert response.content.decode() == reference.get_dzi("jpeg")
    assert 'TileSize="254"' in response.content.decode()
    assert 'Overlap="1"' in response.content.decode()


@pytest.mark.parametrize("level_offset", [0, 1, 3])
def test_tiles_equal_deepzoomgenerator_pixel_for_pixel(
    staff_client, slide, slides_root, level_offset
):
    reference = reference_generator(slides_root / slide.path)
    level = reference.level_count - 1 - level_offset
    cols, rows = reference.level_tiles[level]
    # Corners and the middle: edge tiles are narrower and carry overlap on one side only.
    for col, row in {
        (0, 0),
        (cols - 1, 0),
        (0, rows - 1),
        (cols - 1, rows - 1),
        (cols // 2, rows // 2),
    }:
        response = staff_client.get(tile_url(slide, level, col, row))
        assert response.status_code == 200, (level, col, row)
        assert response["Content-Type"] == "image/jpeg"
        expected = reference.get_tile(level, (col, row))
        served = Image.open(io.BytesIO(response.content))
        assert served.size == expected.size
        assert decoded(response.content) == decoded(encode_jpeg(expected, 75))


def test_real_aperio_tiles_match_reference(staff_client, slides_root, shared_slides):
    path = slides_root / "CMU-1-Small-Region.svs"
    shutil.copy(shared_slides / path.name, path)
    slide = slide_register_file(path=path, root=slides_root)
    reference = reference_generator(path)
    level = reference.level_count - 1
    cols, rows = reference.level_tiles[level]

    response = staff_client.get(tile_url(slide, level, cols - 1, rows - 1))

    assert response.status_code == 200
    expected = encode_jpeg(reference.get_tile(level, (cols - 1, rows - 1)), 75)
    assert decoded(response.content) == decoded(expected)


def test_embedded_icc_profile_is_converted_to_srgb(staff_client, slides_root, shared_slides):
    path = slides_root / "tcga.svs"
    shutil.copy(shared_slides / "tcga-cr-7395-01a-01-ts1.svs", path)
    slide = slide_register_file(path=path, root=slides_root)
    osr = openslide.OpenSlide(path)
    assert osr.color_profile is not None
    reference = DeepZoomGenerator(osr, tile_size=254, overlap=1, limit_bounds=True)
    level = reference.level_count - 3
    transform = ImageCms.buildTransform(
        osr.color_profile, ImageCms.createProfile("sRGB"), "RGB", "RGB", ImageCms.Intent.PERCEPTUAL
    )
    expected = ImageCms.applyTransform(reference.get_tile(level, (0, 0)), transform)

    response = staff_client.get(tile_url(slide, level, 0, 0))

    assert response.status_code == 200
    assert decoded(response.content) == decoded(encode_jpeg(expected, 75))


@pytest.mark.parametrize(
    ("level", "col", "row"),
    [(99, 0, 0), ("last", 999, 0), ("last", 0, 999), ("last", 9999999, 9999999)],
)
def test_unknown_level_column_or_row_is_404(staff_client, slide, level, col, row):
    if level == "last":
        level = tiles.open_slide(slide.pk).dz.level_count - 1
    response = staff_client.get(tile_url(slide, level, col, row))
    assert response.status_code == 404


@pytest.mark.parametrize(
    "url",
    [
        "/slides/1_files/1/0_0.png",
        "/slides/1_files/-1/0_0.jpeg",
        "/slides/1_files/a/0_0.jpeg",
        "/slides/99999999999999999999_files/0/0_0.jpeg",
        "/slides/99999999999999999999.dzi",
        "/slides/123456789012.dzi",
    ],
)
def test_malformed_or_absurd_urls_are_404(staff_client, url):
    assert staff_client.get(url).status_code == 404


def test_unknown_slide_is_404(staff_client, db):
    assert staff_client.get("/slides/424242.dzi").status_code == 404
    assert staff_client.get("/slides/424242_files/0/0_0.jpeg").status_code == 404
    assert staff_client.get("/slides/424242/").status_code == 404


def test_tile_has_strong_etag_and_private_cache_control(staff_client, slide):
    response = staff_client.get(tile_url(slide, 8, 0, 0))

    etag = response["ETag"]
    assert etag.startswith('"') and not etag.startswith("W/")
    assert response["Cache-Control"].startswith("private, max-age=")


def test_conditional_request_answers_304(staff_client, slide):
    first = staff_client.get(tile_url(slide, 8, 0, 0))

    again = staff_client.get(tile_url(slide, 8, 0, 0), headers={"If-None-Match": first["ETag"]})

    assert again.status_code == 304
    assert again.content == b""
    assert again["ETag"] == first["ETag"]


def test_dzi_answers_304_to_its_etag(staff_client, slide):
    first = staff_client.get(dzi_url(slide))
    again = staff_client.get(dzi_url(slide), headers={"If-None-Match": first["ETag"]})
    assert again.status_code == 304


def test_changed_file_changes_etag_and_pixels(staff_client, slide, slides_root):
    url = tile_url(slide, 9, 0, 0)
    before = staff_client.get(url)
    factories.write_pyramid_tiff(slides_root / slide.path, 1500, 1000, seed=1)
    tiles.forget_locations()

    after = staff_client.get(url, headers={"If-None-Match": before["ETag"]})

    assert after.status_code == 200
    assert after["ETag"] != before["ETag"]
    assert decoded(after.content) != decoded(before.content)


def test_tiles_are_served_from_the_server_cache(staff_client, slide, monkeypatch):
    url = tile_url(slide, 9, 1, 0)
    first = staff_client.get(url)
    assert first.status_code == 200

    def fail(*args):
        raise AssertionError("the tile was rendered again instead of read from the cache")

    monkeypatch.setattr(tiles.slide_cache().get(tiles.slide_location(slide.pk)), "tile_jpeg", fail)
    second = staff_client.get(url)

    assert second.status_code == 200
    assert second.content == first.content


def test_another_worker_reads_the_tile_from_the_shared_cache(staff_client, slide, monkeypatch):
    url = tile_url(slide, 8, 0, 0)  # resampled: the 1500 x 1000 slide stores downsamples 1, 2, 4
    first = staff_client.get(url)
    tiles.forget_memory()  # as if the next request reached another worker process

    def fail(*args):
        raise AssertionError("the tile was rendered again instead of read from the shared cache")

    monkeypatch.setattr(tiles.slide_cache().get(tiles.slide_location(slide.pk)), "tile_jpeg", fail)
    second = staff_client.get(url)

    assert second.content == first.content


@pytest.mark.parametrize(
    ("share_native", "level", "shared"),
    [
        (False, 9, False),
        (False, 8, True),
        (True, 9, True),
    ],
)
def test_only_resampled_tiles_go_to_the_shared_cache_by_default(
    staff_client, slide, settings, share_native, level, shared
):
    settings.TILE_SHARE_NATIVE_LEVELS = share_native
    opened = tiles.open_slide(slide.pk)
    assert {9, 10, 11} <= opened.native_levels and 8 not in opened.native_levels

    response = staff_client.get(tile_url(slide, level, 0, 0))

    key = f"t:{slide.pk}:{opened.version}:75:{level}:0:0"
    assert response.status_code == 200
    assert (tiles.tile_cache().get(key) == response.content) is shared


def test_native_levels_follow_the_levels_stored_in_the_file(slides_root, shared_slides):
    for name, expected in [
        ("CMU-1-Small-Region.svs", [12]),  # one stored level
        ("tcga-cr-7395-01a-01-ts1.svs", [13]),  # its second level is 2.001x: resampled
        ("test3-DAPI-2-387.ndpi", list(range(7, 14))),  # seven levels, powers of two
    ]:
        osr = openslide.OpenSlide(shared_slides / name)
        dz = DeepZoomGenerator(osr, tile_size=254, overlap=1, limit_bounds=True)
        assert sorted(native_dz_levels(osr, dz)) == expected, name


def test_recent_tiles_are_served_from_worker_memory(staff_client, slide, monkeypatch):
    url = tile_url(slide, 8, 0, 0)  # resampled, so it also went to the shared cache
    first = staff_client.get(url)

    asked = []  # recorded, not raised: a failing shared cache is gone without
    monkeypatch.setattr(tiles.tile_cache(), "get", lambda *args, **kwargs: asked.append(args))
    second = staff_client.get(url)

    assert second.content == first.content
    assert asked == []


def test_worker_memory_is_bounded_in_bytes(settings):
    settings.TILE_MEMORY_CACHE_BYTES = 1000
    tiles._memory.cache_clear()
    try:
        for i in range(5):
            tiles._cached(f"k{i}", lambda: b"x" * 400)
        memory, _ = tiles._memory()
        assert memory.currsize <= 1000
        assert list(memory.keys()) == ["k3", "k4"]
    finally:
        tiles._memory.cache_clear()


def test_removed_file_is_404_and_other_slides_keep_working(staff_client, slides_root, caplog):
    broken = factories.slide_create(slides_root, "a/broken.tiff")
    healthy = factories.slide_create(slides_root, "b/healthy.tiff", seed=3)
    assert staff_client.get(tile_url(broken, 8, 0, 0)).status_code == 200
    (slides_root / broken.path).unlink()
    tiles.tile_cache().clear()
    tiles.forget_memory()

    assert staff_client.get(tile_url(broken, 9, 0, 0)).status_code == 404
    assert staff_client.get(dzi_url(broken)).status_code == 404
    assert staff_client.get(tile_url(healthy, 9, 0, 0)).status_code == 200
    assert "unavailable" in caplog.text


def test_damaged_file_is_404_not_500(staff_client, slides_root):
    slide = factories.slide_create(slides_root, "damaged.tiff")
    (slides_root / slide.path).write_bytes(b"II*\x00" + b"\x00" * 64)

    assert staff_client.get(tile_url(slide, 8, 0, 0)).status_code == 404
    assert staff_client.get(dzi_url(slide)).status_code == 404


def test_slide_path_escaping_the_root_is_never_opened(staff_client, slides_root, tmp_path):
    outside = factories.write_pyramid_tiff(tmp_path / "outside.tiff", 600, 400)
    slide = factories.slide_create(slides_root)
    Slide.objects.filter(pk=slide.pk).update(path=f"../{outside.name}")
    tiles.forget_locations()

    assert staff_client.get(dzi_url(slide)).status_code == 404
    assert staff_client.get(tile_url(slide, 0, 0, 0)).status_code == 404


def test_unreadable_slide_is_404(staff_client, slide):
    Slide.objects.filter(pk=slide.pk).update(status=Slide.Status.UNREADABLE)
    tiles.forget_locations()
    assert staff_client.get(dzi_url(slide)).status_code == 404


def test_thumbnail_is_bounded(staff_client, slide):
    url = reverse("slides:thumbnail", args=[slide.pk])

    response = staff_client.get(url, {"size": 128})

    assert response.status_code == 200
    assert max(Image.open(io.BytesIO(response.content)).size) == 128
    for bad in ("0", "5000", "abc", "-3"):
        refused = staff_client.get(url, {"size": bad})
        assert refused.status_code == 400, bad
        assert b"size" in refused.content


def test_associated_images_are_served_by_name(staff_client, slides_root, shared_slides):
    path = slides_root / "CMU-1-Small-Region.svs"
    shutil.copy(shared_slides / path.name, path)
    slide = slide_register_file(path=path, root=slides_root)
    assert set(slide.associated_images) == {"label", "macro", "thumbnail"}

    for name in slide.associated_images:
        response = staff_client.get(reverse("slides:associated", args=[slide.pk, name]))
        assert response.status_code == 200
        assert Image.open(io.BytesIO(response.content)).format == "JPEG"
    missing = staff_client.get(reverse("slides:associated", args=[slide.pk, "nonesuch"]))
    assert missing.status_code == 404


def test_tiles_are_shared_through_redis(staff_client, slide, settings, monkeypatch):
    """The production set-up: CACHE_URL=redis://…, tiles shared between workers through Redis."""
    settings.CACHES = {
        **settings.CACHES,
        "tiles": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/13",
        },
    }
    try:
        url = tile_url(slide, 8, 0, 0)
        first = staff_client.get(url)
        tiles.forget_memory()
        opened = tiles.slide_cache().get(tiles.slide_location(slide.pk))
        monkeypatch.setattr(opened, "tile_jpeg", lambda *a: pytest.fail("rendered again"))

        second = staff_client.get(url)

        assert second.content == first.content
        assert tiles.tile_cache().get(f"t:{slide.pk}:{opened.version}:75:8:0:0") == first.content
    finally:
        tiles.tile_cache().clear()
