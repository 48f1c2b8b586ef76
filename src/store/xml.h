// The XML the cloud stores read (S3 and Azure Blob answers: listings, error documents, upload
// results), parsed by libexpat into a small element tree. A store's answer is untrusted input:
// documents with a DOCTYPE (and so any entity declaration) are refused, as are ones nested deeper
// than 32 elements or holding more than 100,000 of them.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "common/status.h"

namespace modelfn {

struct XmlElement {
  std::string name;  // local name: a namespace prefix ("s3:Key") is dropped
  std::string text;  // the character data directly inside, entities and CDATA decoded
  std::vector<XmlElement> children;

  // The first child named `name`, or null.
  const XmlElement* Child(std::string_view child_name) const;
  // The text of the first child named `name`, or "" when there is none.
  std::string ChildText(std::string_view child_name) const;
  // Every child named `name`, in document order.
  std::vector<const XmlElement*> Children(std::string_view child_name) const;
};

// The document's root element. Fails with InvalidArgument (reason "invalid_xml") when `text` is
// not a well-formed document or breaks a limit above. Thread-safe (no shared state).
StatusOr<XmlElement> ParseXml(std::string_view text);

}  // namespace modelfn
