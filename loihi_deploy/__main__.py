"""`python -m loihi_deploy ...` is the `loihi-deploy` command."""
import sys

from loihi_deploy.cli import main

sys.exit(main())
