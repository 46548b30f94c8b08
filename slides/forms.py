import os
from pathlib import Path

from django import forms

from slides.files import relative_to_root, slides_root
from slides.models import Slide


class SlideFilterForm(forms.Form):
    search = forms.CharField(required=False, max_length=200, label="Name")
    vendor = forms.CharField(required=False, max_length=64)
    status = forms.ChoiceField(required=False, choices=[("", "Any status"), *Slide.Status.choices])


ROOT_CHOICE = "."
FOLDER_CHOICES_DEPTH = 4
FOLDER_CHOICES_LIMIT = 500


def slide_folder_choices(
    *, max_depth: int = FOLDER_CHOICES_DEPTH, limit: int = FOLDER_CHOICES_LIMIT
) -> list[tuple[str, str]]:
    """The root of the slide folders, then its sub-folders, breadth first, as form choices.

    At most ``max_depth`` levels and ``limit`` folders are listed. Hidden folders and symlinks
    are left out: a scan of their parent follows the symlinks that stay inside the root.
    """
    root = slides_root()
    choices = [(ROOT_CHOICE, f"All of SLIDES_ROOT ({root})")]
    level = [root]
    for _ in range(max_depth):
        deeper = []
        for folder in level:
            deeper.extend(_subfolders(folder))
        for folder in sorted(deeper):
            if len(choices) > limit:
                return choices
            relative = relative_to_root(folder, root)
            choices.append((relative, f"{relative}/"))
        level = deeper
    return choices


def _subfolders(folder: Path) -> list[Path]:
    try:
        with os.scandir(folder) as entries:
            return [
                Path(entry.path)
                for entry in entries
                if not entry.name.startswith(".") and entry.is_dir(follow_symlinks=False)
            ]
    except OSError:
        return []


class ScanFolderForm(forms.Form):
    folder = forms.ChoiceField(
        label="Folder",
        help_text="The folder is searched with all its sub-folders.",
        error_messages={
            "invalid_choice": "%(value)s is not, or no longer, a folder of SLIDES_ROOT. "
            "Choose one from the updated list."
        },
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["folder"].choices = slide_folder_choices()

    def clean_folder(self) -> str:
        folder = self.cleaned_data["folder"]
        return "" if folder == ROOT_CHOICE else folder
