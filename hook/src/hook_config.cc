#include "hook_config.h"

#include <cc/dhcp_config_error.h>
#include <cc/simple_parser.h>

#include <curl/curl.h>

#include <algorithm>
#include <cctype>
#include <map>
#include <sstream>

using isc::data::ConstElementPtr;
using isc::data::Element;
using isc::data::ElementPtr;
using isc::data::SimpleDefaults;
using isc::data::SimpleKeywords;
using isc::data::SimpleParser;

namespace isc {
namespace remote_options {

namespace {

// Every parameter and the JSON type it takes: Kea's keyword table, checked by checkKeywords after the
// underscore spellings have been mapped to these names.
const SimpleKeywords KEYWORDS = {
    {"url", Element::string},
    {"user-class", Element::string},
    {"machine-guid", Element::string},
    {"connect-timeout-ms", Element::integer},
    {"request-timeout-ms", Element::integer},
    {"cache-ttl-ms", Element::integer},
    {"negative-cache-ttl-ms", Element::integer},
    {"allowed-options", Element::list},
    {"failure-policy", Element::string},
    {"max-concurrent-requests", Element::integer},
    {"identity-params", Element::boolean},
    {"max-body-bytes", Element::integer},
    {"max-cache-entries", Element::integer},
    {"breaker-threshold", Element::integer},
    {"breaker-open-ms", Element::integer},
    {"log-interval-ms", Element::integer},
    {"auth-secret-file", Element::string},
    {"tls-ca-file", Element::string},
    {"tls-cert-file", Element::string},
    {"tls-key-file", Element::string},
};

// Defaults of the scalar parameters, inserted by Kea's setDefaults (which takes strings, integers and
// booleans; the allowed-options list keeps Config's default). They equal Config's member
// initialisers, which the engine tests build on (ConfigTest.DefaultsAreConfigs checks both agree).
const SimpleDefaults DEFAULTS = {
    {"user-class", Element::string, ""},
    {"machine-guid", Element::string, ""},
    {"connect-timeout-ms", Element::integer, "200"},
    {"request-timeout-ms", Element::integer, "500"},
    {"cache-ttl-ms", Element::integer, "5000"},
    {"negative-cache-ttl-ms", Element::integer, "1000"},
    {"failure-policy", Element::string, "boot-local"},
    {"max-concurrent-requests", Element::integer, "8"},
    {"identity-params", Element::boolean, "true"},
    {"max-body-bytes", Element::integer, "65536"},
    {"max-cache-entries", Element::integer, "65536"},
    {"breaker-threshold", Element::integer, "3"},
    {"breaker-open-ms", Element::integer, "2000"},
    {"log-interval-ms", Element::integer, "10000"},
};

// Option codes the server itself owns; the backend must never replace them.
const std::set<int64_t> RESERVED = {0, 51, 53, 54, 82, 255};

std::string canonical(const std::string& name) {
    std::string out(name);
    std::replace(out.begin(), out.end(), '_', '-');
    return (out);
}

/// What a value of a keyword's type looks like, for the load error.
const char* accepts(Element::types type) {
    switch (type) {
    case Element::integer:
        return ("an integer");
    case Element::boolean:
        return ("true or false");
    case Element::list:
        return ("a list of option codes");   // allowed-options, the only list
    default:
        return ("a string");
    }
}

/// The parameters under their hyphenated names (a copy: defaults are added to it). `spelled` maps each
/// name back to the user's spelling, for the error about an unknown one.
ElementPtr canonicalScope(const ConstElementPtr& params, std::map<std::string, std::string>& spelled) {
    ElementPtr scope = Element::createMap();
    for (const auto& item : params->mapValue()) {
        std::string name = canonical(item.first);
        if (scope->contains(name)) {
            isc_throw(ConfigError, "parameter '" << name << "' given twice (hyphen and underscore spelling)");
        }
        scope->set(name, item.second);
        spelled[name] = item.first;
    }
    return (scope);
}

/// Kea's check of names and types. Its error is given in the hook's words, which name the parameter as
/// spelled and say what it accepts ("'identity-params' must be true or false").
void checkKeywords(const ConstElementPtr& scope, const std::map<std::string, std::string>& spelled) {
    try {
        SimpleParser::checkKeywords(KEYWORDS, scope);
    } catch (const isc::dhcp::DhcpConfigError&) {
        for (const auto& item : scope->mapValue()) {
            auto keyword = KEYWORDS.find(item.first);
            if (keyword == KEYWORDS.end()) {
                isc_throw(ConfigError, "unknown parameter '" << spelled.at(item.first) << "'");
            }
            if (item.second->getType() != keyword->second) {
                isc_throw(ConfigError, "'" << item.first << "' must be " << accepts(keyword->second));
            }
        }
        throw;
    }
}

int64_t getInteger(const ConstElementPtr& scope, const std::string& name, int64_t lo, int64_t hi) {
    int64_t v = SimpleParser::getInteger(scope, name);
    if (v < lo || v > hi) {
        isc_throw(ConfigError, "'" << name << "' must be in " << lo << ".." << hi << ", got " << v);
    }
    return (v);
}

FailurePolicy policyOf(const std::string& name) {
    if (name == "boot-local") {
        return (FailurePolicy::BootLocal);
    }
    if (name == "pass-through") {
        return (FailurePolicy::PassThrough);
    }
    isc_throw(ConfigError, "'failure-policy' must be \"boot-local\" or \"pass-through\", got \"" << name << "\"");
}

std::set<uint16_t> allowedOptions(const ConstElementPtr& list) {
    std::set<uint16_t> codes;
    for (const auto& code : list->listValue()) {
        if (code->getType() != Element::integer) {
            isc_throw(ConfigError, "'allowed-options' must be an integer");
        }
        int64_t c = code->intValue();
        if (c < 1 || c > 254) {
            isc_throw(ConfigError, "'allowed-options' must be in 1..254, got " << c);
        }
        if (RESERVED.count(c)) {
            isc_throw(ConfigError, "'allowed-options' must not contain " << c << " (owned by the server)");
        }
        codes.insert(static_cast<uint16_t>(c));
    }
    return (codes);
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
    if (!params) {
        isc_throw(ConfigError, "missing parameters: 'url' is required");
    }
    if (params->getType() != Element::map) {
        isc_throw(ConfigError, "parameters must be a map");
    }
    std::map<std::string, std::string> spelled;
    ElementPtr scope = canonicalScope(params, spelled);
    checkKeywords(scope, spelled);
    if (!scope->contains("url")) {
        isc_throw(ConfigError, "missing required parameter 'url'");
    }
    SimpleParser::setDefaults(scope, DEFAULTS);

    Config cfg;
    cfg.url = SimpleParser::getString(scope, "url");
    validateUrl(cfg.url);
    cfg.auth = parseAuth(scope, cfg.url);
    cfg.user_class = SimpleParser::getString(scope, "user-class");
    cfg.machine_guid = SimpleParser::getString(scope, "machine-guid");
    cfg.connect_timeout_ms = getInteger(scope, "connect-timeout-ms", 1, 60000);
    cfg.request_timeout_ms = getInteger(scope, "request-timeout-ms", 1, 60000);
    cfg.cache_ttl_ms = getInteger(scope, "cache-ttl-ms", 0, 3600000);
    cfg.negative_cache_ttl_ms = getInteger(scope, "negative-cache-ttl-ms", 0, 3600000);
    if (scope->contains("allowed-options")) {
        cfg.allowed_options = allowedOptions(scope->get("allowed-options"));
    }
    cfg.failure_policy = policyOf(SimpleParser::getString(scope, "failure-policy"));
    cfg.max_concurrent_requests = static_cast<unsigned>(getInteger(scope, "max-concurrent-requests", 1, 1024));
    cfg.identity_params = SimpleParser::getBoolean(scope, "identity-params");
    cfg.max_body_bytes = static_cast<size_t>(getInteger(scope, "max-body-bytes", 16, 1048576));
    cfg.max_cache_entries = static_cast<size_t>(getInteger(scope, "max-cache-entries", 0, 10000000));
    cfg.breaker_threshold = static_cast<unsigned>(getInteger(scope, "breaker-threshold", 1, 1000000));
    cfg.breaker_open_ms = getInteger(scope, "breaker-open-ms", 0, 3600000);
    cfg.log_interval_ms = getInteger(scope, "log-interval-ms", 0, 3600000);
    if (cfg.connect_timeout_ms > cfg.request_timeout_ms) {
        isc_throw(ConfigError, "'connect-timeout-ms' (" << cfg.connect_timeout_ms
                  << ") must not exceed 'request-timeout-ms' (" << cfg.request_timeout_ms << ")");
    }
    return (cfg);
}

}  // namespace remote_options
}  // namespace isc
