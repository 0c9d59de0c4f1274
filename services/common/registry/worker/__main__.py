"""`python -m services.common.registry.worker`: the same as `tongban registry`."""

import sys

from services.common.registry.worker import main

sys.exit(main())
