// Parameter parsing: defaults, both spellings, and a clear error for every bad value.
#include "hook_config.h"

#include <cc/data.h>
#include <gtest/gtest.h>

using isc::data::Element;
using namespace isc::remote_options;

namespace {

Config parse(const std::string& json) {
    return (parseConfig(Element::fromJSON(json)));
}

std::string errorOf(const std::string& json) {
    try {
        parse(json);
    } catch (const ConfigError& ex) {
        return (ex.what());
    }
    return ("(no error)");
}

TEST(ConfigTest, Defaults) {
    Config c = parse(R"({"url": "http://10.89.0.3:8080/v1/dhcp/options"})");
    EXPECT_EQ("http://10.89.0.3:8080/v1/dhcp/options", c.url);
    EXPECT_TRUE(c.user_class.empty());
    EXPECT_TRUE(c.machine_guid.empty());
    EXPECT_EQ((std::set<uint16_t>{66, 67, 224}), c.allowed_options);
    EXPECT_EQ(FailurePolicy::BootLocal, c.failure_policy);
    EXPECT_TRUE(c.identity_params);
    EXPECT_LE(c.connect_timeout_ms, c.request_timeout_ms);
}

TEST(ConfigTest, HyphenatedNames) {
    Config c = parse(R"({"url": "https://backend.example/x", "user-class": "malina",
        "machine-guid": "RPi4", "connect-timeout-ms": 50, "request-timeout-ms": 300,
        "cache-ttl-ms": 7000, "allowed-options": [66, 224], "failure-policy": "pass-through",
        "max-concurrent-requests": 12, "identity-params": false})");
    EXPECT_EQ("malina", c.user_class);
    EXPECT_EQ("RPi4", c.machine_guid);
    EXPECT_EQ(50, c.connect_timeout_ms);
    EXPECT_EQ(300, c.request_timeout_ms);
    EXPECT_EQ(7000, c.cache_ttl_ms);
    EXPECT_EQ((std::set<uint16_t>{66, 224}), c.allowed_options);
    EXPECT_EQ(FailurePolicy::PassThrough, c.failure_policy);
    EXPECT_EQ(12u, c.max_concurrent_requests);
    EXPECT_FALSE(c.identity_params);
}

TEST(ConfigTest, OriginalSpellings) {
    Config c = parse(R"({"url": "http://h/", "user_class": "malina", "machine_guid": "RPi4",
        "request_timeout_ms": 900})");
    EXPECT_EQ("malina", c.user_class);
    EXPECT_EQ("RPi4", c.machine_guid);
    EXPECT_EQ(900, c.request_timeout_ms);
}

TEST(ConfigTest, MissingUrl) {
    EXPECT_NE(std::string::npos, errorOf(R"({"user-class": "x"})").find("missing required parameter 'url'"));
    EXPECT_THROW(parseConfig(isc::data::ConstElementPtr()), ConfigError);
}

TEST(ConfigTest, BadUrls) {
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "ftp://h/x"})").find("http:// or https://"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "10.89.0.3:8080"})").find("http:// or https://"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": ""})").find("empty"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://h/a b"})").find("space"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://"})").find("host"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://:8080/x"})").find("host"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://h/#frag"})").find("fragment"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": 5})").find("'url' must be a string"));
}

