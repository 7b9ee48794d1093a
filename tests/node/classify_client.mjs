// A business system's Node client of ClassifyService, built from proto/ alone: the contracts
// plus the third-party protos shipped with them in proto/third_party/ (nothing from Python).
//
//   ZHIJIAN_TOKEN=<bearer token> node tests/node/classify_client.mjs <gateway host:port>
//
// Makes two calls through the gateway and prints one JSON document on stdout:
//   "ok":      a Classify of a product text (response and trailers);
//   "refusal": a Classify declaring core data (L4), above the clearance of any business
//              system, refused with PERMISSION_DENIED / DATA_LEVEL_EXCEEDS_CEILING; its
//              google.rpc.Status decoded from the grpc-status-details-bin trailer, details
//              unpacked from Any.
// tests/integration/test_node_client.py runs it against the real platform. Exits 1 if a
// call does not end the way described (the JSON then says how it did end).

import { randomUUID } from "node:crypto";
import path from "node:path";
import { fileURLToPath } from "node:url";

import grpc from "@grpc/grpc-js";
import protoLoader from "@grpc/proto-loader";
import protobuf from "protobufjs";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..");
const PROTO = path.join(ROOT, "proto");
const THIRD_PARTY = path.join(PROTO, "third_party");
const DEADLINE_MS = 20_000;
const ANY_PREFIX = "type.googleapis.com/";

function loadClassifyService() {
  const definition = protoLoader.loadSync("zhijian/classify/v1/classify_service.proto", {
    includeDirs: [PROTO, THIRD_PARTY],
    keepCase: true,
    enums: String,
    longs: String,
    defaults: false,
    oneofs: true,
  });
  return grpc.loadPackageDefinition(definition).zhijian.classify.v1.ClassifyService;
}

function loadStatusTypes() {
  const root = new protobuf.Root();
  // Imports between the shipped files resolve against proto/third_party, as for any
  // compiler given that include path; protobufjs supplies google/protobuf itself.
  root.resolvePath = (_origin, target) =>
    path.isAbsolute(target) ? target : path.join(THIRD_PARTY, target);
  root.loadSync(["google/rpc/status.proto", "google/rpc/error_details.proto"], {
    keepCase: true,
  });
  root.resolveAll();
  return root;
}

function metadataToObject(metadata) {
  const object = {};
  for (const [key, value] of Object.entries(metadata.getMap())) {
    object[key] = Buffer.isBuffer(value) ? value.toString("base64") : value;
  }
  return object;
}

function toPlain(type, message) {
  return type.toObject(message, { enums: String, longs: String, bytes: String, defaults: true });
}

function decodeStatus(root, bytes) {
  const Status = root.lookupType("google.rpc.Status");
  const status = Status.decode(bytes);
  const details = status.details.map((any) => {
    if (!any.type_url.startsWith(ANY_PREFIX)) {
      return { "@type": any.type_url, undecoded: Buffer.from(any.value).toString("base64") };
    }
    const type = root.lookupType(any.type_url.slice(ANY_PREFIX.length));
    return { "@type": any.type_url, ...toPlain(type, type.decode(any.value)) };
  });
  return { code: status.code, message: status.message, details };
}

function classify(client, token, request) {
  const metadata = new grpc.Metadata();
  metadata.set("authorization", `Bearer ${token}`);
  metadata.set("x-zhijian-request-id", randomUUID().replaceAll("-", ""));
  return new Promise((resolve) => {
    let outcome;
    const call = client.Classify(
      request,
      metadata,
      { deadline: Date.now() + DEADLINE_MS },
      (error, response) => {
        outcome = error ? { error } : { response };
      },
    );
    // The status event comes after the callback and carries the trailers of both outcomes.
    call.on("status", (status) => resolve({ ...outcome, trailers: status.metadata }));
  });
}

async function main() {
  const [target] = process.argv.slice(2);
  const token = process.env.ZHIJIAN_TOKEN;
  if (!target || !token) {
    console.error("usage: ZHIJIAN_TOKEN=<token> node classify_client.mjs <gateway host:port>");
    return 2;
  }
  const ClassifyService = loadClassifyService();
  const statusTypes = loadStatusTypes();
  // The platform's gateways listen in plaintext on loopback; grpc-js sends no call
  // credentials over such a channel, so the bearer token travels as plain metadata.
  const client = new ClassifyService(target, grpc.credentials.createInsecure());
  try {
    const ok = await classify(client, token, { text: "医用外科口罩" });
    const refused = await classify(client, token, {
      text: "电子血压计",
      data_level: "DATA_LEVEL_L4_CORE",
    });
    const report = { ok: null, refusal: null };
    let passed = true;
    if (ok.error) {
      passed = false;
      report.ok = { error: { code: ok.error.code, details: ok.error.details } };
    } else {
      report.ok = { response: ok.response, trailers: metadataToObject(ok.trailers) };
    }
    if (!refused.error) {
      passed = false;
      report.refusal = { unexpected_response: refused.response };
    } else {
      const [details] = refused.trailers.get("grpc-status-details-bin");
      report.refusal = {
        code: refused.error.code,
        code_name: grpc.status[refused.error.code],
        message: refused.error.details,
        status: details === undefined ? null : decodeStatus(statusTypes, details),
      };
      passed = passed && details !== undefined;
    }
    process.stdout.write(JSON.stringify(report, null, 2) + "\n");
    return passed ? 0 : 1;
  } finally {
    client.close();
  }
}

process.exitCode = await main();
