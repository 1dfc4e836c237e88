"""Open-Door bot: application assembly, command line and runtime wiring."""

import os

# Opt in to python-telegram-bot's timedelta time periods (the int form is deprecated in v22).
os.environ.setdefault("PTB_TIMEDELTA", "true")
