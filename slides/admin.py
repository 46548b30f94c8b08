from pathlib import PurePosixPath

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.template.defaultfilters import filesizeformat
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.html import format_html, format_html_join

from slides.forms import ScanFolderForm
from slides.jobs import report_lines, scan_job_start
from slides.models import Slide
from slides.services import ScanReport, slides_rescan

THUMBNAIL_SIZE = 64
BY = " \N{MULTIPLICATION SIGN} "


def short_datetime(value) -> str:
    """A date and time that fits a list column: 2026-12-01 10:52 (local time), "—" if None."""
    return date_format(timezone.localtime(value), "Y-m-d H:i") if value else "—"


def short_date(value) -> str:
    """The day of a date and time, for a list column: 2026-12-01 (local time), "—" if None."""
    return date_format(timezone.localtime(value), "Y-m-d") if value else "—"


def report_to_messages(request: HttpRequest, report: ScanReport) -> None:
    """Show a scan report: the counts, then each refused, unreadable and missing path."""
    lines = report_lines(report)
    messages.add_message(request, messages.WARNING if lines else messages.SUCCESS, report.summary())
    for line in lines:
        messages.warning(request, line)


class VendorFilter(admin.SimpleListFilter):
    """The vendors of the registered slides (unreadable files have none, and are left out)."""

    title = "vendor"
    parameter_name = "vendor"

    def lookups(self, request: HttpRequest, model_admin) -> list[tuple[str, str]]:
        vendors = Slide.objects.exclude(vendor="").values_list("vendor", flat=True)
        return [(vendor, vendor) for vendor in vendors.distinct().order_by("vendor")]

    def queryset(self, request: HttpRequest, queryset):
        return queryset.filter(vendor=self.value()) if self.value() else queryset


class FolderListFilter(admin.SimpleListFilter):
    """Filter by the folder (under SLIDES_ROOT) that holds the slide file, sub-folders included."""

    title = "folder"
    parameter_name = "folder"
    max_folders = 200

    def lookups(self, request, model_admin):
        folders = set()
        for stored in Slide.objects.values_list("path", flat=True).iterator():
            parts = PurePosixPath(stored).parts[:-1]
            folders.update("/".join(parts[: i + 1]) for i in range(len(parts)))
        return [(folder, folder) for folder in sorted(folders)[: self.max_folders]]

    def queryset(self, request, queryset):
        return queryset.under(self.value()) if self.value() else queryset


