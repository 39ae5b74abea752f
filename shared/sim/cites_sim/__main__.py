"""``python -m cites_sim run --waves 2019,2021,2022,2024 --seed N --scale K --concurrency C``."""

from .cli import app

app(prog_name="python -m cites_sim")
