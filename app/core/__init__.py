"""Infrastructure with no domain words: database helpers, encryption at rest, sealed values,
outbound HTTP, security headers, errors, the shell registries, and the Home and health pages."""
