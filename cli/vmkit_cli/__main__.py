import sys

from vmkit_cli.main import main

sys.exit(main())
