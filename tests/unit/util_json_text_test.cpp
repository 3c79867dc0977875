#include "util/json_text.hpp"

#include <gtest/gtest.h>

#include <boost/json/parse.hpp>

#include <cmath>
#include <cstdlib>
#include <limits>

namespace orp::util {
namespace {

TEST(JsonText, DoublesInPlainNotation) {
  EXPECT_EQ(json_text(1.0), "1");
  EXPECT_EQ(json_text(42.7), "42.7");
  EXPECT_EQ(json_text(0.0001), "0.0001");
  EXPECT_EQ(json_text(-2.5), "-2.5");
  EXPECT_EQ(json_text(1e21), "1000000000000000000000");
  EXPECT_EQ(json_text(std::numeric_limits<double>::infinity()), "null");
  EXPECT_EQ(json_text(std::nan("")), "null");
}

TEST(JsonText, NestedValuesKeepTheirOrderAndEscapes) {
  const boost::json::value v = {{"keys", {{{"label", "a \"b\"\n"}, {"weight", 2.0}, {"n", 3}, {"x", nullptr}}}},
                                {"uptime_s", 42.125},
                                {"ok", true}};
  const std::string text = json_text(v);
  EXPECT_EQ(text, R"({"keys":[{"label":"a \"b\"\n","weight":2,"n":3,"x":null}],"uptime_s":42.125,"ok":true})");
  EXPECT_EQ(boost::json::parse(text).at("keys").at(0).at("label").as_string(), "a \"b\"\n");
}

TEST(JsonText, EveryDoubleReadsBackAsItself) {
  for (double d : {0.1, 1.0 / 3, 123456.789, 5e-324, 1.7976931348623157e308, 9007199254740993.0}) {
    const std::string text = json_text(d);
    EXPECT_EQ(text.find_first_of("eE"), std::string::npos) << text;
    EXPECT_EQ(std::strtod(text.c_str(), nullptr), d) << text;
  }
}

TEST(JsonText, StringsAndNamesAreAlwaysValidUtf8) {
  // A label, model name or upstream text with bytes that are not UTF-8 must not make invalid JSON.
  boost::json::object o;
  o["model"] = boost::json::string_view("bad\xff\xfename");
  o[boost::json::string_view("k\xc0")] = "caf\xc3\xa9";
  const std::string text = json_text(o);
  EXPECT_EQ(text, "{\"model\":\"bad\xef\xbf\xbd\xef\xbf\xbdname\",\"k\xef\xbf\xbd\":\"caf\xc3\xa9\"}");
  EXPECT_EQ(json_string("a\"b\n\xff"), "\"a\\\"b\\n\xef\xbf\xbd\"");
}

}  // namespace
}  // namespace orp::util
