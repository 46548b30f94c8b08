"""A GiST index on each live annotation's bounding box, for viewport queries on PostgreSQL.

btree_gist lets the index lead with the slide id, so that one slide's query never walks
another slide's boxes. Other databases (SQLite for the quick-start demo) get no index and
answer from the plain bounding-box columns.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE INDEX annotation_live_bbox ON annotations_annotation
    USING gist (slide_id, box(point(x0, y0), point(x1, y1)))
    WHERE NOT is_deleted;
"""
DROP = "DROP INDEX IF EXISTS annotation_live_bbox;"


def _on_postgres(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("annotations", "0001_initial")]

    operations = [migrations.RunPython(_on_postgres(CREATE), _on_postgres(DROP))]
