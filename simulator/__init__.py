"""A stand-in for Twilio: places calls, runs TwiML, answers the REST API.

`hotline run` uses it when no Twilio credentials are set, and the end-to-end
tests and load benchmarks drive the app through it, so the app code that
serves the simulator is the code that serves real Twilio. See README.md for
what it checks and what it does not simulate.
"""
