"""The job domain: requests, states, transitions, progress and events. Pure Python, no I/O."""
