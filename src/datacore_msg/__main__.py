"""``python -m datacore_msg`` runs the CLI (the hooks' fast path included)."""

import sys

from datacore_msg.cli.entry import main

sys.exit(main())
