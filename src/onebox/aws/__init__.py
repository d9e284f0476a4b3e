"""The AWS protocol layer: models, routing, SigV4, parsing, serializing and errors."""
