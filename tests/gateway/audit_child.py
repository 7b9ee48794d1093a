"""A gateway stand-in for the SIGKILL test of gateway.audit: appends call records as fast
as it can, printing each record_id only after append() has returned, and ships batches
slowly to a file so that the kill lands with a backlog and with batches in flight.

Usage: audit_child.py WAL_DIRECTORY SHIPPED_FILE
"""

from __future__ import annotations

import asyncio
import os
import sys
import uuid
from collections.abc import Sequence
from pathlib import Path

from gateway.audit import CallAuditLog
from zhijian.registry.v1 import registry_service_pb2 as registry_pb


async def main(directory: Path, shipped_path: Path) -> None:
    shipped = os.open(shipped_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)

    async def ship(records: Sequence[registry_pb.CallRecord]) -> None:
        await asyncio.sleep(0.005)
        os.write(shipped, "".join(f"{r.record_id}\n" for r in records).encode())

    audit = CallAuditLog(directory, ship=ship, batch_size=100, ship_interval_s=0.01,
                         segment_bytes=32 * 1024)
    await audit.start()
    count = 0
    while True:
        record_id = uuid.uuid4().hex
        audit.append(registry_pb.CallRecord(
            record_id=record_id, caller="user:child",
            method="/zhijian.classify.v1.ClassifyService/Classify"))
        sys.stdout.write(f"{record_id}\n")
        sys.stdout.flush()
        count += 1
        if count % 20 == 0:
            await asyncio.sleep(0)


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), Path(sys.argv[2])))
