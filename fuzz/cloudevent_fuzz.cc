// libFuzzer target: a CloudEvent over HTTP (binary or structured content mode) never crashes the
// parser, and an accepted event has its required attributes and spec version 1.0. The first byte
// picks the mode; in binary mode the input holds "name: value" lines, a blank line, then the body.
// A structured-mode body that is JSON also goes through the legacy event conversion
// (legacy_event.h), whose accepted events obey the same rules.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/json.h"
#include "faces/gcp/cloudevent.h"
#include "faces/gcp/legacy_event.h"

using namespace modelfn;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 1) return 0;
  std::string rest(reinterpret_cast<const char*>(data + 1), size - 1);
  HeaderList headers;
  std::string body;
  if (data[0] % 2 == 0) {
    headers.push_back({"content-type", "application/cloudevents+json"});
    body = rest;
  } else {
    size_t pos = 0;
    while (pos < rest.size()) {
      size_t eol = rest.find('\n', pos);
      std::string line = rest.substr(pos, eol == std::string::npos ? std::string::npos : eol - pos);
      pos = eol == std::string::npos ? rest.size() : eol + 1;
      if (line.empty()) break;
      size_t colon = line.find(':');
      if (colon == std::string::npos) continue;
      std::string value = line.substr(colon + 1);
      if (!value.empty() && value[0] == ' ') value.erase(0, 1);
      headers.push_back({line.substr(0, colon), value});
    }
    body = rest.substr(pos);
  }
  (void)LooksLikeCloudEvent(headers);
  auto event = ParseCloudEvent(headers, body);
  if (event.ok() && (event->id.empty() || event->source.empty() || event->type.empty() ||
                     event->specversion != "1.0"))
    abort();
  if (!event.ok() && event.status().reason().empty()) abort();  // every refusal is typed
  if (PercentDecode(rest).size() > rest.size()) abort();        // %XX only ever shrinks
  if (data[0] % 2 == 0) {
    if (auto doc = Json::Parse(body); doc.ok()) {
      bool looks = IsLegacyEvent(*doc);
      auto legacy = LegacyToCloudEvent(*doc);
      if (legacy.ok() &&
          (!looks || legacy->id.empty() || legacy->source.empty() || legacy->type.empty() ||
           legacy->specversion != "1.0" || !Json::Parse(legacy->data).ok()))
        abort();
      if (!legacy.ok() && legacy.status().reason().empty()) abort();
    }
  }
  return 0;
}
