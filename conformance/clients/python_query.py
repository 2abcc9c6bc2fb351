"""A real Python client for the conformance suite: runs one statement with the PyPI `trino`
package (DB-API) and prints each row, columns separated by tabs.

    python conformance/clients/python_query.py http://127.0.0.1:18080 <X-Trino-XTrinode value> "SELECT 1" ['{"source": "airflow"}']

An empty selector sends no X-Trino-XTrinode header; the optional JSON object adds connect() arguments
(source, client_tags).
"""
import json
import sys
from urllib.parse import urlparse

import trino

url, selector, sql = sys.argv[1], sys.argv[2], sys.argv[3]
extra = json.loads(sys.argv[4]) if len(sys.argv) > 4 else {}
u = urlparse(url)
conn = trino.dbapi.connect(
    host=u.hostname, port=u.port, http_scheme=u.scheme, user="conformance",
    catalog="tpch", schema="tiny",
    http_headers={"X-Trino-XTrinode": selector} if selector else None,
    **extra,
)
cur = conn.cursor()
cur.execute(sql)
for row in cur.fetchall():
    print("\t".join(str(v) for v in row))
