"""Text rules shared by every app: what may reach the database."""

import re

# Text PostgreSQL cannot take: NUL (psycopg2 raises ValueError for it) and UTF-16 surrogates that
# pair with nothing (they have no UTF-8 form: UnicodeEncodeError). Either is a 500 wherever it
# reaches a query, unless refused before (wsi2ml.middleware for URLs, forms, cookies and headers;
# wsi2ml.api for JSON bodies).
UNSTORABLE = re.compile("[\x00\ud800-\udfff]")
