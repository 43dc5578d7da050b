"""`python -m vmkit_agent`: run the agent from a source checkout (the zipapp has its own
top-level `__main__.py`)."""

import sys

from vmkit_agent.main import main

sys.exit(main())
