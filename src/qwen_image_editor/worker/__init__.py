"""Claims jobs from the store and runs them on the engine, one at a time."""
