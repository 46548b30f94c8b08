"""
Benchmark the export API: a million annotations streamed as a GeoJSON zip over HTTP.

A dedicated database (``wsi2ml_bench_exports`` by default) holds one project with 10 slides
(small files registered with a scanner's size and 0.25 µm/px: an export reads no pixels) and
one annotation task: four annotators, two on each slide, drew 100,000 blob-shaped polygons of
about 20 vertices per slide (bench/annotation_api.py's shapes), in completed assignments. A
review task's two reviewers gave a few thousand current verdicts of every kind and drew a few
missed regions. The data is loaded with COPY once and kept between runs.

In one run it measures:

1. the ceiling: the same rows read with a psycopg2 server-side (named) cursor running
   exports.rows' SQL (the next batch fetched while this one is written, as the server does),
   turned into rows by exports.rows and written by exports.writer.zip_stream into a sink that
   discards the bytes: no HTTP, no Django;
2. the server: gunicorn (one gthread worker, DEBUG off) streams
   ``GET /api/exports/projects/<id>.zip`` to the project's ML specialist, who sends an API token
   (a session cookie when wsi2ml.tokens is missing): first byte, total time, features/s, bytes,
   and the worker's peak RSS (VmHWM, and VmRSS sampled every 50 ms);
3. the zip: opened, the features of every file counted against the database, a sample of the
   geometries compared with the stored ones and checked valid with shapely.

Targets (issue 11 §4): served/ceiling features/s >= 0.8, >= 60,000 features/s, peak RSS
<= 200 MB, first byte <= 1 s. Run ``.venv/bin/python bench/exports.py --help``; see
bench/README.md.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import importlib.metadata
import importlib.util
import io
import itertools
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import threading
import time
import zipfile
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import annotation_api as shapes  # bench/annotation_api.py: its polygons, loader and CPU meter
import numpy as np
import redis
import tiles as bench  # bench/tiles.py: the server harness, lock and helpers

REPO = bench.REPO
BENCH = bench.BENCH
log = bench.log
BenchError = bench.BenchError

# Bump when the data recipe changes, so that a cached database is reloaded.
RECIPE = "v2"  # v2: regions carry their perimeter as their length
MPP = shapes.MPP
TARGETS = {"ratio": 0.8, "features_per_s": 60_000, "peak_rss_mb": 200.0, "first_byte_s": 1.0}
APP_FOLDERS = ("exports", "review", "annotations", "tasks", "slides", "wsi2ml")  # measured

PROJECT = "Bench: exports"
MANAGER = "bench-exports-manager"
ML_SPECIALIST = "bench-mlspecialist"
TOKEN_NAME = "bench-exports"
ANNOTATORS_PER_SLIDE = 2
REVIEWERS = ("bench-exports-reviewer-1", "bench-exports-reviewer-2")
# The first reviewer judges every recipe.verdict_every-th annotation, the second every other one
# of those, with kinds in this rotation (shifted for the second, so that they sometimes disagree).
VERDICT_KINDS = ("agree",) * 6 + ("wrong_label",) * 2 + ("wrong_region", "reject")


# --- the data -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Recipe:
    """What the generated data depends on; the cached database records it."""

    slides: int
    per_slide: int  # annotators' polygons per slide
    annotators: int = 4
    missed_per_slide: int = 100  # reviewers' missed regions per slide (shared between them)
    verdict_every: int = 331
    width: int = 100_000
    height: int = 75_000
    seed: int = 20261201
    version: str = RECIPE

    def key(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    def annotators_of(self, slide: int) -> list[int]:
        """The annotators (indexes) who drew on the ``slide``-th slide: two neighbours."""
        return sorted({(slide + k) % self.annotators for k in range(ANNOTATORS_PER_SLIDE)})

    def annotator_names(self) -> list[str]:
        return [f"bench-exports-annotator-{i + 1}" for i in range(self.annotators)]

    def parts(self) -> list[tuple[int, str, int]]:
        """(slide index, author, polygons) of every share of the data, in load order."""
        out = []
        names = self.annotator_names()
        for s in range(self.slides):
            drawers = self.annotators_of(s)
            for k, annotator in enumerate(drawers):
                count = self.per_slide // len(drawers) + (k < self.per_slide % len(drawers))
                out.append((s, names[annotator], count))
            for r, reviewer in enumerate(REVIEWERS):
                count = self.missed_per_slide // len(REVIEWERS)
                out.append((s, reviewer, count + (r < self.missed_per_slide % len(REVIEWERS))))
        return out

    @property
    def features(self) -> int:
        return self.slides * (self.per_slide + self.missed_per_slide)


def slides_ensure(folder: Path, workdir: Path, count: int) -> list[Path]:
    """Return ``count`` slide files in ``folder``: links to one small synthetic slide."""
    base = shapes.slide_ensure(workdir / "slides-annotations", 1024, 768)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(count):
        path = folder / f"export-bench-{i:02d}.tiff"
        if not path.exists():
            try:
                os.link(base, path)
            except OSError:
                shutil.copyfile(base, path)
        paths.append(path)
    return paths


def copy_chunks(recipe: Recipe, ids: dict):
    """Yield COPY text for every polygon: bench/annotation_api.py's blobs, share by share."""
    done = [0]
    last = [time.perf_counter()]
    for number, (s, author, count) in enumerate(recipe.parts()):
        if not count:
            continue
        part = shapes.Recipe(recipe.width, recipe.height, count, seed=recipe.seed + number)
        work = ids["work"][f"{s}:{author}"]
        part_ids = {"slide": ids["slides"][s], "labels": ids["labels"], **work}

        def progress(stop: int, before: int = done[0]) -> None:
            if time.perf_counter() - last[0] > 15:
                last[0] = time.perf_counter()
                log(f"  copied {before + stop:,} of {recipe.features:,} polygons")

        centres = shapes.centres_generate(part)
        chunks = shapes.copy_rows(part, centres, part_ids, progress)
        yield from with_perimeters(chunks, part, centres)
        done[0] += count


# The end of every row copy_rows writes: length_px 0, length_um NULL, version 1, not deleted.
_NO_LENGTH = "\t0\t\\N\t1\tf\t"


