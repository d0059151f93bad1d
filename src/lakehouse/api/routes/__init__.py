"""HTTP routes, one module per resource; each route parses, calls the `Lakehouse` facade, renders."""
