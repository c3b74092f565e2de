"""`python -m lmi ...`"""
import sys

from lmi.cli import main

sys.exit(main())
