"""Root test configuration: environment defaults set before any engram import, so no test reaches the
network or a real AWS account."""

import os

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")
os.environ.setdefault("AWS_REGION", "us-east-1")
os.environ.setdefault("POWERTOOLS_TRACE_DISABLED", "true")
os.environ.setdefault("POWERTOOLS_METRICS_NAMESPACE", "Engram")
os.environ.setdefault("POWERTOOLS_LOG_LEVEL", "WARNING")
for _var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AWS_PROFILE"):
    os.environ.pop(_var, None)
os.environ["ENGRAM_PROVIDER"] = "offline"
