"""One module per group of endpoints; each route parses, calls one service method, returns a schema."""
