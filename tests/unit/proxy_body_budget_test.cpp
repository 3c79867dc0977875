#include "proxy/body_budget.hpp"

#include <gtest/gtest.h>

namespace orp::proxy {
namespace {

TEST(BodyBudget, LeasesShareTheLimitAndGiveBackWhatTheyHeld) {
  body_budget budget(100);
  body_budget::lease a(budget), b(budget);
  EXPECT_TRUE(a.grow_to(60));
  EXPECT_TRUE(a.grow_to(30));  // bodies only grow; a smaller size keeps the share
  EXPECT_EQ(a.held(), 60u);
  EXPECT_TRUE(b.grow_to(40));
  EXPECT_EQ(budget.in_use(), 100u);
  EXPECT_FALSE(b.grow_to(41));
  EXPECT_EQ(b.held(), 40u);
  EXPECT_EQ(budget.in_use(), 100u);
  EXPECT_EQ(budget.refusals(), 1u);
  a.release();
  EXPECT_EQ(budget.in_use(), 40u);
  EXPECT_TRUE(b.grow_to(100));
  EXPECT_EQ(budget.in_use(), 100u);
}

TEST(BodyBudget, DestroyedOrMovedLeasesCountOnce) {
  body_budget budget(1000);
  {
    body_budget::lease a(budget);
    ASSERT_TRUE(a.grow_to(500));
    body_budget::lease moved(std::move(a));
    EXPECT_EQ(moved.held(), 500u);
    EXPECT_EQ(budget.in_use(), 500u);
  }
  EXPECT_EQ(budget.in_use(), 0u);
  body_budget::lease c(budget);
  EXPECT_TRUE(c.grow_to(1000));
  EXPECT_FALSE(body_budget::lease(budget).grow_to(1));
}

}  // namespace
}  // namespace orp::proxy
