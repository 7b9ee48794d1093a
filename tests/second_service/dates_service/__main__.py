"""``python -m dates_service``: find the dates of a text, as an AI draft."""

import asyncio
from typing import Any

from zhijiantest.dates.v1 import dates_service_pb2 as pb

from dates_service.service import MODEL_NAME, SPEC
from zhijian.dlp import DEFAULT_BUDGET_S
from zhijian.errors import FieldViolation
from zhijian.governed_call import ModelInput, ModelPipeline
from zhijian.governed_service import ServiceParts, ServiceProcess, run
from zhijian.reviews import ReviewDesk
from zhijian.server import Call, Service


def modified_dates(request: Any, decision: str) -> tuple[dict[str, Any], list[FieldViolation]]:
    dates = [[d.start, d.end] for d in request.modified_dates]
    wrong = [FieldViolation(f"modified_dates[{i}]", "needs 0 <= start < end", "BAD_SPAN")
             for i, (start, end) in enumerate(dates) if not 0 <= start < end]
    if decision == "modify" and not dates:
        wrong.append(FieldViolation("modified_dates", "MODIFY needs the corrected dates",
                                    "MODIFIED_DATES_REQUIRED"))
    return {"dates": dates}, wrong


class DatesServicer:
    def __init__(self, parts: ServiceParts) -> None:
        self._pipeline = ModelPipeline(
            service="dates", model_name=MODEL_NAME, model_server=parts.model_server,
            results=parts.results, versions=parts.versions, detection_budget_s=DEFAULT_BUDGET_S,
            outputs=lambda _, answer: {"dates": [[s["start"], s["end"]]
                                                 for s in answer["spans"]]})
        self._reviews = ReviewDesk(parts.results, service="dates", modified=modified_dates)

    async def FindDates(self, request: pb.FindDatesRequest, call: Call) -> pb.FindDatesResponse:
        (draft,) = await self._pipeline.run([ModelInput.of_text(request)], call)
        return pb.FindDatesResponse(result=draft.result, dates=[
            pb.DateSpan(start=s["start"], end=s["end"], text=s["text"])
            for s in draft.prediction["spans"]])

    async def ReviewResult(self, request: pb.ReviewResultRequest, call: Call) -> Any:
        return await self._reviews.review(request, call)


if __name__ == "__main__":
    service = pb.DESCRIPTOR.services_by_name["DatesService"]
    asyncio.run(run(ServiceProcess.for_spec(SPEC),
                    lambda parts: [Service(service, DatesServicer(parts))]))
