"""A GiST index on each layer feature's bounding box, for viewport queries on PostgreSQL.

As annotations' (annotations/migrations/0002): btree_gist lets the index lead with the layer
id, so that one layer's query never walks another layer's boxes. Other databases (SQLite for
the quick start) get no index and answer from the plain bounding-box columns.
"""

from django.db import migrations

CREATE = """
CREATE EXTENSION IF NOT EXISTS btree_gist;
CREATE INDEX layerfeature_bbox ON layers_layerfeature
    USING gist (layer_id, box(point(x0, y0), point(x1, y1)));
"""
DROP = "DROP INDEX IF EXISTS layerfeature_bbox;"


def _on_postgres(sql):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [("layers", "0001_initial"), ("annotations", "0002_bbox_gist_index")]

    operations = [migrations.RunPython(_on_postgres(CREATE), _on_postgres(DROP))]
