#include "hook_config.h"

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>

using isc::data::ConstElementPtr;
using isc::data::Element;

namespace isc {
namespace remote_options {

namespace {

const std::set<std::string> KNOWN = {
    "url", "user-class", "machine-guid", "connect-timeout-ms", "request-timeout-ms",
    "cache-ttl-ms", "negative-cache-ttl-ms", "allowed-options", "failure-policy",
    "max-concurrent-requests", "identity-params", "max-body-bytes", "max-cache-entries",
    "breaker-threshold", "breaker-open-ms", "log-interval-ms",
};

// Option codes the server itself owns; the backend must never replace them.
const std::set<int64_t> RESERVED = {0, 51, 53, 54, 82, 255};

std::string canonical(const std::string& name) {
    std::string out(name);
    std::replace(out.begin(), out.end(), '_', '-');
    return (out);
}

int64_t getInt(const std::string& name, const ConstElementPtr& value, int64_t lo, int64_t hi) {
    if (value->getType() != Element::integer) {
        isc_throw(ConfigError, "'" << name << "' must be an integer");
    }
    int64_t v = value->intValue();
    if (v < lo || v > hi) {
        isc_throw(ConfigError, "'" << name << "' must be in " << lo << ".." << hi << ", got " << v);
    }
    return (v);
}

std::string getString(const std::string& name, const ConstElementPtr& value) {
    if (value->getType() != Element::string) {
        isc_throw(ConfigError, "'" << name << "' must be a string");
    }
    return (value->stringValue());
}

}  // namespace

const char* policyName(FailurePolicy policy) {
    return (policy == FailurePolicy::BootLocal ? "boot-local" : "pass-through");
}

void validateUrl(const std::string& url) {
    if (url.empty()) {
        isc_throw(ConfigError, "'url' is empty");
    }
    for (unsigned char c : url) {
        if (c <= 0x20 || c >= 0x7f) {
            isc_throw(ConfigError, "'url' contains a space or a non-ASCII/control character");
        }
    }
    std::string lower(url.substr(0, 8));
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return (static_cast<char>(std::tolower(c))); });
    if (lower.rfind("http://", 0) != 0 && lower.rfind("https://", 0) != 0) {
        isc_throw(ConfigError, "'url' must start with http:// or https://, got '" << url << "'");
    }
    if (url.find('#') != std::string::npos) {
        isc_throw(ConfigError, "'url' must not contain a fragment ('#')");
    }
    CURLU* parsed = curl_url();
    if (!parsed) {
        isc_throw(ConfigError, "out of memory parsing 'url'");
    }
    CURLUcode rc = curl_url_set(parsed, CURLUPART_URL, url.c_str(), 0);
    char* host = 0;
    if (rc == CURLUE_OK) {
        rc = curl_url_get(parsed, CURLUPART_HOST, &host, 0);
    }
    bool has_host = (rc == CURLUE_OK && host && *host);
    curl_free(host);
    curl_url_cleanup(parsed);
    if (rc != CURLUE_OK || !has_host) {
        isc_throw(ConfigError, "'url' is not a valid URL with a host: '" << url << "'");
    }
}

Config parseConfig(const ConstElementPtr& params) {
    Config cfg;
    if (!params) {
        isc_throw(ConfigError, "missing parameters: 'url' is required");
    }
    if (params->getType() != Element::map) {
        isc_throw(ConfigError, "parameters must be a map");
    }
    std::map<std::string, ConstElementPtr> given;
    for (const auto& item : params->mapValue()) {
        std::string name = canonical(item.first);
        if (!KNOWN.count(name)) {
            isc_throw(ConfigError, "unknown parameter '" << item.first << "'");
        }
        if (given.count(name)) {
            isc_throw(ConfigError, "parameter '" << name << "' given twice (hyphen and underscore spelling)");
        }
        given[name] = item.second;
    }
    auto it = given.find("url");
    if (it == given.end()) {
        isc_throw(ConfigError, "missing required parameter 'url'");
    }
    cfg.url = getString("url", it->second);
    validateUrl(cfg.url);

    for (const auto& item : given) {
        const std::string& name = item.first;
        const ConstElementPtr& value = item.second;
        if (name == "url") {
            continue;
        } else if (name == "user-class") {
            cfg.user_class = getString(name, value);
        } else if (name == "machine-guid") {
            cfg.machine_guid = getString(name, value);
        } else if (name == "connect-timeout-ms") {
            cfg.connect_timeout_ms = getInt(name, value, 1, 60000);
        } else if (name == "request-timeout-ms") {
            cfg.request_timeout_ms = getInt(name, value, 1, 60000);
        } else if (name == "cache-ttl-ms") {
            cfg.cache_ttl_ms = getInt(name, value, 0, 3600000);
        } else if (name == "negative-cache-ttl-ms") {
            cfg.negative_cache_ttl_ms = getInt(name, value, 0, 3600000);
        } else if (name == "max-concurrent-requests") {
            cfg.max_concurrent_requests = static_cast<unsigned>(getInt(name, value, 1, 1024));
        } else if (name == "max-body-bytes") {
            cfg.max_body_bytes = static_cast<size_t>(getInt(name, value, 16, 1048576));
        } else if (name == "max-cache-entries") {
            cfg.max_cache_entries = static_cast<size_t>(getInt(name, value, 0, 10000000));
        } else if (name == "breaker-threshold") {
            cfg.breaker_threshold = static_cast<unsigned>(getInt(name, value, 1, 1000000));
        } else if (name == "breaker-open-ms") {
            cfg.breaker_open_ms = getInt(name, value, 0, 3600000);
        } else if (name == "log-interval-ms") {
            cfg.log_interval_ms = getInt(name, value, 0, 3600000);
        } else if (name == "identity-params") {
            if (value->getType() != Element::boolean) {
                isc_throw(ConfigError, "'identity-params' must be true or false");
            }
            cfg.identity_params = value->boolValue();
        } else if (name == "failure-policy") {
            std::string p = getString(name, value);
            if (p == "boot-local") {
                cfg.failure_policy = FailurePolicy::BootLocal;
            } else if (p == "pass-through") {
                cfg.failure_policy = FailurePolicy::PassThrough;
            } else {
                isc_throw(ConfigError, "'failure-policy' must be \"boot-local\" or \"pass-through\", got \""
                          << p << "\"");
            }
        } else if (name == "allowed-options") {
            if (value->getType() != Element::list) {
                isc_throw(ConfigError, "'allowed-options' must be a list of option codes");
            }
            cfg.allowed_options.clear();
            for (const auto& code : value->listValue()) {
                int64_t c = getInt("allowed-options", code, 1, 254);
                if (RESERVED.count(c)) {
                    isc_throw(ConfigError, "'allowed-options' must not contain " << c
                              << " (owned by the server)");
                }
                cfg.allowed_options.insert(static_cast<uint16_t>(c));
            }
        }
    }
    if (cfg.connect_timeout_ms > cfg.request_timeout_ms) {
        isc_throw(ConfigError, "'connect-timeout-ms' (" << cfg.connect_timeout_ms
                  << ") must not exceed 'request-timeout-ms' (" << cfg.request_timeout_ms << ")");
    }
    return (cfg);
}

}  // namespace remote_options
}  // namespace isc
