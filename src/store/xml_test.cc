#include "store/xml.h"

#include <gtest/gtest.h>

#include <string>

namespace modelfn {
namespace {

TEST(XmlTest, TreeWithEntitiesCdataAndNamespaces) {
  auto doc = ParseXml(R"(<?xml version="1.0" encoding="UTF-8"?>
<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/" xmlns:x="urn:x">
  <Contents><Key>a&amp;b &lt;c&gt; &#233;&#x4e2d;</Key><Size>12</Size></Contents>
  <Contents><x:Key><![CDATA[<raw> & text]]></x:Key></Contents>
  <IsTruncated>false</IsTruncated>
</ListBucketResult>)");
  ASSERT_TRUE(doc.ok()) << doc.status().ToString();
  EXPECT_EQ(doc->name, "ListBucketResult");
  auto contents = doc->Children("Contents");
  ASSERT_EQ(contents.size(), 2u);
  EXPECT_EQ(contents[0]->ChildText("Key"), "a&b <c> \xc3\xa9\xe4\xb8\xad");
  EXPECT_EQ(contents[0]->ChildText("Size"), "12");
  EXPECT_EQ(contents[1]->ChildText("Key"), "<raw> & text");
  EXPECT_EQ(doc->ChildText("IsTruncated"), "false");
  EXPECT_EQ(doc->ChildText("Missing"), "");
  EXPECT_EQ(doc->Child("Missing"), nullptr);
}

TEST(XmlTest, OnlyDirectChildrenAreFound) {
  // A hand scan for "<Code>" anywhere would take the nested one; the tree does not.
  auto doc = ParseXml("<Error><Detail><Code>inner</Code></Detail><Code>outer</Code></Error>");
  ASSERT_TRUE(doc.ok());
  EXPECT_EQ(doc->ChildText("Code"), "outer");
  EXPECT_EQ(doc->Child("Detail")->ChildText("Code"), "inner");
}

TEST(XmlTest, MalformedDocumentsAreRefused) {
  for (const char* bad : {"", "not xml", "<a>", "<a></b>", "<a>&undefined;</a>", "<a/><b/>",
                          "<a>\xff</a>", "<a x='1' x='2'/>"}) {
    auto doc = ParseXml(bad);
    EXPECT_FALSE(doc.ok()) << bad;
    EXPECT_EQ(doc.status().reason(), "invalid_xml") << bad;
  }
}

TEST(XmlTest, DocumentTypesAndTheirEntitiesAreRefused) {
  // Entity expansion ("billion laughs") needs a DTD: none is accepted.
  std::string laughs =
      "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
      "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">]><lolz>&lol2;</lolz>";
  EXPECT_EQ(ParseXml(laughs).status().reason(), "invalid_xml");
  std::string external =
      "<?xml version=\"1.0\"?><!DOCTYPE r [<!ENTITY x SYSTEM \"file:///etc/passwd\">]><r>&x;</r>";
  auto doc = ParseXml(external);
  ASSERT_FALSE(doc.ok());
  EXPECT_NE(doc.status().message().find("document type"), std::string::npos)
      << doc.status().message();
}

TEST(XmlTest, DepthAndElementCountAreBounded) {
  std::string deep;
  for (int i = 0; i < 32; ++i) deep += "<a>";
  for (int i = 0; i < 32; ++i) deep += "</a>";
  EXPECT_TRUE(ParseXml(deep).ok());
  EXPECT_FALSE(ParseXml("<a>" + deep + "</a>").ok());
  std::string many = "<r>";
  for (int i = 0; i < 99'999; ++i) many += "<b/>";
  EXPECT_TRUE(ParseXml(many + "</r>").ok());
  EXPECT_FALSE(ParseXml(many + "<b/></r>").ok());
}

}  // namespace
}  // namespace modelfn
