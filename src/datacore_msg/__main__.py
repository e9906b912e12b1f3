"""``python -m datacore_msg`` runs the CLI."""

import sys

from datacore_msg.cli.main import main

sys.exit(main())
