"""The forms of the layers pages: an upload for one slide, a project's zip, a layer's classes.

They take what the API takes (layers.api_views), as fields the page labels, and hand the
services the same arguments; the services' refusals (a bad file, a class that cannot be
mapped) come back as the forms' errors.
"""

from pathlib import PurePosixPath

from django import forms
from django.conf import settings
from django.db.models import QuerySet

from layers import services
from layers.models import Layer
from slides.models import Slide
from tasks.models import Label, Project

NAME_MAX = Layer._meta.get_field("name").max_length
SCORE_MAX = Layer._meta.get_field("score_name").max_length
LABEL_NAME_MAX = Label._meta.get_field("name").max_length


def _styled(form: forms.Form) -> None:
    """Bootstrap's classes on the form's widgets (the templates render ``{{ field }}``)."""
    for field in form.fields.values():
        widget = field.widget
        if isinstance(widget, forms.CheckboxInput):
            css = "form-check-input"
        elif isinstance(widget, forms.Select):
            css = "form-select"
        else:
            css = "form-control"
        widget.attrs["class"] = css


class _ImportForm(forms.Form):
    """What every upload chooses: the file, its kind, its score and what to do with classes
    that match no label."""

    file = forms.FileField(
        help_text="GeoJSON (QuPath's or the toolkit's), ASAP XML or Digital Slide Archive JSON."
    )
    kind = forms.ChoiceField(
        choices=Layer.Kind.choices, initial=Layer.Kind.PREDICTIONS, required=False
    )
    score = forms.CharField(
        label="Score measurement",
        required=False,
        max_length=SCORE_MAX,
        help_text="The measurement that is each feature's score; by default “score”, else the "
        "highest prob_<class>.",
    )
    create_missing = forms.BooleanField(
        label="Create a label for each class that matches none of the project's",
        required=False,
        help_text="Otherwise such classes stay unmapped; map them on the layer's page.",
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        _styled(self)

    def clean_file(self):
        upload = self.cleaned_data["file"]
        limit = settings.LAYER_UPLOAD_MAX_MB
        if upload.size > limit * 1024 * 1024:
            raise forms.ValidationError(
                f"The file is {upload.size / 2**20:,.0f} MB; at most {limit:,} MB are taken."
            )
        return upload

    def import_arguments(self, *, rename: bool) -> dict:
        """The services' ``kind``, ``score_name`` and ``options`` of the cleaned form."""
        data = self.cleaned_data
        options = services.ImportOptions(create_missing=data["create_missing"], rename=rename)
        kind = data["kind"] or Layer.Kind.PREDICTIONS  # as the API: a model's, unless said
        return {"kind": kind, "score_name": data["score"].strip(), "options": options}

    def refuse(self, message: str) -> None:
        """Show a service's refusal of the file beside it."""
        self.add_error("file", message)


class LayerUploadForm(_ImportForm):
    """One file for one slide: chosen among ``slides`` (the project page) or given, with the
    project chosen among ``projects`` when several of the person's hold it (the slide page)."""

    field_order = ["slide", "project", "file", "name", "kind", "score", "create_missing"]

    slide = forms.ModelChoiceField(queryset=Slide.objects.none(), empty_label=None)
    project = forms.ModelChoiceField(queryset=Project.objects.none(), empty_label=None)
    name = forms.CharField(
        required=False,
        max_length=NAME_MAX,
        help_text="By default the layer name the toolkit wrote into the file, else its name.",
    )

    def __init__(self, *args, slides: QuerySet | None = None, projects=None, **kwargs):
        super().__init__(*args, **kwargs)
        if slides is None:
            del self.fields["slide"]
        else:
            self.fields["slide"].queryset = slides
        if projects is None or len(projects) < 2:
            del self.fields["project"]
        else:
            self.fields["project"].queryset = Project.objects.filter(
                pk__in=[p.pk for p in projects]
            )

    def upload_arguments(self) -> dict:
        """The arguments of services.layer_upload, but for the slide and project."""
        upload = self.cleaned_data["file"]
        name = self.cleaned_data["name"].strip()
        return {
            "upload": upload,
            "name": name or PurePosixPath(upload.name).stem[:NAME_MAX],
            **self.import_arguments(rename=not name),
        }


class LayerZipForm(_ImportForm):
    """A zip of per-slide files for the whole project."""

    file = forms.FileField(
        label="Zip file",
        help_text="One file per slide, named after the slide's file name without its extension "
        "(CASE-01-A.geojson for CASE-01-A.svs) or its fingerprint.",
    )


class ClassMappingForm(forms.Form):
    """A choice for each class of ``layer`` that no label has yet: one of ``labels``, a new
    label named after the class, or none. Fields are ``class_<n>``, n the class's place in
    ``layer.classes`` (which only an import changes), since class names make poor ids."""

    KEEP_TEXT = "Keep unmapped"

    def __init__(self, *args, layer: Layer, labels: list[Label], **kwargs):
        super().__init__(*args, **kwargs)
        self.names: dict[str, str] = {}
        offered = [(str(label.pk), label.name) for label in labels]
        for n, entry in enumerate(layer.classes):
            name = entry["name"]
            if entry.get("label") is not None:
                continue
            choices = [(services.KEEP, self.KEEP_TEXT)]
            if name and len(name) <= LABEL_NAME_MAX:
                choices.append((services.CREATE, f"Create the label “{name}”"))
            field = f"class_{n}"
            self.names[field] = name
            self.fields[field] = forms.ChoiceField(
                label=name or "(unclassified)",
                choices=[*choices, ("Labels of the project", offered)] if offered else choices,
                initial=services.KEEP,
            )
        _styled(self)

    def mapping(self) -> dict[str, int | str]:
        """What services.layer_classes_map takes: only the classes given a label or made one."""
        mapping: dict[str, int | str] = {}
        for field, name in self.names.items():
            value = self.cleaned_data[field]
            if value != services.KEEP:
                mapping[name] = value if value == services.CREATE else int(value)
        return mapping
