"""Defaults that let a bare ``pytest`` run locally; scripts/test.sh sets the same explicitly."""

import os

os.environ.setdefault("DEBUG", "1")
os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/wsi2ml")
