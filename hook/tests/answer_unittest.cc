// Backend answer → options: encoding by option definition and every kind of bad answer.
#include "answer.h"
#include "test_util.h"

#include <dhcp/option_string.h>
#include <gtest/gtest.h>

using namespace isc::remote_options;
using isc::dhcp::OptionPtr;

namespace {

const std::set<uint16_t> ALLOWED{66, 67, 224};

std::string text(const OptionPtr& opt) {
    isc::dhcp::OptionBuffer data = opt->toBinary(false);
    return (std::string(data.begin(), data.end()));
}

/// The option with the given code (the answer's order follows Kea's map, not the document).
OptionPtr byCode(const ParsedAnswer& a, uint16_t code) {
    for (const OptionPtr& opt : a.options) {
        if (opt->getType() == code) {
            return (opt);
        }
    }
    ADD_FAILURE() << "option " << code << " missing";
    return (OptionPtr(new isc::dhcp::Option(isc::dhcp::Option::V4, code)));
}

TEST(AnswerTest, InstallAnswer) {
    test::RuntimeDefs defs;
    ParsedAnswer a = parseAnswer(R"({"66": "10.89.0.4", "224": "http://10.89.0.3:8080/v1/install/abc"})",
                                 ALLOWED);
    ASSERT_EQ(AnswerError::None, a.error) << a.detail;
    ASSERT_EQ(2u, a.options.size());
    EXPECT_EQ("10.89.0.4", text(byCode(a, 66)));
    EXPECT_EQ("http://10.89.0.3:8080/v1/install/abc", text(byCode(a, 224)));
    // 66 is a string option by Kea's definition, not an address; 224 by the runtime option-def.
    EXPECT_TRUE(boost::dynamic_pointer_cast<isc::dhcp::OptionString>(byCode(a, 66)));
    EXPECT_TRUE(boost::dynamic_pointer_cast<isc::dhcp::OptionString>(byCode(a, 224)));
}

TEST(AnswerTest, Ipv4TypedCodeFromDottedQuad) {
    // 28 (broadcast-address): one IPv4 address; 6 (domain-name-servers): an IPv4 array.
    ParsedAnswer a = parseAnswer(R"({"28": "10.90.1.255", "6": "10.89.0.4, 10.89.0.5"})",
                                 std::set<uint16_t>{6, 28});
    ASSERT_EQ(AnswerError::None, a.error) << a.detail;
    ASSERT_EQ(2u, a.options.size());
    EXPECT_EQ((isc::dhcp::OptionBuffer{10, 89, 0, 4, 10, 89, 0, 5}), byCode(a, 6)->toBinary(false));
    EXPECT_EQ((isc::dhcp::OptionBuffer{10, 90, 1, 255}), byCode(a, 28)->toBinary(false));
    ParsedAnswer bad = parseAnswer(R"({"28": "not-an-address"})", std::set<uint16_t>{28});
    EXPECT_EQ(AnswerError::BadValue, bad.error);
    EXPECT_EQ(28, bad.bad_code);
    EXPECT_EQ(AnswerError::BadValue, parseAnswer(R"({"28": "10.0.0.300"})", std::set<uint16_t>{28}).error);
}

TEST(AnswerTest, CodeWithoutDefinitionCarriesBytes) {
    ParsedAnswer a = parseAnswer(R"({"224": "abc"})", ALLOWED);   // no runtime def here
    ASSERT_EQ(AnswerError::None, a.error) << a.detail;
    EXPECT_EQ("abc", text(a.options[0]));
}

TEST(AnswerTest, LocalAnswer) {
    ParsedAnswer a = parseAnswer(R"({"66": "0.0.0.0"})", ALLOWED);
    ASSERT_EQ(AnswerError::None, a.error);
    ASSERT_EQ(1u, a.options.size());
    EXPECT_EQ("0.0.0.0", text(a.options[0]));
}

TEST(AnswerTest, NotAllowedIsIgnored) {
    ParsedAnswer a = parseAnswer(R"({"66": "0.0.0.0", "6": "1.1.1.1"})", ALLOWED);
    ASSERT_EQ(AnswerError::None, a.error);
    EXPECT_EQ(1u, a.options.size());
    EXPECT_EQ((std::vector<uint16_t>{6}), a.not_allowed);
}

TEST(AnswerTest, BadDocuments) {
    EXPECT_EQ(AnswerError::BadJson, parseAnswer("not json", ALLOWED).error);
    EXPECT_EQ(AnswerError::BadJson, parseAnswer("", ALLOWED).error);
    EXPECT_EQ(AnswerError::BadJson, parseAnswer(R"({"66": "x")", ALLOWED).error);
    EXPECT_EQ(AnswerError::BadJson, parseAnswer(R"(["66", "x"])", ALLOWED).error);
    EXPECT_EQ(AnswerError::BadJson, parseAnswer(R"("66")", ALLOWED).error);
    EXPECT_EQ(AnswerError::BadJson, parseAnswer("null", ALLOWED).error);
    EXPECT_EQ(AnswerError::BadJson, parseAnswer("<html>502</html>", ALLOWED).error);
}

TEST(AnswerTest, KeysOutsideRange) {
    for (const char* key : {"0", "255", "256", "-1", "066", "+66", " 66", "66 ", "tftp", "", "1e2"}) {
        std::string body = std::string("{\"") + key + "\": \"x\"}";
        ParsedAnswer a = parseAnswer(body, ALLOWED);
        EXPECT_EQ(AnswerError::BadJson, a.error) << key;
        EXPECT_TRUE(a.options.empty()) << key;
    }
}

TEST(AnswerTest, WrongValueTypes) {
    for (const char* value : {"66", "1.5", "true", "null", "[\"a\"]", "{\"a\": 1}"}) {
        std::string body = std::string("{\"224\": \"ok\", \"66\": ") + value + "}";
        ParsedAnswer a = parseAnswer(body, ALLOWED);
        EXPECT_EQ(AnswerError::BadValue, a.error) << value;
        EXPECT_EQ(66, a.bad_code) << value;
        EXPECT_TRUE(a.options.empty()) << value;   // the whole answer is rejected
    }
    EXPECT_EQ(AnswerError::BadValue, parseAnswer(R"({"66": ""})", ALLOWED).error);
    EXPECT_EQ(AnswerError::BadValue, parseAnswer("{\"66\": \"" + std::string(300, 'a') + "\"}", ALLOWED).error);
}

TEST(AnswerTest, DeepNestingRejectedBeforeParsing) {
    std::string deep = std::string(100000, '[') + std::string(100000, ']');
    ParsedAnswer a = parseAnswer(deep, ALLOWED);
    EXPECT_EQ(AnswerError::BadJson, a.error);
    EXPECT_NE(std::string::npos, a.detail.find("nested"));
    EXPECT_FALSE(jsonTooDeep(R"({"66": "[[[[[[[[[[[[[[[[[[[[[["})", 4));   // brackets inside strings
    EXPECT_TRUE(jsonTooDeep("[[[[[", 4));
}

TEST(AnswerTest, EmptyObjectSetsNothing) {
    ParsedAnswer a = parseAnswer("{}", ALLOWED);
    EXPECT_EQ(AnswerError::None, a.error);
    EXPECT_TRUE(a.options.empty());
}

}  // namespace
