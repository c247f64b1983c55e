"""Use cases. Logic imports only models, ports and errors: never an AWS SDK or a client library."""
