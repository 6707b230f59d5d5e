# moto server (the one `infra/moto` installs) without moto's registry of model objects.
#
# moto 5.x appends every model object it creates to its class's `instances_tracked` list, which
# only its dashboard (`/moto-api/data.json`) reads, and TransactWriteItems deep-copies the whole
# table for its rollback. Every transaction's copy therefore stays alive: a table of ~1,500 items
# grows the server by megabytes per transaction (4 GB after 500 new pairs). Creating the objects
# without registering them keeps the server's memory flat; nothing else changes.
#
# Usage: .venv-moto/bin/python3 bench/moto_untracked.py -H 127.0.0.1 -p PORT
import sys

from moto.core import common_models

common_models.BaseModel.__new__ = staticmethod(lambda cls, *args, **kwargs: object.__new__(cls))

from moto.server import main  # noqa: E402

main(sys.argv[1:])
