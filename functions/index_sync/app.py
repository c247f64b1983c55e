"""DynamoDB stream → vector index. Partial batch failures are reported, so only failed records retry."""

from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType, process_partial_response
from aws_lambda_powertools.utilities.data_classes.dynamo_db_stream_event import DynamoDBRecord
from aws_lambda_powertools.utilities.typing import LambdaContext
from engram import wiring
from engram.adapters.dynamodb.stream import memory_from_stream_image
from engram.logic.indexing import apply_stream_change
from engram.observability import logger, metrics, tracer

processor = BatchProcessor(event_type=EventType.DynamoDBStreams)


def record_handler(record: DynamoDBRecord) -> str:
    images = record.raw_event.get("dynamodb", {})
    new = memory_from_stream_image(images.get("NewImage"))
    old = memory_from_stream_image(images.get("OldImage"))
    return apply_stream_change(wiring.dependencies().index, new, old)


@logger.inject_lambda_context
@metrics.log_metrics(capture_cold_start_metric=True)
@tracer.capture_lambda_handler(capture_response=False)
def handler(event: dict, context: LambdaContext) -> dict:
    return process_partial_response(event=event, record_handler=record_handler, processor=processor, context=context)
