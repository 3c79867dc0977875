#include "tls/leaf_cache.hpp"

#include "tls/contexts.hpp"

#include <algorithm>
#include <cctype>

namespace orp::tls {

leaf_cache::leaf_cache(const certificate_authority& ca, std::chrono::hours validity, std::chrono::hours renew_before)
    : ca_(ca), ca_not_after_(ca.not_after()), validity_(validity), renew_before_(std::min(renew_before, validity)) {}

bool leaf_cache::fresh(const server_identity& identity, std::chrono::system_clock::time_point now) const {
  const auto not_after = identity.certificate.not_after;
  return not_after >= ca_not_after_ || now < not_after - renew_before_;
}

std::shared_ptr<const server_identity> leaf_cache::get(std::string_view host,
                                                       std::chrono::system_clock::time_point now) {
    // DNS names are case-insensitive (RFC 4343): "OpenRouter.ai" must not mint a second leaf.
    std::string name(host);
    std::ranges::transform(name, name.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });

    std::lock_guard lock(mutex_);
    if (auto it = identities_.find(name); it != identities_.end() && fresh(*it->second, now))
        return it->second;
    if (!ca_.permits(name)) return nullptr;

    auto identity = std::make_shared<server_identity>();
    identity->certificate = ca_.mint_leaf(name, now, validity_);
    identity->context = make_server_context(identity->certificate, ca_.cert());
    identities_.insert_or_assign(name, identity);
    return identity;
}

}  // namespace orp::tls
