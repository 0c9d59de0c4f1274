"""`python -m services.host --service marriage --region 640000 --kafka HOST:PORT` (= tongban serve)."""

import sys

from services.host.cli import main

sys.exit(main())
