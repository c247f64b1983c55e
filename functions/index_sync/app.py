"""DynamoDB stream → vector index, one index write per batch. Partial batch failures are reported, so only
failed records retry: a record whose image cannot be read, and every record carried by an index write that
failed (``engram.logic.indexing.apply_stream_batch``)."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram import wiring
from engram.adapters.dynamodb.stream import memory_from_stream_image
from engram.logic.indexing import StreamChange, apply_stream_batch
from engram.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def read_change(record: DynamoDBRecord) -> StreamChange:
    """The record's memory images (the batch processor reports a record whose images cannot be read)."""
    images = record.raw_event.get("dynamodb", {})
    return StreamChange(
        record_id=str(images.get("SequenceNumber")),
        new=memory_from_stream_image(images.get("NewImage")),
        old=memory_from_stream_image(images.get("OldImage")),
    )


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: LambdaContext) -> dict:
    records = event.get("Records", [])
    with processor(records=records, handler=read_change, lambda_context=context):
        read = processor.process()
    outcome = apply_stream_batch(
        wiring.dependencies().index, [change for status, change, _ in read if status == "success"]
    )
    if outcome.failed:
        logger.warning("index write failed", extra={"failed_records": len(outcome.failed), "errors": outcome.errors})
    failed = {str(f["itemIdentifier"]) for f in processor.response()["batchItemFailures"]} | set(outcome.failed)
    in_order = [str(r.get("dynamodb", {}).get("SequenceNumber")) for r in records]
    return {"batchItemFailures": [{"itemIdentifier": record_id} for record_id in in_order if record_id in failed]}