def with_perimeters(chunks, part: shapes.Recipe, centres: shapes.Centres):
    """Put each polygon's perimeter into copy_rows' rows as its length (px and µm).

    Regions store their perimeter as their length since fbf1319 (the export's "Perimeter µm"),
    and copy_rows still writes 0; the rings are generated again (the same seed gives the same
    shapes) and measured with numpy, rounded as annotations.geometry rounds.
    """
    for start, chunk in zip(range(0, part.count, shapes.CHUNK), chunks, strict=True):
        stop = min(start + shapes.CHUNK, part.count)
        rings = shapes.shapes_generate(centres, start, stop, part.seed)
        steps = np.diff(rings, axis=1)
        perimeters = np.hypot(steps[..., 0], steps[..., 1]).sum(axis=1)
        lines = chunk.decode().split("\n")[:-1]
        if len(lines) != len(perimeters) or _NO_LENGTH not in lines[0]:
            raise BenchError("copy_rows' row layout changed; update with_perimeters")
        out = []
        for line, px in zip(lines, perimeters.tolist(), strict=True):
            head, _, tail = line.partition(_NO_LENGTH)
            out.append(f"{head}\t{round(px, 4)}\t{round(px * MPP, 4)}\t1\tf\t{tail}\n")
        yield "".join(out).encode()


VERDICTS = """
INSERT INTO review_verdict (annotation_id, review_assignment_id, reviewer_id, kind, label_id,
                            geometry, comment, is_current, created_at, ended, ended_at,
                            ended_by_id)
SELECT a.id, %(review)s, %(reviewer)s, k.kind,
       CASE WHEN k.kind = 'wrong_label'
            THEN (%(labels)s::bigint[])[array_position(%(labels)s::bigint[], a.label_id)
                                        %% cardinality(%(labels)s::bigint[]) + 1] END,
       CASE WHEN k.kind = 'wrong_region' THEN a.geometry END,
       '', true, now(), '', NULL, NULL
FROM annotations_annotation a
CROSS JOIN LATERAL (
    SELECT (%(kinds)s::text[])[(a.id / %(every)s + %(shift)s) %% cardinality(%(kinds)s::text[])
                               + 1] AS kind
) k
WHERE a.id %% %(step)s = 0 AND a.assignment_id = ANY(%(work)s) AND NOT a.is_deleted
"""


def verdicts_insert(cursor, recipe: Recipe, ids: dict) -> int:
    """Give the reviewers' current verdicts (every kind; corrections = the drawn region)."""
    reviews = {review["assignment"] for review in ids["reviews"]}
    annotators = {w["assignment"] for w in ids["work"].values()} - reviews
    total = 0
    for r, review in enumerate(ids["reviews"]):
        cursor.execute(
            VERDICTS,
            {
                "review": review["assignment"],
                "reviewer": review["user"],
                "labels": ids["labels"],
                "kinds": list(VERDICT_KINDS),
                "every": recipe.verdict_every,
                "step": recipe.verdict_every * (r + 1),
                "shift": 3 * r,
                "work": sorted(annotators),
            },
        )
        total += cursor.rowcount
    return total


def bulk_load(database: str, recipe: Recipe, ids: dict) -> dict:
    """Replace every annotation and verdict in the database by the recipe's, with COPY.

    As bench/annotation_api.py does: secondary indexes dropped and built again afterwards, the
    foreign-key triggers skipped (the ids are the setup's own).
    """
    table = "annotations_annotation"
    timings = {}
    connection = shapes.db_connect(database)
    with connection, connection.cursor() as cursor:
        cursor.execute("DELETE FROM bench_dataset WHERE key = 'dataset'")
        cursor.execute(
            "TRUNCATE review_verdict, annotations_annotationrevision, "
            f"annotations_annotationcell, {table} RESTART IDENTITY CASCADE"
        )
        cursor.execute("SET LOCAL session_replication_role = replica")
        indexes = shapes.secondary_indexes(cursor, table)
        for name, _ in indexes:
            cursor.execute(f'DROP INDEX "{name}"')
        started = time.perf_counter()
        stream = shapes.CopyStream(copy_chunks(recipe, ids))
        cursor.copy_expert(
            f"COPY {table} ({', '.join(shapes.COPY_COLUMNS)}) FROM STDIN WITH (FORMAT text)",
            io.BufferedReader(stream, 1 << 20),
            size=1 << 20,
        )
        timings["copy_s"] = time.perf_counter() - started
        log(f"  COPY of {recipe.features:,} polygons: {timings['copy_s']:.0f} s")
        started = time.perf_counter()
        cursor.execute("SET maintenance_work_mem = '1GB'")
        for _, definition in indexes:
            cursor.execute(definition)
        timings["indexes_s"] = time.perf_counter() - started
        timings["verdicts"] = verdicts_insert(cursor, recipe, ids)
    connection.close()
    return timings


