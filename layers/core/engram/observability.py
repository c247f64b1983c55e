"""The one Logger, Tracer and Metrics of the process (Powertools), configured by ``POWERTOOLS_*`` variables."""

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="engram")
tracer = Tracer(service="engram")
metrics = Metrics(namespace="Engram", service="engram")
