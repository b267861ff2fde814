"""OpenTAXII (from PyPI) as a TAXII 2.1 server on 127.0.0.1 for the
upstream input tests (tests/it/upstream.rs).

    python opentaxii_server.py DIR PORT SECONDS

Writes an OpenTAXII config under DIR (SQLite databases there too), creates
an account `admin` / `Password0` (admin: may read and write every
collection), one API root and one collection, prints one JSON line
{"api_root": ID, "collection": ID} on stdout, then serves on
127.0.0.1:PORT until SECONDS have passed (the server stops by itself).
"""

import json
import os
import sys
import threading


def main():
    work, port, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    config = os.path.join(work, "opentaxii.yml")
    with open(config, "w") as f:
        f.write(
            f"""---
domain: "127.0.0.1:{port}"
support_basic_auth: yes
return_server_error_details: yes
auth_api:
  class: opentaxii.auth.sqldb.SQLDatabaseAPI
  parameters:
    db_connection: sqlite:///{work}/auth.db
    create_tables: yes
    secret: upstream-test-secret
    token_ttl_secs: 3600
taxii1:
taxii2:
  persistence_api:
    class: opentaxii.persistence.sqldb.Taxii2SQLDatabaseAPI
    parameters:
      db_connection: sqlite:///{work}/data.db
      create_tables: yes
  title: OpenTAXII under test
  max_content_length: 10485760
  public_discovery: true
logging:
  opentaxii: warning
  root: warning
"""
        )
    os.environ["OPENTAXII_CONFIG"] = config
    from opentaxii.cli import app
    import opentaxii.taxii2.http as taxii2_http

    # OpenTAXII 0.9.3 with SQLite lists collections with their ids as UUID
    # objects, which its json.dumps cannot write (HTTP 500 on every
    # collections request); writing them as strings is what it means to do.
    class _Json:
        @staticmethod
        def dumps(data):
            return json.dumps(data, default=str)

    taxii2_http.json = _Json

    with app.app_context():
        api = app.taxii_server.servers.taxii2.persistence.api
        root = api.add_api_root(title="Root", description="upstream test", default=True)
        col = api.add_collection(
            api_root_id=str(root.id),
            title="OpenTAXII indicators",
            description=None,
            alias=None,
            is_public=False,
            is_public_write=False,
        )
        auth = app.taxii_server.auth.api
        from opentaxii.entities import Account

        account = auth.create_account(username="admin", password="Password0")
        auth.update_account(
            Account(id=account.id, username="admin", is_admin=True, permissions={}),
            "Password0",
        )
    print(json.dumps({"api_root": str(root.id), "collection": str(col.id)}), flush=True)
    # The caller may stop reading after that line: what the server prints
    # later goes nowhere rather than into a closed pipe.
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    threading.Timer(seconds, lambda: os._exit(0)).start()
    app.run(host="127.0.0.1", port=port, debug=False, use_reloader=False, threaded=True)


if __name__ == "__main__":
    main()
