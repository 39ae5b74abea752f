"""What ``python -m labelling`` says when it cannot start: one line naming what to set."""

from __future__ import annotations

import os
import subprocess
import sys


def test_labelling_refuses_to_start_without_its_own_database_url() -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LABELLING_")}
    started = subprocess.run([sys.executable, "-m", "labelling"], capture_output=True,
                             text=True, timeout=30,
                             env={**env, "LABELLING_HTTP_PORT": "0", "CITES_SECRETS_DIR": ""})
    assert started.returncode != 0
    said = started.stderr.strip().splitlines()
    assert len(said) == 1, started.stderr
    assert "LABELLING_DATABASE_URL" in said[0] and "Traceback" not in started.stderr
