// env's NO_PROXY: the user's entries kept beside ours, without repeats, minus those that would take
// an intercepted host around the proxy.
#include "app/client_env.hpp"

#include <gtest/gtest.h>

namespace orp::app {
namespace {

const std::vector<std::string> kIntercepted{"openrouter.ai"};

TEST(ClientEnvNoProxy, OursAloneWithoutTheUsers) {
  const auto merged = merged_no_proxy("", "", kIntercepted);
  EXPECT_EQ(merged.value, "localhost,127.0.0.1,::1");
  EXPECT_TRUE(merged.left_out.empty());
}

TEST(ClientEnvNoProxy, TheUsersEntriesFollowOursOnceEach) {
  const auto merged =
      merged_no_proxy("internal.example, LOCALHOST,.corp", "127.0.0.1,.corp,10.0.0.0/8,internal.example", kIntercepted);
  EXPECT_EQ(merged.value, "localhost,127.0.0.1,::1,internal.example,.corp,10.0.0.0/8");
  EXPECT_TRUE(merged.left_out.empty());
}

TEST(ClientEnvNoProxy, EntriesThatWouldBypassTheProxyForAnInterceptedHostAreLeftOut) {
  const auto merged = merged_no_proxy("*,openrouter.ai,.example", ".AI,*.openrouter.ai,router.ai,api.openrouter.ai",
                                      kIntercepted);
  EXPECT_EQ(merged.value, "localhost,127.0.0.1,::1,.example,router.ai,api.openrouter.ai");
  EXPECT_EQ(merged.left_out, (std::vector<std::string>{"*", "openrouter.ai", ".AI", "*.openrouter.ai"}));
  // Go and undici read `host:port` entries: openrouter.ai:443 takes the API around the proxy too.
  const auto ported = merged_no_proxy("openrouter.ai:443,example.com:8080,::2", "", kIntercepted);
  EXPECT_EQ(ported.value, "localhost,127.0.0.1,::1,example.com:8080,::2");
  EXPECT_EQ(ported.left_out, (std::vector<std::string>{"openrouter.ai:443"}));
}

}  // namespace
}  // namespace orp::app
