// UTF-8 checks for text from outside on its way into JSON and Prometheus text.
#include "util/utf8.hpp"

#include <gtest/gtest.h>

namespace orp::util {
namespace {

TEST(Utf8, WellFormedTextIsValid) {
  for (std::string_view text : {"", "ascii", "caf\xc3\xa9", "\xe2\x80\xa6", "\xf0\x9f\x98\x80", "\xef\xbf\xbd"})
    EXPECT_TRUE(is_valid_utf8(text)) << text;
}

TEST(Utf8, MalformedSequencesAreInvalid) {
  for (std::string_view text : {"\xff", "caf\xe9", "\xc3", "\xe2\x80", "\xc0\xaf" /* overlong '/' */,
                                "\xe0\x80\xaf" /* overlong */, "\xed\xa0\x80" /* a surrogate */,
                                "\xf4\x90\x80\x80" /* past U+10FFFF */, "\x80", "\xf5\x80\x80\x80"})
    EXPECT_FALSE(is_valid_utf8(text)) << text.size();
}

TEST(Utf8, EachByteOutsideASequenceBecomesAReplacementCharacter) {
  EXPECT_EQ(valid_utf8("bad\xff\xfename"), "bad\xef\xbf\xbd\xef\xbf\xbdname");
  EXPECT_EQ(valid_utf8("caf\xc3\xa9 \xc3"), "caf\xc3\xa9 \xef\xbf\xbd");
  EXPECT_EQ(valid_utf8("ok"), "ok");
  EXPECT_TRUE(is_valid_utf8(valid_utf8("\xed\xa0\x80\xf4\x90\x80\x80\xc0\xaf")));
}

TEST(Utf8, LengthCountsCharactersNotBytes) {
  EXPECT_EQ(utf8_length(""), 0u);
  EXPECT_EQ(utf8_length("caf\xc3\xa9"), 4u);
  EXPECT_EQ(utf8_length("\xf0\x9f\x98\x80!"), 2u);
}

}  // namespace
}  // namespace orp::util
