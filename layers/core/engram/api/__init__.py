"""The HTTP API (Powertools ``APIGatewayRestResolver``): routes map requests to ``engram.logic``."""
