#pragma once
// Deleter for C libraries' free functions (OpenSSL, hiredis):
// `std::unique_ptr<X509, free_with<X509_free>>`. Never specialise std::default_delete for them.

namespace orp::util {

template <auto F>
struct free_with {
  void operator()(auto* p) const { F(p); }
};

}  // namespace orp::util
