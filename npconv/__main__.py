import sys

from npconv.cli.main import main

sys.exit(main())
