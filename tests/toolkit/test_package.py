"""The toolkit stands alone: it imports no Django, and installs with only its own dependencies."""

import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

TOOLKIT = Path(__file__).resolve().parents[2] / "toolkit"
ALLOWED = {"openslide-python", "openslide-bin", "numpy", "shapely", "pillow"}


def test_importing_every_toolkit_module_loads_no_django_in_a_fresh_interpreter():
    modules = sorted(
        "wsi2ml_toolkit."
        + ".".join(path.relative_to(TOOLKIT / "wsi2ml_toolkit").with_suffix("").parts)
        for path in (TOOLKIT / "wsi2ml_toolkit").rglob("*.py")
        if path.name != "__init__.py"
    )
    script = (
        "import importlib, sys\n"
        f"for name in {modules!r}: importlib.import_module(name)\n"
        "loaded = sorted(m for m in sys.modules if m.split('.')[0] in "
        "{'django', 'wsi2ml', 'annotations', 'exports', 'tasks', 'slides', 'review', 'orjson'})\n"
        "print(len(sys.modules), loaded)\n"
        "sys.exit(1 if loaded else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr
    assert len(modules) >= 10


def test_the_toolkit_depends_only_on_slides_arrays_shapes_and_images():
    project = tomllib.loads((TOOLKIT / "pyproject.toml").read_text())["project"]
    names = {
        requirement.split(">")[0].split("=")[0].split("[")[0].strip().lower()
        for requirement in project["dependencies"]
    }
    assert names == ALLOWED
    assert set(project["optional-dependencies"]) == {"opencv"}


def test_the_command_line_answers_its_version():
    done = subprocess.run(
        [sys.executable, "-m", "wsi2ml_toolkit.cli", "--version"], capture_output=True, text=True
    )
    assert done.returncode == 0
    assert done.stdout.startswith("wsi2ml-toolkit 0.")


def test_the_toolkit_installs_alone_and_runs_without_the_server(tmp_path):
    # A venv of its own: only the toolkit and what its pyproject asks for (numpy, shapely,
    # Pillow, OpenSlide), taken from pip's cache after the first run.
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    # From a copy: building in place would leave build/ and egg-info in the checkout.
    source = shutil.copytree(
        TOOLKIT,
        tmp_path / "toolkit",
        ignore=shutil.ignore_patterns("build", "*.egg-info", "__pycache__"),
    )
    done = subprocess.run([*pip, str(source)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    listed = subprocess.run(
        [str(python), "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True
    ).stdout.lower()
    assert "django" not in listed
    assert "wsi2ml-toolkit==" in listed
    done = subprocess.run(
        [
            str(
                venv / "bin" / "wsi2ml-toolkit",
            ),
            "--version",
        ],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 0, done.stderr