def dataset_ensure(server: bench.Server, recipe: Recipe, slides: list[Path], args) -> dict:
    """Set up the people, project, tasks and slides; load the data unless the database has it.

    Return the ids and what loading took (plus the ML specialist's credentials, not cached).
    """
    shapes.database_ensure(args.database)
    log(f"migrating {args.database}")
    server.manage("migrate", "--noinput", "-v", "0", timeout=1800)
    server.manage("collectstatic", "--noinput", "-v", "0")  # manifest storage, DEBUG off
    spec = {
        "slides": [str(p) for p in slides],
        "width": recipe.width,
        "height": recipe.height,
        "mpp": MPP,
        "labels": [(name, colour) for name, colour, *_ in shapes.LABELS],
        "annotators": {
            name: [s for s in range(recipe.slides) if i in recipe.annotators_of(s)]
            for i, name in enumerate(recipe.annotator_names())
        },
        "reviewers": list(REVIEWERS),
        "manager": MANAGER,
        "ml_specialist": ML_SPECIALIST,
        "password": server.password,
        "project": PROJECT,
    }
    setup = django_step(server, "setup", spec)
    credentials = setup.pop("credentials")
    ids = setup
    connection = shapes.db_connect(args.database)
    with connection, connection.cursor() as cursor:
        marker = shapes.marker_read(cursor)
        cursor.execute("SELECT count(*) FROM annotations_annotation WHERE NOT is_deleted")
        loaded = cursor.fetchone()[0]
        cursor.execute("SELECT count(*) FROM review_verdict WHERE is_current")
        verdicts = cursor.fetchone()[0]
    connection.close()
    cached = (
        not args.reload
        and marker
        and marker.get("recipe") == recipe.key()
        and marker.get("ids") == ids
        and loaded == recipe.features
        and verdicts == marker.get("load", {}).get("verdicts")
    )
    if cached and shapes.loaded_edited(args.database, marker["last_id"]):
        log("some loaded polygons were edited (e.g. in a browser): loading afresh")
        cached = False
    if cached:
        log(f"{args.database} already holds the {recipe.features:,} polygons (use --reload)")
        return {**ids, "load": marker.get("load", {}), "cached": True, **credentials}
    log(f"loading {recipe.features:,} polygons into {args.database} (once; --reload to redo)")
    started = time.perf_counter()
    load = bulk_load(args.database, recipe, ids)
    load["cells_rebuild_s"] = sum(
        shapes.cells_rebuild(server, {"slide": slide}) for slide in ids["slides"]
    )
    load["vacuum_analyze_s"] = shapes.database_vacuum(args.database)
    load["total_s"] = time.perf_counter() - started
    connection = shapes.db_connect(args.database)
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute("VACUUM (ANALYZE) review_verdict")
        cursor.execute(
            "SELECT max(id), pg_total_relation_size('annotations_annotation') "
            "FROM annotations_annotation"
        )
        last_id, size = cursor.fetchone()
        load["table_bytes"] = size
        marker = {"recipe": recipe.key(), "ids": ids, "last_id": last_id, "load": load}
        cursor.execute(
            "INSERT INTO bench_dataset VALUES ('dataset', %s)", [json.dumps(marker, default=str)]
        )
    connection.close()
    shapes.rows_check(server, last_id)
    log(
        f"loaded in {load['total_s']:.0f} s ({load['verdicts']:,} verdicts); "
        f"table with indexes {size / 2**30:.2f} GiB"
    )
    return {**ids, "load": load, "cached": False, **credentials}


# --- Django, in a child process with the server's settings ----------------------------------


def django_step(server: bench.Server, step: str, spec: dict, timeout: float = 600) -> dict:
    """Run ``step`` of this module under Django with the server's environment; return its JSON.

    The Django code lives here as functions (``_step_<name>``), run by this file started again
    with ``--django-step``, rather than as text handed to ``manage.py shell``.
    """
    command = [str(bench.VENV_BIN / "python"), __file__, "--django-step", step, json.dumps(spec)]
    output = bench.run(command, server.env, timeout)
    line = next(x for x in reversed(output.splitlines()) if x.startswith("RESULT "))
    return json.loads(line.removeprefix("RESULT "))


def _django_main(step: str, spec: dict) -> None:
    sys.path.insert(0, str(REPO))  # the application's packages before this folder's modules
    import django

    django.setup()
    result = {"setup": _step_setup, "plan": _step_plan}[step](spec)
    print("RESULT " + json.dumps(result, default=str))


def _step_setup(spec: dict) -> dict:
    """Slides, people, project, labels, the annotation and review tasks and their assignments,
    made through the services so that permissions and progress rows are as in use; a fresh API
    token for the ML specialist (earlier bench tokens revoked)."""
    from datetime import timedelta

    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group
    from django.utils import timezone

    from slides.models import Slide
    from slides.services import slide_register_file
    from tasks import roles, services
    from tasks.models import Assignment, Label, Project, Task

    users = get_user_model()

    def person(name: str, role: str | None, staff: bool = False, password: bool = False):
        user, _ = users.objects.get_or_create(username=name)
        user.is_staff = user.is_superuser = staff
        user.is_active = True
        if password:  # only the ML specialist logs in (without tokens); hashing takes a while
            user.set_password(spec["password"])
        user.save()
        if role:
            user.groups.add(Group.objects.get(name=role))
        return user

    slides = []
    for raw in spec["slides"]:
        path = Path(raw)
        slide = Slide.objects.filter(path=path.name).first() or slide_register_file(path=path)
        Slide.objects.filter(pk=slide.pk).update(
            width=spec["width"],
            height=spec["height"],
            level_dimensions=[[spec["width"], spec["height"]]],
            mpp_x=spec["mpp"],
            mpp_y=spec["mpp"],
            status=Slide.Status.OK,
        )
        slides.append(Slide.objects.get(pk=slide.pk))
    manager = person(spec["manager"], None, staff=True)
    project, _ = Project.objects.get_or_create(name=spec["project"])
    labels = []
    for order, (name, colour) in enumerate(spec["labels"]):
        label, _ = Label.objects.get_or_create(
            project=project, name=name, defaults={"colour": colour, "order": order}
        )
        labels.append(label.pk)
    task, _ = Task.objects.get_or_create(
        project=project, name="Cells", defaults={"created_by": manager}
    )
    review, _ = Task.objects.get_or_create(
        project=project,
        name="Cells review",
        defaults={"created_by": manager, "kind": Task.Kind.REVIEW, "reviewed_task": task},
    )

    def assignment(task, user, chosen):
        found = Assignment.objects.filter(task=task, assignee=user).first()
        if found is None:
            found = services.assignment_create(
                task=task, assignee=user, slides=chosen, actor=manager
            )
        if found.state != Assignment.State.COMPLETED:
            found = services.assignment_close(assignment=found, actor=manager)
        return found.pk

    work = {}
    for name, chosen in spec["annotators"].items():
        if not chosen:
            continue
        user = person(name, roles.ANNOTATOR)
        project.members.add(user)
        pk = assignment(task, user, [slides[s] for s in chosen])
        for s in chosen:
            work[f"{s}:{name}"] = {"assignment": pk, "user": user.pk}
    reviews = []
    for name in spec["reviewers"]:
        user = person(name, roles.REVIEWER)
        project.members.add(user)
        pk = assignment(review, user, slides)
        reviews.append({"assignment": pk, "user": user.pk})
        for s in range(len(slides)):
            work[f"{s}:{name}"] = {"assignment": pk, "user": user.pk}
    ml = person(spec["ml_specialist"], roles.ML_SPECIALIST, password=True)
    project.members.add(ml)
    credentials = {"username": ml.username, "password": spec["password"], "token": None}
    if importlib.util.find_spec("wsi2ml.tokens") is not None:
        from wsi2ml import tokens
        from wsi2ml.models import ApiToken

        for old in ApiToken.objects.filter(user=ml, name=TOKEN_NAME, revoked_at=None):
            tokens.api_token_revoke(token=old, by=manager)
        _, secret = tokens.api_token_create(
            user=ml, name=TOKEN_NAME, expires_at=timezone.now() + timedelta(days=1)
        )
        credentials["token"] = secret
    return {
        "project": project.pk,
        "task": task.pk,
        "review_task": review.pk,
        "slides": [s.pk for s in slides],
        "labels": labels,
        "work": work,
        "reviews": reviews,
        "ml_specialist": ml.pk,
        "credentials": credentials,
    }


