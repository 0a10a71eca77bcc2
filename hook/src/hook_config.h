// Hook parameters: parsing and validation of the "parameters" map of the hooks-libraries entry.
#ifndef REMOTE_OPTIONS_CONFIG_H
#define REMOTE_OPTIONS_CONFIG_H

#include "auth.h"

#include <cc/data.h>
#include <exceptions/exceptions.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <string>

namespace isc {
namespace remote_options {

/// What a matching client gets when the backend is slow, down or answers garbage (an overloaded client gets no reply at all).
enum class FailurePolicy {
    BootLocal,    ///< option 66 = "0.0.0.0", every other allowed option removed
    PassThrough,  ///< the response exactly as Kea built it
};

/// A bad parameter; the message names it.
class ConfigError : public isc::Exception {
public:
    ConfigError(const char* file, size_t line, const char* what)
        : isc::Exception(file, line, what) {}
};

struct Config {
    std::string url;                      ///< backend endpoint, http:// or https://
    std::string user_class;               ///< substring of option 77; empty = matches nothing
    std::string machine_guid;             ///< substring of option 97 (also byte-reversed); empty = none
    long connect_timeout_ms = 200;
    long request_timeout_ms = 500;        ///< whole call, connect included
    long cache_ttl_ms = 5000;             ///< positive answers
    long negative_cache_ttl_ms = 1000;    ///< failed calls (same identity gets the policy at once)
    std::set<uint16_t> allowed_options{66, 67, 224};
    FailurePolicy failure_policy = FailurePolicy::BootLocal;
    unsigned max_concurrent_requests = 8;
    bool identity_params = true;          ///< append &mac=..&guid=.. to the URL
    size_t max_body_bytes = 65536;
    size_t max_cache_entries = 65536;
    unsigned breaker_threshold = 3;       ///< consecutive transport failures that open the breaker
    long breaker_open_ms = 2000;
    long log_interval_ms = 10000;         ///< at most one message per failure kind per interval
    AuthConfig auth;                      ///< bearer secret and TLS files (auth.h)
};

/// Parses the hook parameters the way Kea's own hooks do: a keyword table checked by
/// SimpleParser::checkKeywords, defaults by setDefaults, values by getString/getInteger/getBoolean,
/// then the hook's range and value checks. Accepts hyphenated names and their underscore spellings
/// (e.g. user_class, machine_guid). Throws ConfigError on any problem (a DhcpConfigError from Kea's
/// parser only if the tables disagree with the code).
Config parseConfig(const isc::data::ConstElementPtr& params);

/// Validates a backend URL; throws ConfigError with the reason.
void validateUrl(const std::string& url);

const char* policyName(FailurePolicy policy);

}  // namespace remote_options
}  // namespace isc

#endif
