// Batch inference from S3 object-created notifications and SQS batches, for the Lambda face.
//
// S3: each new object under the input prefix (MODELFN_S3_INPUT_PREFIX, default "incoming/") is
// read, inferred and written as OUTPUT_PREFIX/<key below the input prefix>.<etag>.json
// (MODELFN_S3_OUTPUT_PREFIX, default "results/"), in the same bucket; failures go to
// FAILURE_PREFIX/<...>.<etag>.error.json (MODELFN_S3_FAILURE_PREFIX, default "failed/") and are
// listed in the answer. faces/object_batch.h has the rules and the input formats, shared with
// the other faces' object triggers.
//
// SQS: each record's body is a seed request; failures are reported as batchItemFailures so only
// they are retried; results go to MODELFN_SQS_OUTPUT (s3://bucket/prefix, <messageId>.json,
// written if absent) when set.
#pragma once

#include <functional>
#include <memory>
#include <string>
#include <string_view>

#include "common/json.h"
#include "faces/object_batch.h"
#include "function/function_core.h"
#include "store/aws_auth.h"
#include "store/object_store.h"

namespace modelfn {

// The S3 trigger's prefixes (object_batch.h) plus where SQS results go.
struct ObjectEventConfig : ObjectBatchConfig {
  std::string sqs_output;  // s3://bucket/prefix or empty
  static ObjectEventConfig FromEnv(const EnvFn& env);
};

// True when the event is an S3 or SQS notification batch.
bool IsRecordsEvent(const Json& event, std::string* source);

// Handles an S3 or SQS event; returns the JSON answer for the Runtime API. *redeliver (when
// given) is set when an object could not be scored nor its failure recorded (the store was
// unreachable): the invocation should then fail, so the event is delivered again.
std::string HandleRecordsEvent(const Json& event, const std::string& source, FunctionCore& core,
                               const ObjectEventConfig& config, const BucketOpener& open_bucket,
                               bool* redeliver = nullptr);

// S3 event keys are URL-encoded with '+' for spaces.
std::string DecodeS3Key(std::string_view key);

}  // namespace modelfn
