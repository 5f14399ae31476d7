"""``python -m mbmicro`` is the same as the ``mbmicro`` command."""

from mbmicro.cli import main

raise SystemExit(main())
