"""python -m lmi.adverts ingest|generate ..."""
import sys

from lmi.adverts.cli import main

sys.exit(main())