def _step_plan(spec: dict) -> dict:
    """The export plan of the project with these options, as the API makes it, in JSON: the
    slides (with their work and counts), classes, policy, counts, the tables of exports.rows'
    SQL and the manifest's fixed part, so that the ceiling writes the same zip."""
    from django.http import QueryDict
    from django.utils import timezone

    from exports import selectors, writer
    from exports.options import options_parse
    from tasks.models import Project

    project = Project.objects.get(pk=spec["project"])
    options = options_parse(project=project, query=QueryDict(spec["query"]))
    plan = selectors.export_plan(options=options)
    policy = plan.policy
    return {
        "slides": [asdict(slide) for slide in plan.slides],
        "classes": [asdict(c) for c in plan.classes],
        "counts": plan.counts,
        "policy": {
            "name": policy.name,
            "min_agreement": policy.min_agreement,
            "apply_corrections": policy.apply_corrections,
            "class_of": list(policy.class_of.items()),
        },
        "tables": selectors._tables(),
        "fetch_rows": selectors.FETCH_ROWS,
        "mask_mpp": options.mask_mpp,
        "manifest_base": writer.manifest_base_make(
            created=timezone.now().isoformat(),
            wsi2ml_version=importlib.metadata.version("wsi2ml"),
            project=plan.project,
            parameters=options.query(),
            policy=policy.describe(),
            labels=plan.labels,
            dropped=plan.counts["dropped"],
        ),
    }


# --- the ceiling: exports.rows and exports.writer on a raw cursor ---------------------------


def classes_and_policy(plan: dict) -> tuple[list, object]:
    """The plan's export classes and review policy, rebuilt from its JSON (the child process's
    exports.selectors.export_plan)."""
    from exports import rows
    from exports.policy import Policy

    classes = [
        rows.ExportClass(**{**c, "label_ids": tuple(c["label_ids"])}) for c in plan["classes"]
    ]
    p = plan["policy"]
    policy = Policy(
        name=p["name"],
        min_agreement=p["min_agreement"],
        apply_corrections=p["apply_corrections"],
        class_of=dict(p["class_of"]),
    )
    return classes, policy


def ceiling_measure(plan: dict, args: argparse.Namespace) -> Measure:
    """Write the plan's zip in this process from a psycopg2 server-side cursor into nowhere.

    The same SQL (exports.rows.rows_sql with the plan's tables), fetch size, prefetching
    (exports.rows.prefetched), record-to-row code and writer as the server's export; no HTTP,
    no Django request or ORM (exports.policy imports review.agreement, which imports Django's
    model module but configures nothing)."""
    if str(REPO) not in sys.path[:1]:
        sys.path.insert(0, str(REPO))  # the application's exports package, not this file
    from exports import rows, writer

    slides = [
        rows.ExportSlide(
            **{
                **s,
                "bounds": tuple(s["bounds"]) if s["bounds"] else None,
                "assignments": tuple(s["assignments"]),
            }
        )
        for s in plan["slides"]
    ]
    classes, policy = classes_and_policy(plan)
    sql = rows.rows_sql(tables=plan["tables"])
    fetch = plan["fetch_rows"]
    dropped = Counter()  # as exports.services counts them for the manifest
    connection = shapes.db_connect(args.database)

    def rows_for(slide):
        if not slide.assignments:
            return
        convert, mpp_x, mpp_y = rows.row_from_record, slide.mpp_x, slide.mpp_y
        with connection.cursor(name=f"export_{slide.id}") as cursor:
            cursor.itersize = fetch
            cursor.execute(sql, rows.rows_params(slide=slide))
            # The server's way: the next batch fetched in a thread while this one is written.
            for records in rows.prefetched(lambda: cursor.fetchmany(fetch)):
                for record in records:
                    row = convert(record, policy=policy, mpp_x=mpp_x, mpp_y=mpp_y, dropped=dropped)
                    if row is not None:
                        yield row

    summaries = []
    measure = Measure("ceiling (no HTTP, no Django)")
    profiler = profiler_start(os.getpid(), args, "ceiling") if args.profile else None
    meter = shapes.CpuMeter(None, args.database)
    with meter:
        started = time.perf_counter()
        stream = writer.zip_stream(
            manifest_base=plan["manifest_base"],
            slides=slides,
            classes=classes,
            rows_for=rows_for,
            mask_mpp=plan["mask_mpp"],
            on_finish=summaries.append,
        )
        for piece in stream:
            if measure.first_byte_s is None:
                measure.first_byte_s = time.perf_counter() - started
            measure.bytes += len(piece)
        measure.seconds = time.perf_counter() - started
    if profiler:
        measure.detail["profile"] = profiler_stop(*profiler)
    connection.rollback()
    connection.close()
    measure.cpu = meter.result
    if not summaries:
        measure.problems.append("zip_stream ended without its summary")
    else:
        measure.features = summaries[0].features
        measure.detail["sha256"] = summaries[0].sha256
        if measure.features != plan["counts"]["features"]:
            measure.problems.append(
                f"wrote {measure.features} features, the plan counts {plan['counts']['features']}"
            )
    return measure


# --- measuring ------------------------------------------------------------------------------


@dataclass
class Measure:
    """One export, by the server or the ceiling."""

    name: str
    features: int = 0
    seconds: float = 0.0
    bytes: int = 0
    first_byte_s: float | None = None
    headers_s: float | None = None
    rss: dict = field(default_factory=dict)
    cpu: dict = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)
    detail: dict = field(default_factory=dict)

    @property
    def per_s(self) -> float:
        return self.features / self.seconds if self.seconds else 0.0

    def summary(self) -> dict:
        return {**asdict(self), "features_per_s": round(self.per_s, 1)}