@admin.register(Slide)
class SlideAdmin(admin.ModelAdmin):
    list_display = [
        "thumbnail",
        "name",
        "dimensions",
        "size",
        "mpp_column",
        "status",
        "scanned",
    ]
    list_display_links = ["name"]
    # The vendor is a filter and on the slide's page: with it the columns did not fit at 1280 px.
    list_filter = [FolderListFilter, VendorFilter, "status"]
    search_fields = ["name", "path"]
    list_per_page = 50
    actions = ["rescan"]
    fieldsets = [
        (None, {"fields": ["name", "path", "status", "error"]}),
        (
            "Image",
            {
                "fields": [
                    "vendor",
                    "dimensions",
                    "levels",
                    "mpp_display",
                    "objective_power",
                    "bounds",
                    "associated_images_display",
                ]
            },
        ),
        ("File", {"fields": ["size", "file_mtime", "quickhash"]}),
        ("Properties read by OpenSlide", {"fields": ["properties_table"], "classes": ["collapse"]}),
        ("History", {"fields": ["created_at", "updated_at", "scanned_at"]}),
    ]
    # Everything shown is read from the file or kept by the scanner, except the display name.
    readonly_fields = [
        field for _, options in fieldsets for field in options["fields"] if field != "name"
    ]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # slides come from files: they are registered by scanning

    def has_delete_permission(self, request: HttpRequest, obj: Slide | None = None) -> bool:
        return False  # a slide whose file is gone is marked missing; its annotations stay

    @admin.display(description="")
    def thumbnail(self, slide: Slide) -> str:
        if not slide.is_readable:
            return ""
        src = reverse("slides:thumbnail", args=[slide.pk]) + f"?size={THUMBNAIL_SIZE}"
        return format_html('<img src="{}" alt="" loading="lazy">', src)

    @admin.display(description="Scanned", ordering="scanned_at")
    def scanned(self, slide: Slide) -> str:
        return short_date(slide.scanned_at)

    @admin.display(description="Dimensions (px)", ordering="width")
    def dimensions(self, slide: Slide) -> str:
        if slide.width is None or slide.height is None:
            return "—"
        return f"{slide.width:,}{BY}{slide.height:,}"

    @admin.display(description="File size", ordering="file_size")
    def size(self, slide: Slide) -> str:
        return filesizeformat(slide.file_size)

    # Not "µm" first: the admin capitalises a label's first letter, and µ becomes the Greek
    # capital Μ, so that "µm per pixel" read "Mm per pixel" (and "MM PER PIXEL" as a column).
    @admin.display(description="Pixel size (µm)", ordering="mpp_x")
    def mpp_display(self, slide: Slide) -> str:
        return f"{slide.mpp:.4g}" if slide.mpp else "—"

    @admin.display(description="mpp", ordering="mpp_x")
    def mpp_column(self, slide: Slide) -> str:
        """Microns per pixel, the pathologists' name for it, short enough for the list."""
        return self.mpp_display(slide)

    @admin.display(description="Levels")
    def levels(self, slide: Slide) -> str:
        sizes = [f"{width}{BY}{height}" for width, height in slide.level_dimensions]
        return f"{slide.level_count}: {', '.join(sizes)}" if sizes else "—"

    @admin.display(description="Bounds of the scanned area")
    def bounds(self, slide: Slide) -> str:
        if slide.bounds_width is None or slide.bounds_height is None:
            return "—"
        return (
            f"{slide.bounds_width}{BY}{slide.bounds_height} "
            f"at ({slide.bounds_x or 0}, {slide.bounds_y or 0})"
        )

    @admin.display(description="Associated images")
    def associated_images_display(self, slide: Slide) -> str:
        return ", ".join(slide.associated_images) or "—"

    @admin.display(description="Properties")
    def properties_table(self, slide: Slide) -> str:
        if not slide.properties:
            return "—"
        rows = format_html_join(
            "", "<tr><th>{}</th><td>{}</td></tr>", sorted(slide.properties.items())
        )
        return format_html("<table>{}</table>", rows)

    # In the request, unlike a folder scan: bounded by what the admin ticked (a page holds 50
    # slides; the test scanner files took 1-6 ms each to read again), and the report belongs on
    # the list it was asked from. "Select all" across pages is a choice to wait.
    @admin.action(description="Rescan selected slides", permissions=["change"])
    def rescan(self, request: HttpRequest, queryset) -> None:
        report_to_messages(request, slides_rescan(slides=queryset))

    def get_urls(self):
        scan = path(
            "scan/",
            self.admin_site.admin_view(self.scan_view),
            name="slides_slide_scan",
        )
        return [scan, *super().get_urls()]

    def has_scan_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perms(["slides.add_slide", "slides.change_slide"])

    def changelist_view(self, request: HttpRequest, extra_context=None) -> HttpResponse:
        extra_context = {
            **(extra_context or {}),
            "has_scan_permission": self.has_scan_permission(request),
        }
        return super().changelist_view(request, extra_context)

    def scan_view(self, request: HttpRequest) -> HttpResponse:
        """Start a background scan of a folder chosen from SLIDES_ROOT's, and show its job."""
        if not self.has_scan_permission(request):
            raise PermissionDenied
        # The form offers only folders that exist now: any other is an error here, at once; one
        # removed before the worker gets to it fails the job, saying so.
        form = ScanFolderForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            job = scan_job_start(folder=form.cleaned_data["folder"], actor=request.user)
            return redirect(job)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": "Scan a folder",
            "form": form,
        }
        return TemplateResponse(request, "admin/slides/slide/scan.html", context)
