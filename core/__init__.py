"""What every part of the hotline needs and no business rule lives in.

Settings, the clock, the base error, YAML loading with line numbers, and the
connections (Redis, SQL, Twilio) built from settings. Nothing here connects at
import time: composition roots (`web.create_app`, the worker, the CLI) do.
"""
