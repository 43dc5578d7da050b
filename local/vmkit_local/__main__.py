import sys

from vmkit_local.cli import main

sys.exit(main())
