// libFuzzer target: an object dropped in the S3 input prefix (.json, .jsonl, .npy, or a name we do
// not read) and an S3 event key never crash the readers; what is accepted is a JSON body. The
// first byte picks the file name's extension. (Image objects are passed through unread: the image
// decoders have their own target.)
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "common/json.h"
#include "faces/aws/object_events.h"

using namespace modelfn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  static const char* kKeys[] = {"incoming/x.json", "incoming/x.jsonl", "incoming/x.npy",
                                "incoming/x.csv"};
  std::string key = kKeys[data[0] % 4];
  std::string object(reinterpret_cast<const char*>(data + 1), size - 1);
  auto request = InputObjectToRequest(key, object);
  if (request.ok() && !Json::Parse(request->body).ok()) {
    fprintf(stderr, "not JSON: %.200s\n", request->body.c_str());
    abort();
  }
  std::string decoded = DecodeS3Key(object);
  if (decoded.size() > object.size()) abort();  // %XX and + only ever shrink
  return 0;
}
