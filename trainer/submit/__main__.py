"""`python -m trainer.submit`, what ./submit.sh runs."""

import sys

from trainer.submit.cli import main

sys.exit(main())
