// Batch inference from S3 object-created notifications and SQS batches, for the Lambda face.
//
// S3: each new object under the input prefix (MODELFN_S3_INPUT_PREFIX, default "incoming/") is
// read, inferred and written as OUTPUT_PREFIX/<key below the input prefix>.<etag>.json
// (MODELFN_S3_OUTPUT_PREFIX, default "results/"), in the same bucket. The name carries the ETag
// and is written "if absent", so a redelivered event never writes twice. An object that fails
// goes to FAILURE_PREFIX/<...>.<etag>.error.json (MODELFN_S3_FAILURE_PREFIX, default "failed/")
// with its problem, and is listed in the answer: never silently dropped. Inputs: .json (a seed
// body {"inputs": ...} or a JSON array of rows), .jsonl (one row per line), .npy (a little-endian
// float32/float64/int32/int64 array, C order).
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
#include "function/function_core.h"
#include "store/aws_auth.h"
#include "store/object_store.h"

namespace modelfn {

// Opens the object store of a bucket (S3 in production; tests may give another).
using BucketOpener =
    std::function<StatusOr<std::unique_ptr<ObjectStore>>(const std::string& bucket)>;

struct ObjectEventConfig {
  std::string input_prefix = "incoming/";
  std::string output_prefix = "results/";
  std::string failure_prefix = "failed/";
  std::string sqs_output;  // s3://bucket/prefix or empty
  static ObjectEventConfig FromEnv(const EnvFn& env);
};

// True when the event is an S3 or SQS notification batch.
bool IsRecordsEvent(const Json& event, std::string* source);

// Handles an S3 or SQS event; returns the JSON answer for the Runtime API.
std::string HandleRecordsEvent(const Json& event, const std::string& source, FunctionCore& core,
                               const ObjectEventConfig& config, const BucketOpener& open_bucket);

// S3 event keys are URL-encoded with '+' for spaces.
std::string DecodeS3Key(std::string_view key);

// Rows of an input object as a seed body ({"inputs": [...]}) for a one-input model.
StatusOr<std::string> InputObjectToBody(const std::string& key, const std::string& data);

}  // namespace modelfn
