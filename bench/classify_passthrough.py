"""The reference hop for the benchmark: a bare grpc.aio server that hands the request's
text to the model server and the JSON back, with no validation, tracing or metrics. It
forwards the caller's assertion and request id as the classify service does (the model
server answers nothing without them), and checks nothing itself.

``python -m bench.classify_passthrough --port P --model-server-url URL``
"""

from __future__ import annotations

import argparse
import asyncio
import signal

import aiohttp
import grpc

from zhijian import metadata as md
from zhijian.classify.v1 import classify_service_pb2 as pb

METHOD = "/zhijian.bench.Passthrough/Predict"


async def run(port: int, model_server_url: str, version: str) -> None:
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64), trust_env=False)

    async def predict(request: bytes, context: grpc.aio.ServicerContext) -> bytes:
        text = pb.ClassifyRequest.FromString(request).text
        body = {"items": [{"text": text, "version": version}]}
        headers = {key: value for key, value in context.invocation_metadata() or ()
                   if key in (md.ASSERTION, md.REQUEST_ID) and isinstance(value, str)}
        async with session.post(model_server_url + "/predict", json=body,
                                headers=headers) as reply:
            return await reply.read()

    server = grpc.aio.server()
    server.add_generic_rpc_handlers((grpc.method_handlers_generic_handler(
        "zhijian.bench.Passthrough",
        {"Predict": grpc.unary_unary_rpc_method_handler(predict)}),))
    server.add_insecure_port(f"127.0.0.1:{port}")
    await server.start()
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    await server.stop(1)
    await session.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--model-server-url", required=True)
    parser.add_argument("--version", required=True, help="the model version to ask for")
    args = parser.parse_args()
    asyncio.run(run(args.port, args.model_server_url.rstrip("/"), args.version))


if __name__ == "__main__":
    main()
