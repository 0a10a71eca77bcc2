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

}  // namespace
