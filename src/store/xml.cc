#include "store/xml.h"

#include <expat.h>

#include <limits>

namespace modelfn {
namespace {

constexpr size_t kMaxDepth = 32;
constexpr size_t kMaxElements = 100'000;

struct Builder {
  XML_Parser parser = nullptr;
  XmlElement root;
  std::vector<XmlElement*> open;  // the path from the root to the element being read
  size_t elements = 0;
  bool have_root = false;
  std::string refused;  // why the document was refused, when it was

  void Refuse(std::string why) {
    if (refused.empty()) refused = std::move(why);
    XML_StopParser(parser, XML_FALSE);
  }
};

std::string_view LocalName(const XML_Char* name) {
  std::string_view n(name);
  size_t colon = n.rfind(':');
  return colon == std::string_view::npos ? n : n.substr(colon + 1);
}

void OnStart(void* data, const XML_Char* name, const XML_Char** /*attributes*/) {
  auto* b = static_cast<Builder*>(data);
  if (b->open.size() >= kMaxDepth) return b->Refuse("nested deeper than 32 elements");
  if (++b->elements > kMaxElements) return b->Refuse("more than 100000 elements");
  XmlElement* e;
  if (b->open.empty()) {
    e = &b->root;
    b->have_root = true;
  } else {
    e = &b->open.back()->children.emplace_back();
  }
  e->name = LocalName(name);
  b->open.push_back(e);
}

void OnEnd(void* data, const XML_Char* /*name*/) { static_cast<Builder*>(data)->open.pop_back(); }

void OnText(void* data, const XML_Char* s, int len) {
  auto* b = static_cast<Builder*>(data);
  if (!b->open.empty()) b->open.back()->text.append(s, static_cast<size_t>(len));
}

void OnDoctype(void* data, const XML_Char*, const XML_Char*, const XML_Char*, int) {
  static_cast<Builder*>(data)->Refuse("a document type declaration");
}

Status Invalid(const std::string& why) {
  return Status(StatusCode::kInvalidArgument, "not an XML document the store should send: " + why,
                "invalid_xml");
}

}  // namespace

const XmlElement* XmlElement::Child(std::string_view child_name) const {
  for (const XmlElement& c : children) {
    if (c.name == child_name) return &c;
  }
  return nullptr;
}

std::string XmlElement::ChildText(std::string_view child_name) const {
  const XmlElement* c = Child(child_name);
  return c ? c->text : std::string();
}

std::vector<const XmlElement*> XmlElement::Children(std::string_view child_name) const {
  std::vector<const XmlElement*> out;
  for (const XmlElement& c : children) {
    if (c.name == child_name) out.push_back(&c);
  }
  return out;
}

StatusOr<XmlElement> ParseXml(std::string_view text) {
  if (text.size() > static_cast<size_t>(std::numeric_limits<int>::max())) {
    return Invalid("larger than 2 GiB");
  }
  Builder b;
  b.parser = XML_ParserCreate(nullptr);
  if (b.parser == nullptr) return InternalError("cannot create an XML parser");
  XML_SetUserData(b.parser, &b);
  XML_SetElementHandler(b.parser, OnStart, OnEnd);
  XML_SetCharacterDataHandler(b.parser, OnText);
  XML_SetStartDoctypeDeclHandler(b.parser, OnDoctype);
  XML_Status done = XML_Parse(b.parser, text.data(), static_cast<int>(text.size()), XML_TRUE);
  std::string error;
  if (!b.refused.empty()) {
    error = b.refused;
  } else if (done != XML_STATUS_OK) {
    error = std::string(XML_ErrorString(XML_GetErrorCode(b.parser))) + " at line " +
            std::to_string(XML_GetCurrentLineNumber(b.parser));
  }
  XML_ParserFree(b.parser);
  if (!error.empty()) return Invalid(error);
  if (!b.have_root) return Invalid("no element");
  return std::move(b.root);
}

}  // namespace modelfn