def proc_status(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM (peak) of a process, in kB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        name, _, value = line.partition(":")
        if name in ("VmRSS", "VmHWM"):
            found[name] = int(value.split()[0])
    return found


class RssSampler:
    """Sample a process's resident set every ``interval`` s in a thread; VmHWM at the end."""

    def __init__(self, pid: int, interval: float = 0.05):
        self.pid = pid
        self.interval = interval
        self.samples: list[tuple[float, int]] = []
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        started = time.perf_counter()
        while not self.stopping.wait(self.interval):
            with contextlib.suppress(OSError):
                rss = proc_status(self.pid)["VmRSS"]
                self.samples.append((time.perf_counter() - started, rss))

    def __enter__(self) -> RssSampler:
        self.before = proc_status(self.pid)
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stopping.set()
        self.thread.join()
        after = proc_status(self.pid)
        sampled = max((kb for _, kb in self.samples), default=after["VmRSS"])
        self.result = {
            "pid": self.pid,
            "before_mb": round(self.before["VmRSS"] / 1024, 1),
            "sampled_peak_mb": round(sampled / 1024, 1),
            "after_mb": round(after["VmRSS"] / 1024, 1),
            # The kernel's own peak over the worker's life, so that nothing between samples
            # escapes it (it is updated lazily, and may lag a sample by a few hundred kB).
            "peak_mb": round(max(after["VmHWM"], sampled) / 1024, 1),
            "samples": len(self.samples),
            # Every second's highest sample, to see whether memory grows with the rows sent.
            "per_second_mb": [
                round(max(kb for t, kb in group) / 1024, 1)
                for _, group in itertools.groupby(self.samples, key=lambda s: int(s[0]))
            ],
        }


def download(port: int, path: str, headers: dict, out: Path | None) -> Measure:
    """GET ``path`` and read the body as it comes, into ``out`` (or nowhere)."""
    measure = Measure("served")
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    started = time.perf_counter()
    connection.request("GET", path, headers={"Accept-Encoding": "identity", **headers})
    response = connection.getresponse()
    measure.headers_s = time.perf_counter() - started
    measure.detail["status"] = response.status
    measure.detail["headers"] = dict(response.headers)
    with out.open("wb") if out else contextlib.nullcontext() as sink:
        while chunk := response.read1(1 << 20):
            if measure.first_byte_s is None:
                measure.first_byte_s = time.perf_counter() - started
            measure.bytes += len(chunk)
            if sink is not None:
                sink.write(chunk)
    measure.seconds = time.perf_counter() - started
    connection.close()
    if response.status != 200:
        body = out.read_bytes()[:300] if out else b""
        measure.problems.append(f"GET {path}: HTTP {response.status} {body!r}")
    return measure


def served_measure(
    server: bench.Server, path: str, credentials: dict, expected: int, out: Path | None, args
) -> Measure:
    """Download the export once through gunicorn, with the worker's memory and the CPU split."""
    workers = server.worker_pids()
    if len(workers) != 1:
        raise BenchError(f"expected one gunicorn worker, found {workers}")
    headers = auth_headers(server, credentials)
    profiler = profiler_start(workers[0], args, "served") if args.profile else None
    meter = shapes.CpuMeter(server.process.pid, args.database)
    with RssSampler(workers[0], args.rss_interval) as rss, meter:
        measure = download(server.port, path, headers, out)
    if profiler:
        measure.detail["profile"] = profiler_stop(*profiler)
    measure.rss = rss.result
    measure.cpu = meter.result
    measure.detail["auth"] = "token" if credentials.get("token") else "session"
    export_id = measure.detail["headers"].get("X-Export-Id")
    measure.detail["export_id"] = export_id
    if not measure.problems:
        measure.features = expected
    return measure


def auth_headers(server: bench.Server, credentials: dict) -> dict:
    """An API token when wsi2ml.tokens is there; else the cookies of a browser's log-in."""
    if credentials.get("token"):
        return {"Authorization": f"Bearer {credentials['token']}"}
    client = shapes.Client(server.port)
    client.login(credentials["username"], credentials["password"])
    return {"Cookie": "; ".join(f"{k}={v}" for k, v in client.cookies.items())}


# --- profiling ------------------------------------------------------------------------------


def profiler_start(pid: int, args, name: str) -> tuple[subprocess.Popen, Path]:
    """Sample ``pid`` with py-spy until stopped (collapsed stacks, line numbers dropped)."""
    py_spy = shutil.which("py-spy") or str(bench.VENV_BIN / "py-spy")
    if not Path(py_spy).exists():
        raise BenchError("--profile needs py-spy: .venv/bin/pip install py-spy")
    output = args.workdir / f"profile-exports-{name}-{time.strftime('%H%M%S')}.txt"
    command = [py_spy, "record", "--pid", str(pid), "--rate", "200", "--nonblocking"]
    command += ["--format", "raw", "--nolineno", "--output", str(output)]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)  # py-spy attaches
    return process, output


def profiler_stop(process: subprocess.Popen, output: Path, top: int = 25) -> dict:
    """Stop py-spy (it writes its file on SIGINT); return the functions' shares of the samples."""
    process.send_signal(signal.SIGINT)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        return {"file": str(output), "error": "py-spy did not stop"}
    if not output.exists():
        return {"file": str(output), "error": "py-spy wrote nothing"}
    own, inclusive, total = Counter(), Counter(), 0
    for line in output.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        # Frames "function (file)", outermost first; py-spy's process and thread frames dropped.
        frames = [f for f in stack.split(";") if " (" in f and not f.startswith("process ")]
        total += int(count)
        if frames:
            own[frames[-1]] += int(count)
        for frame in set(frames):
            inclusive[frame] += int(count)

    def shares(counter: Counter) -> list[tuple[str, float]]:
        return [(frame, round(n / total, 3)) for frame, n in counter.most_common(top)]

    return {
        "file": str(output),
        "samples": total,
        "own": shares(own),
        "inclusive": shares(inclusive),
    }


