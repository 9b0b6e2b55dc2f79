// idna.cpp - see idna.hpp.
#include "adapters/idn/idna.hpp"

#include <idn2.h>

#include <cstdlib>
#include <memory>

namespace staffel::adapters {

core::Result<std::string> domain_to_ascii(std::string_view utf8_domain) {
    const std::string input(utf8_domain);
    char* output = nullptr;
    const int rc = idn2_to_ascii_8z(input.c_str(), &output, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    const std::unique_ptr<char, decltype(&std::free)> owned(output, &std::free);
    if (rc != IDN2_OK || output == nullptr) {
        return core::make_error(idn2_strerror(rc));
    }
    return std::string(output);
}

}  // namespace staffel::adapters