TEST(ConfigTest, BadValues) {
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://h/", "failure-policy": "drop"})")
              .find("failure-policy"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://h/", "allowed-options": [66, 300]})")
              .find("1..254"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://h/", "allowed-options": [53]})")
              .find("owned by the server"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://h/", "allowed-options": "66"})")
              .find("list"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://h/", "request-timeout-ms": 0})")
              .find("request-timeout-ms"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://h/", "request-timeout-ms": "5"})")
              .find("integer"));
    EXPECT_NE(std::string::npos,
              errorOf(R"({"url": "http://h/", "connect-timeout-ms": 900, "request-timeout-ms": 100})")
              .find("must not exceed"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://h/", "identity-params": 1})")
              .find("true or false"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://h/", "max-concurrent-requests": 0})")
              .find("max-concurrent-requests"));
}

TEST(ConfigTest, UnknownAndDuplicateParameters) {
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://h/", "usr-class": "x"})")
              .find("unknown parameter 'usr-class'"));
    EXPECT_NE(std::string::npos, errorOf(R"({"url": "http://h/", "user-class": "a", "user_class": "b"})")
              .find("given twice"));
    EXPECT_NE(std::string::npos, errorOf(R"(["url"])").find("map"));
}

TEST(ConfigTest, DefaultsAreConfigs) {
    // The keyword table's defaults (Kea's setDefaults) and Config's initialisers, which the engine
    // tests build on, must agree field by field.
    Config parsed = parse(R"({"url": "http://h/"})");
    Config plain;
    EXPECT_EQ(plain.user_class, parsed.user_class);
    EXPECT_EQ(plain.machine_guid, parsed.machine_guid);
    EXPECT_EQ(plain.connect_timeout_ms, parsed.connect_timeout_ms);
    EXPECT_EQ(plain.request_timeout_ms, parsed.request_timeout_ms);
    EXPECT_EQ(plain.cache_ttl_ms, parsed.cache_ttl_ms);
    EXPECT_EQ(plain.negative_cache_ttl_ms, parsed.negative_cache_ttl_ms);
    EXPECT_EQ(plain.allowed_options, parsed.allowed_options);
    EXPECT_EQ(plain.failure_policy, parsed.failure_policy);
    EXPECT_EQ(plain.max_concurrent_requests, parsed.max_concurrent_requests);
    EXPECT_EQ(plain.identity_params, parsed.identity_params);
    EXPECT_EQ(plain.max_body_bytes, parsed.max_body_bytes);
    EXPECT_EQ(plain.max_cache_entries, parsed.max_cache_entries);
    EXPECT_EQ(plain.breaker_threshold, parsed.breaker_threshold);
    EXPECT_EQ(plain.breaker_open_ms, parsed.breaker_open_ms);
    EXPECT_EQ(plain.log_interval_ms, parsed.log_interval_ms);
    // The documented values.
    EXPECT_EQ(200, parsed.connect_timeout_ms);
    EXPECT_EQ(500, parsed.request_timeout_ms);
    EXPECT_EQ(5000, parsed.cache_ttl_ms);
    EXPECT_EQ(1000, parsed.negative_cache_ttl_ms);
    EXPECT_EQ(8u, parsed.max_concurrent_requests);
    EXPECT_EQ(65536u, parsed.max_body_bytes);
    EXPECT_EQ(65536u, parsed.max_cache_entries);
    EXPECT_EQ(3u, parsed.breaker_threshold);
    EXPECT_EQ(2000, parsed.breaker_open_ms);
    EXPECT_EQ(10000, parsed.log_interval_ms);
}

TEST(ConfigTest, EveryParameterTakesItsValue) {
    Config c = parse(R"({"url": "http://h/", "negative-cache-ttl-ms": 0, "max-body-bytes": 16,
        "max-cache-entries": 0, "breaker-threshold": 1000000, "breaker-open-ms": 3600000,
        "log-interval-ms": 0, "allowed-options": []})");
    EXPECT_EQ(0, c.negative_cache_ttl_ms);
    EXPECT_EQ(16u, c.max_body_bytes);
    EXPECT_EQ(0u, c.max_cache_entries);
    EXPECT_EQ(1000000u, c.breaker_threshold);
    EXPECT_EQ(3600000, c.breaker_open_ms);
    EXPECT_EQ(0, c.log_interval_ms);
    EXPECT_TRUE(c.allowed_options.empty());
}

TEST(ConfigTest, RangeBoundsOfEveryInteger) {
    const struct {
        const char* name;
        int64_t lo;
        int64_t hi;
    } ranges[] = {
        {"connect-timeout-ms", 1, 60000}, {"request-timeout-ms", 1, 60000},
        {"cache-ttl-ms", 0, 3600000}, {"negative-cache-ttl-ms", 0, 3600000},
        {"max-concurrent-requests", 1, 1024}, {"max-body-bytes", 16, 1048576},
        {"max-cache-entries", 0, 10000000}, {"breaker-threshold", 1, 1000000},
        {"breaker-open-ms", 0, 3600000}, {"log-interval-ms", 0, 3600000},
    };
    for (const auto& r : ranges) {
        // The request timeout is set to its maximum so the connect timeout never exceeds it.
        std::string head = std::string(R"({"url": "http://h/", "request-timeout-ms": 60000, ")") + r.name + "\": ";
        if (std::string(r.name) == "request-timeout-ms") {
            head = std::string(R"({"url": "http://h/", "connect-timeout-ms": 1, ")") + r.name + "\": ";
        }
        EXPECT_EQ("(no error)", errorOf(head + std::to_string(r.lo) + "}")) << r.name;
        EXPECT_EQ("(no error)", errorOf(head + std::to_string(r.hi) + "}")) << r.name;
        EXPECT_EQ(std::string("'") + r.name + "' must be in " + std::to_string(r.lo) + ".." + std::to_string(r.hi)
                  + ", got " + std::to_string(r.lo - 1), errorOf(head + std::to_string(r.lo - 1) + "}"));
        EXPECT_EQ(std::string("'") + r.name + "' must be in " + std::to_string(r.lo) + ".." + std::to_string(r.hi)
                  + ", got " + std::to_string(r.hi + 1), errorOf(head + std::to_string(r.hi + 1) + "}"));
    }
}

TEST(ConfigTest, UnknownKeywordNamedAsSpelled) {
    EXPECT_EQ("unknown parameter 'usr_class'", errorOf(R"({"url": "http://h/", "usr_class": "x"})"));
    EXPECT_EQ("unknown parameter 'retries'", errorOf(R"({"url": "http://h/", "retries": 3})"));
    // Reported before a missing url: the name is the likelier mistake.
    EXPECT_EQ("unknown parameter 'ulr'", errorOf(R"({"ulr": "http://h/"})"));
}

TEST(ConfigTest, WrongTypeSaysWhatTheParameterAccepts) {
    EXPECT_EQ("'user-class' must be a string", errorOf(R"({"url": "http://h/", "user-class": 77})"));
    EXPECT_EQ("'machine-guid' must be a string", errorOf(R"({"url": "http://h/", "machine_guid": ["RPi4"]})"));
    EXPECT_EQ("'cache-ttl-ms' must be an integer", errorOf(R"({"url": "http://h/", "cache-ttl-ms": 1.5})"));
    EXPECT_EQ("'breaker-threshold' must be an integer", errorOf(R"({"url": "http://h/", "breaker-threshold": true})"));
    EXPECT_EQ("'identity-params' must be true or false", errorOf(R"({"url": "http://h/", "identity-params": "yes"})"));
    EXPECT_EQ("'failure-policy' must be a string", errorOf(R"({"url": "http://h/", "failure-policy": null})"));
    EXPECT_EQ("'allowed-options' must be a list of option codes",
              errorOf(R"({"url": "http://h/", "allowed-options": {"66": 1}})"));
    EXPECT_EQ("'allowed-options' must be an integer", errorOf(R"({"url": "http://h/", "allowed-options": ["66"]})"));
}

}  // namespace
