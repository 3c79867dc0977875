#include "app/table.hpp"

#include <gtest/gtest.h>

namespace orp::app {
namespace {

// A masked key ("…" is three bytes) lines up with plain labels.
TEST(AppTable, ColumnsAreCountedInCharactersNotBytes) {
  table t({"key", "state"});
  t.add({"sk-or-v1-\xe2\x80\xa6" "3f9a", "active"});
  t.add({"team-a", "cooling"});
  t.add({"\xc3\xa9quipe", "active"});
  EXPECT_EQ(t.render(),
            "key             state\n"
            "sk-or-v1-\xe2\x80\xa6" "3f9a  active\n"
            "team-a          cooling\n"
            "\xc3\xa9quipe          active\n");
}

}  // namespace
}  // namespace orp::app
