"""Suite-wide settings that keep every run of the tests the same, whatever the machine.

Why a derandomized Hypothesis profile: by default Hypothesis draws new
examples on every run and replays earlier failures from a ``.hypothesis``
folder, so a result could depend on what ran before on this machine. With
``derandomize=True`` and no example database, each property test sees the
same examples in any order, under ``-n 0`` or ``-n 2``, on any machine.
``HYPOTHESIS_PROFILE=explore`` draws fresh examples (for local bug hunting).
"""

from __future__ import annotations

import os

from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None, print_blob=True)
settings.register_profile("explore", database=None, print_blob=True)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))