def split_measure(plan: dict, args: argparse.Namespace) -> dict:
    """Where the ceiling's time goes, on its first slide: the rows fetched from the server-side
    cursor and dropped (PostgreSQL and the driver), then the same records, already in memory,
    turned into rows and written by zip_stream (this process's Python alone).

    The ceiling does both in turn, one batch of FETCH_ROWS after the other, so its time is
    about their sum; work overlapped between the two would approach the larger.
    """
    if str(REPO) not in sys.path[:1]:
        sys.path.insert(0, str(REPO))
    from exports import rows, writer

    first = plan["slides"][0]
    slide = rows.ExportSlide(
        **{**first, "bounds": None, "assignments": tuple(first["assignments"]), "features": 0}
    )
    classes, policy = classes_and_policy(plan)
    connection = shapes.db_connect(args.database)
    records = []
    with connection.cursor(name="export_split") as cursor:
        began, cpu = time.perf_counter(), time.process_time()
        cursor.execute(rows.rows_sql(tables=plan["tables"]), rows.rows_params(slide=slide))
        first_batch = None
        while batch := cursor.fetchmany(plan["fetch_rows"]):
            first_batch = first_batch or time.perf_counter() - began
            records.extend(batch)
        fetch_s, fetch_cpu = time.perf_counter() - began, time.process_time() - cpu
    connection.rollback()
    connection.close()
    dropped = Counter()

    def rows_for(_slide):
        for record in records:
            row = rows.row_from_record(
                record, policy=policy, mpp_x=slide.mpp_x, mpp_y=slide.mpp_y, dropped=dropped
            )
            if row is not None:
                yield row

    began, cpu = time.perf_counter(), time.process_time()
    size = 0
    for piece in writer.zip_stream(
        manifest_base=plan["manifest_base"],
        slides=[slide],
        classes=classes,
        rows_for=rows_for,
        mask_mpp=plan["mask_mpp"],
        on_finish=lambda summary: None,
    ):
        size += len(piece)
    write_s, write_cpu = time.perf_counter() - began, time.process_time() - cpu
    n = len(records)
    began = time.perf_counter()
    converted = [
        rows.row_from_record(r, policy=policy, mpp_x=slide.mpp_x, mpp_y=slide.mpp_y)
        for r in records
    ]
    convert_s = time.perf_counter() - began
    del converted
    records.clear()
    return {
        "slide": slide.id,
        "rows": n,
        "fetch_s": round(fetch_s, 3),
        "fetch_first_batch_s": round(first_batch or 0.0, 3),
        "fetch_client_cpu_s": round(fetch_cpu, 3),
        "fetch_us_per_row": round(fetch_s / n * 1e6, 1) if n else None,
        "write_s": round(write_s, 3),
        "write_us_per_row": round(write_s / n * 1e6, 1) if n else None,
        "write_cpu_us_per_row": round(write_cpu / n * 1e6, 1) if n else None,
        "row_from_record_us_per_row": round(convert_s / n * 1e6, 1) if n else None,
        "bytes": size,
    }


# --- the zip --------------------------------------------------------------------------------


def zip_check(path: Path, plan: dict, database: str, sample: int) -> dict:
    """Open the downloaded zip: every slide's file, its features counted against the plan (and
    the manifest), ``sample`` features a file checked for QuPath's keys, valid for shapely and
    equal to the stored geometry."""
    import orjson
    import shapely

    problems: list[str] = []
    counted: dict[str, int] = {}
    sampled: dict[str, dict] = {}
    rng = np.random.default_rng(5)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        manifest = orjson.loads(archive.read("manifest.json"))
        expected = {str(s["id"]): s["features"] for s in plan["slides"]}
        for slide in manifest["slides"]:
            features = orjson.loads(archive.read(slide["geojson"]))["features"]
            counted[str(slide["id"])] = len(features)
            if len(features) != slide["features"]:
                problems.append(
                    f"{slide['geojson']}: {len(features)} features, manifest says "
                    f"{slide['features']}"
                )
            if len(features) != expected.get(str(slide["id"])):
                problems.append(
                    f"{slide['geojson']}: {len(features)} features, plan says "
                    f"{expected.get(str(slide['id']))}"
                )
            for i in rng.choice(len(features), min(sample, len(features)), replace=False):
                feature = features[int(i)]
                properties = feature.get("properties", {})
                classification = properties.get("classification", {})
                if properties.get("objectType") != "annotation" or "color" not in classification:
                    problems.append(f"feature {feature.get('id')}: not QuPath's keys")
                shape = shapely.from_geojson(orjson.dumps(feature["geometry"]))
                if not shape.is_valid:
                    problems.append(f"feature {feature.get('id')}: invalid geometry")
                if not properties.get("wsi2ml", {}).get("corrected"):
                    # A reviewer's correction replaced the stored geometry: nothing to compare.
                    sampled[feature["id"]] = feature["geometry"]
            del features
    if set(counted) != set(expected):
        problems.append(f"slides in the zip {sorted(counted)}, in the plan {sorted(expected)}")
    connection = shapes.db_connect(database)
    with connection, connection.cursor() as cursor:
        cursor.execute(
            "SELECT uuid::text, geometry::text FROM annotations_annotation "
            "WHERE uuid = ANY(%s::uuid[])",
            [list(sampled)],
        )
        stored = {uuid: orjson.loads(text) for uuid, text in cursor.fetchall()}
    connection.close()
    differ = [uuid for uuid, geometry in sampled.items() if stored.get(uuid) != geometry]
    if differ:
        problems.append(
            f"{len(differ)} sampled geometries differ from the stored ones: {differ[:3]}"
        )
    return {
        "files": len(names),
        "features": sum(counted.values()),
        "per_slide": counted,
        "sampled": len(sampled),
        "sampled_equal_to_stored": len(sampled) - len(differ),
        "manifest_counts": manifest.get("counts"),
        "problems": problems,
    }


# --- the run --------------------------------------------------------------------------------


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", type=Path, default=Path("/tmp/wsi2ml-bench"))
    parser.add_argument(
        "--database",
        help="default wsi2ml_bench_exports (wsi2ml_bench_exports_smoke with --smoke), kept",
    )
    parser.add_argument("--redis-db", type=int, default=12)
    parser.add_argument("--force-flush", action="store_true", help="flush a non-empty Redis db")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="50,000 annotations over 2 slides, 3 repeats; exit 1 on a missed target",
    )
    parser.add_argument("--features", type=int, help="annotators' polygons (default 1,000,000)")
    parser.add_argument("--slides", type=int, help="slides they are spread over (default 10)")
    parser.add_argument("--reload", action="store_true", help="load the data again")
    parser.add_argument("--repeat", type=int, help="exports of each kind, alternating (default 1)")
    parser.add_argument(
        "--query", default="", help="export options as a query string (default: policy all)"
    )
    parser.add_argument("--threads", type=int, default=2, help="of the one gthread worker")
    parser.add_argument("--worker-class", default="gthread")
    parser.add_argument("--gunicorn-arg", action="append", default=[], metavar="ARG")
    parser.add_argument("--env", action="append", default=[], metavar="NAME=VALUE")
    parser.add_argument("--rss-interval", type=float, default=0.05, help="seconds")
    parser.add_argument("--sample", type=int, default=200, help="geometries checked per file")
    parser.add_argument("--keep-zip", action="store_true", help="keep <workdir>/exports-last.zip")
    parser.add_argument(
        "--profile", action="store_true", help="py-spy the worker and the ceiling (slows both)"
    )
    parser.add_argument(
        "--split",
        action="store_true",
        help="also time the ceiling's fetching and writing apart, on its first slide",
    )
    parser.add_argument("--quiet-wait", type=float, help="seconds (default 30; 10 with --smoke)")
    parser.add_argument("--lock-wait", type=float, default=600)
    parser.add_argument("--label", default="", help="a word for the results file name")
    parser.add_argument("--django-step", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if any("=" not in pair for pair in args.env):
        parser.error("--env takes NAME=VALUE")
    small = args.smoke
    # 50,000 rather than fewer: the request's fixed cost (about 0.1 s to the first byte) must
    # stay small against the export, or the ratio measures it instead.
    args.features = args.features or (50_000 if small else 1_000_000)
    args.quiet_wait = args.quiet_wait if args.quiet_wait is not None else (10 if small else 30)
    args.slides = args.slides or (2 if small else 10)
    args.repeat = args.repeat or (3 if small else 1)
    args.database = args.database or (
        "wsi2ml_bench_exports_smoke" if small else "wsi2ml_bench_exports"
    )
    if args.features < args.slides:
        parser.error("--features must be at least --slides")
    return args


def verdicts_check(measures: dict[str, list[Measure]], args) -> dict:
    """The figures against the targets (the medians of the repeats); met or not."""
    served, ceiling = measures["served"], measures["ceiling"]
    served_rate = statistics.median(m.per_s for m in served)
    ceiling_rate = statistics.median(m.per_s for m in ceiling)
    figures = {
        "ratio": served_rate / ceiling_rate if ceiling_rate else 0.0,
        "features_per_s": served_rate,
        "peak_rss_mb": max(m.rss.get("peak_mb", 0.0) for m in served),
        "first_byte_s": statistics.median(m.first_byte_s or 0.0 for m in served),
    }
    checked = {}
    for name, value in figures.items():
        target = TARGETS[name]
        met = value >= target if name in ("ratio", "features_per_s") else value <= target
        # A small dataset cannot show the throughput of a large one: --smoke leaves it out.
        counts = not (args.smoke and name == "features_per_s")
        checked[name] = {"value": value, "target": target, "met": met, "counts": counts}
    return checked


def report(measures: dict[str, list[Measure]], checked: dict, zipped: dict, args) -> None:
    print()
    print(
        f"{'export':<40}{'features':>10}{'s':>8}{'features/s':>11}{'MB':>8}{'1st byte s':>11}"
        f"{'peak RSS MB':>12}{'cores: app':>11}{'pg':>5}{'client':>7}{'others':>7}"
    )
    for kind in ("ceiling", "served"):
        for m in measures[kind]:
            cpu = m.cpu
            first = "" if m.first_byte_s is None else f"{m.first_byte_s:.3f}"
            peak = f"{m.rss['peak_mb']:.0f}" if m.rss else ""
            print(
                f"{m.name:<40}{m.features:>10,}{m.seconds:>8.2f}{m.per_s:>11,.0f}"
                f"{m.bytes / 2**20:>8.1f}{first:>11}{peak:>12}{cpu.get('app_cores', 0):>11.2f}"
                f"{cpu.get('postgres_cores', 0):>5.2f}{cpu.get('client_cores', 0):>7.2f}"
                f"{cpu.get('others_cores', 0):>7.2f}"
            )
    units = {
        "ratio": "",
        "features_per_s": " features/s",
        "peak_rss_mb": " MB",
        "first_byte_s": " s",
    }
    for name, item in checked.items():
        sign = ">=" if name in ("ratio", "features_per_s") else "<="
        verdict = "met" if item["met"] else "MISSED"
        if not item["counts"]:
            verdict += " (not checked with --smoke)"
        print(
            f"{name:<16}{item['value']:>12,.2f}{units[name]:<12} target {sign} "
            f"{item['target']:,}{units[name]}   {verdict}"
        )
    if zipped:
        print(
            f"zip: {zipped['files']} files, {zipped['features']:,} features; "
            f"{zipped['sampled_equal_to_stored']} of {zipped['sampled']} sampled geometries "
            "valid and equal to the stored ones"
        )
    served = measures["served"][0] if measures["served"] else None
    print(
        f"gunicorn: 1 worker x {args.threads} threads ({args.worker_class}), "
        f"auth {served.detail.get('auth') if served else '?'}; {args.features:,} annotations "
        f"over {args.slides} slides; {os.cpu_count()} CPUs; application {app_version()}"
    )
    for kind in ("ceiling", "served"):
        for m in measures[kind]:
            for problem in m.problems[:5]:
                print(f"FAILED {m.name}: {problem}")
            if m.cpu.get("others_cores", 0) > bench.SHARED_CORES:
                print(
                    f"WARNING: {m.name}: other processes used {m.cpu['others_cores']:.2f} cores; "
                    "its throughput understates this machine's"
                )
            profile = m.detail.get("profile")
            if profile and "own" in profile:
                print(f"\n--- {m.name}: py-spy, {profile['samples']} samples ({profile['file']})")
                print("  own time:")
                for frame, share in profile["own"][:15]:
                    print(f"    {share:6.1%}  {frame}")
                print("  inclusive:")
                for frame, share in profile["inclusive"][:25]:
                    print(f"    {share:6.1%}  {frame}")
    for problem in zipped.get("problems", [])[:10]:
        print(f"FAILED zip check: {problem}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.django_step:
        _django_main(args.django_step[0], json.loads(args.django_step[1]))
        return 0
    return bench.run_in_workdir(args, run_all)


def run_all(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    recipe = Recipe(args.slides, args.features // args.slides)
    slides = slides_ensure(args.workdir / "slides-exports", args.workdir, recipe.slides)
    options = bench.ServerOptions(
        workers=1,
        threads=args.threads,
        worker_class=args.worker_class,
        extra_args=args.gunicorn_arg,
        # The worker's database connection must outlive the download (60 s by default would
        # close it at the end of a long one), or its backend's CPU time leaves with it and is
        # counted as other processes'.
        extra_env={"CONN_MAX_AGE": "3600", **dict(pair.split("=", 1) for pair in args.env)},
        database=args.database,
        redis_db=args.redis_db,
    )
    server = bench.Server(args.workdir, slides[0], options)
    server.log_path = args.workdir / "gunicorn-exports.log"
    bench.redis_bench_db(args.redis_db, args.force_flush)
    ids = dataset_ensure(server, recipe, slides, args)
    credentials = {k: ids.pop(k) for k in ("username", "password", "token")}
    plan = django_step(server, "plan", {"project": ids["project"], "query": args.query})
    log(
        f"export plan: {plan['counts']['features']:,} features over {len(plan['slides'])} slides, "
        f"{len(plan['classes'])} classes"
    )
    path = f"/api/exports/projects/{ids['project']}.zip" + (f"?{args.query}" if args.query else "")
    out = args.workdir / "exports-last.zip"
    measures: dict[str, list[Measure]] = {"ceiling": [], "served": []}
    zipped: dict = {}
    split: dict = {}
    log(f"reading the table once, so that both exports find it in memory: {table_warm(args):.1f} s")
    try:
        log(f"starting gunicorn {' '.join(server.command()[2:])}")
        server.start()
        for i in range(args.repeat):
            bench.wait_for_quiet(args.quiet_wait, "the ceiling")
            log(f"ceiling {i + 1} of {args.repeat}: rows -> zip_stream -> nowhere")
            measures["ceiling"].append(ceiling_measure(plan, args))
            bench.wait_for_quiet(args.quiet_wait, "the download")
            log(f"download {i + 1} of {args.repeat}: GET {path}")
            expected = plan["counts"]["features"]
            served = served_measure(
                server, path, credentials, expected, out if i == 0 else None, args
            )
            served.name = f"served (gunicorn) {i + 1}"
            measures["served"].append(served)
            log(f"  {served.per_s:,.0f} features/s, peak RSS {served.rss['peak_mb']:.0f} MB")
        if args.split:
            bench.wait_for_quiet(args.quiet_wait, "the split")
            log("the ceiling's first slide: fetching alone, then writing alone")
            split = split_measure(plan, args)
    finally:
        server.stop()
        redis.Redis(host="127.0.0.1", port=6379, db=args.redis_db).flushdb()
    if out.exists() and not measures["served"][0].problems:
        log("checking the zip")
        zipped = zip_check(out, plan, args.database, args.sample)
    if out.exists() and not args.keep_zip:
        out.unlink()
    checked = verdicts_check(measures, args)
    report(measures, checked, zipped, args)
    if split:
        print(
            f"\nceiling's first slide ({split['rows']:,} rows): fetching alone "
            f"{split['fetch_s']:.2f} s ({split['fetch_us_per_row']} µs a row, first batch after "
            f"{split['fetch_first_batch_s']:.2f} s, {split['fetch_client_cpu_s']:.2f} s of it "
            f"this process's CPU), turning the records into rows and writing them alone "
            f"{split['write_s']:.2f} s ({split['write_us_per_row']} µs a row, "
            f"{split['write_cpu_us_per_row']} µs of CPU; "
            f"row_from_record {split['row_from_record_us_per_row']} µs)"
        )
    result = {
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
        "host": {"cpus": os.cpu_count()},
        "app_version": app_version(),
        "recipe": asdict(recipe),
        "dataset": ids,
        "query": args.query,
        "plan_counts": plan["counts"],
        "gunicorn": {
            "workers": 1,
            "threads": args.threads,
            "worker_class": args.worker_class,
            "extra_args": args.gunicorn_arg,
        },
        "server_env": dict(pair.split("=", 1) for pair in args.env),
        "measures": {k: [m.summary() for m in v] for k, v in measures.items()},
        "targets": checked,
        "zip": zipped,
        "split": split,
        "profiled": args.profile,
        "versions": bench.versions() | versions(),
        "seconds": round(time.perf_counter() - started, 1),
    }
    written = shapes.result_write(result, args.label, "exports" + ("-smoke" if args.smoke else ""))
    print(f"results: {written.relative_to(REPO)}")
    failed = any(m.problems for v in measures.values() for m in v) or zipped.get("problems")
    missed = any(not c["met"] and c["counts"] for c in checked.values())
    return 1 if failed or missed or not zipped else 0


def app_version() -> str:
    """The last commit of the code measured, "+changes" when its files differ from it."""

    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True, check=False)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", *APP_FOLDERS)
    return git("log", "-1", "--format=%h", "--", *APP_FOLDERS) + ("+changes" if changed else "")


def versions() -> dict[str, str]:
    found = {}
    for name in ("zipstream-ng", "orjson", "psycopg2-binary", "psycopg2", "shapely"):
        with contextlib.suppress(importlib.metadata.PackageNotFoundError):
            found[name] = importlib.metadata.version(name)
    return found


def table_warm(args) -> float:
    """Read every annotation's row once (into PostgreSQL's and the kernel's caches)."""
    began = time.perf_counter()
    connection = shapes.db_connect(args.database)
    with connection, connection.cursor() as cursor:
        cursor.execute("SELECT sum(octet_length(geometry::text)) FROM annotations_annotation")
    connection.close()
    return time.perf_counter() - began


if __name__ == "__main__":
    bench.run_script(main)
